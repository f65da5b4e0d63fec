"""A real index of examples/docs (MiniLM + its causal ablation), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"


@pytest.fixture(scope="session")
def demo_store_path(tmp_path_factory, minilm, minilm_causal) -> Path:
    """Folder of an embedded store holding index ``demo``; closed, so tests can reopen it."""
    from ingest.pipeline import ingest_folder
    from search.store import open_store

    path = tmp_path_factory.mktemp("demo-store")
    store = open_store(path=path)
    try:
        report = ingest_folder(
            EXAMPLES,
            index="demo",
            encoders=[minilm, minilm_causal],
            store=store,
            chunking="tokens",
            chunk_tokens=128,
            overlap=16,
            progress=False,
        )
        assert report.as_dict()["failed"] == 0, report.as_dict()["failures"]
    finally:
        store.close()
    return path


@pytest.fixture
def service(demo_store_path):
    """A search service over the demo store (the embedded lock is released afterwards)."""
    from search.service import SearchService
    from search.store import open_store

    store = open_store(path=demo_store_path)
    try:
        yield SearchService(store)
    finally:
        store.close()
