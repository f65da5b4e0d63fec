"""Tests of ingest.workers: parsing in worker processes equals parsing in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.workers import ParsePool, parse_job

FORMATS = ["docx", "epub", "html", "md", "odt", "pptx", "rtf", "txt"]


@pytest.fixture(scope="module")
def files(mixed_docs: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One real file per format (the same text in eight formats), a PDF, and small csv/json/eml."""
    made = tmp_path_factory.mktemp("formats")
    (made / "t.csv").write_text("name,role\nDream,diffusion encoder\nQwen,causal encoder\n")
    (made / "t.json").write_text(json.dumps({"title": "Notes", "body": "Bidirectional attention."}))
    (made / "t.eml").write_text(
        "From: a@example.org\nTo: b@example.org\nSubject: Retrieval results\n\n"
        "The diffusion encoder found the long report first.\n"
    )
    langs = mixed_docs / "language-docs"
    return [langs / f"eng_spa_mult.{f}" for f in FORMATS] + [
        mixed_docs / "pdf" / "fake-memo.pdf",
        *sorted(made.iterdir()),
    ]


def test_workers_parse_like_the_calling_process(files: list[Path]) -> None:
    """Differential: every format parsed by a worker equals the in-process parse, in full."""
    items = [(i, str(p), p.name, None) for i, p in enumerate(files)]
    pool = ParsePool(workers=1)
    try:
        remote = dict(pool.outcomes(items))
        assert pool._pool is None  # workers let go once the last file is parsed
        # Workers keep torch out: spaCy's thinc (imported by the parsers) finds no torch there.
        probe = "__import__('sys').modules.get('torch', 'absent'), __import__('thinc.compat').compat.has_torch"
        torch_entry, thinc_has_torch = pool._executor().submit(eval, probe).result()
    finally:
        pool.close()
    assert len(remote) == len(files)
    for i, path in enumerate(files):
        local = parse_job(str(path), path.name, None)
        assert remote[i].status == local.status == "parsed", (path.name, remote[i].value)
        assert remote[i].sha256 == local.sha256
        assert remote[i].value == local.value, path.name
    assert torch_entry is None and thinc_has_torch is False
