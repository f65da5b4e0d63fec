"""``diffsearch store migrate``: a qdrant-client local-mode store copied into Edge, verified."""

from __future__ import annotations

import json

import numpy as np
import pytest

import search.migrate
from search.connect import detect_engine
from search.errors import StoreError
from search.migrate import migrate_store
from search.store import open_store
from tests.search.test_store import INFO, _doc, _unit
from ui.cli import main


def _old_store(path):
    """A store as diffsearch wrote it before Edge: two indexes in qdrant-client's local mode."""
    with open_store(path=path, engine="qdrant-local") as s:
        rng = np.random.default_rng(3)
        for index, n in (("one", 12), ("two", 3)):
            s.ensure_index(index, {"mode": "tokens", "chunk_tokens": 64, "overlap": 8})
            s.add_encoder(index, INFO)
            s.add_encoder(index, {**INFO, "name": "enc-b"})
            docs = [_doc(f"d{i}.md", _unit(rng, 1 + i % 4)) for i in range(n)]
            s.write_documents(index, docs)
            s.write_documents(
                index, [_doc(d.doc_id, _unit(rng, len(d.chunks)), enc="enc-b") for d in docs]
            )
        s.write_documents("one", [_doc("d0.md", _unit(rng, 1))])  # a replaced document too
    assert detect_engine(path) == "qdrant-local"


def _everything(store) -> dict[str, list[tuple[str, dict, list[float]]]]:
    return {
        name: sorted(
            ((p.id, p.payload, p.vector) for p in store.engine.scroll(name, with_vectors=True)),
            key=lambda t: t[0],
        )
        for name in store.engine.collections()
    }


def test_migrate_copies_points_vectors_payloads_and_manifests(tmp_path, capsys):
    path = tmp_path / "store"
    _old_store(path)
    with open_store(path=path) as old:
        before = _everything(old)
        q = np.asarray(before["ds__one__enc-a"][5][2], dtype=np.float32)
        old_hits = [(h.id, h.score) for h in old.query("one", "enc-a", q, 5)]
        old_docs = old.documents("one")
    assert main(["store", "migrate", "--store", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == sum(len(v) for v in before.values()) and not report["removed_old"]
    assert set(report["collections"]) == set(before) and report["max_vector_diff"] <= 1e-6
    assert detect_engine(path) == "edge"
    assert (path / "meta.json").is_file() and (path / "collection").is_dir()  # the old copy stays
    with open_store(path=path) as new:
        assert new.engine_name == "edge"
        after = _everything(new)
        assert sorted(after) == sorted(before)
        for name in before:
            assert [(i, p) for i, p, _ in after[name]] == [(i, p) for i, p, _ in before[name]], name
            assert np.allclose(
                [v for *_, v in after[name]], [v for *_, v in before[name]], atol=1e-6
            )
        assert new.documents("one") == old_docs
        got = [(h.id, h.score) for h in new.query("one", "enc-a", q, 5, exact=True)]
        assert [i for i, _ in got] == [i for i, _ in old_hits]
        assert [s for _, s in got] == pytest.approx([s for _, s in old_hits], abs=1e-5)
    # the old store is still intact and readable as it was
    with open_store(path=path, engine="qdrant-local") as old:
        assert _everything(old) == before
    assert main(["store", "migrate", "--store", str(path)]) == 2
    assert "already migrated" in capsys.readouterr().err


def test_migrate_remove_old_and_nothing_to_migrate(tmp_path, capsys):
    path = tmp_path / "store"
    _old_store(path)
    report = migrate_store(path, remove_old=True)
    assert (
        report.removed_old
        and not (path / "meta.json").exists()
        and not (path / "collection").exists()
    )
    with open_store(path=path) as s:
        assert s.engine_name == "edge" and s.index_info("two").chunks == 1 + 2 + 3
    with pytest.raises(StoreError, match="already an Edge store"):
        migrate_store(path)
    with pytest.raises(StoreError, match="no store written by qdrant-client's local mode"):
        migrate_store(tmp_path / "empty")


def test_a_failed_migration_leaves_the_old_store_in_use(tmp_path, monkeypatch):
    path = tmp_path / "store"
    _old_store(path)

    def broken(source, target, name):
        raise StoreError(f"migration check failed: {name} (simulated)")

    monkeypatch.setattr(search.migrate, "_verify", broken)
    with pytest.raises(StoreError, match="simulated"):
        migrate_store(path)
    assert detect_engine(path) == "qdrant-local" and (path / "edge.partial").is_dir()
    monkeypatch.undo()
    migrate_store(path)  # run again: the partial copy is thrown away and rebuilt
    assert detect_engine(path) == "edge" and not (path / "edge.partial").exists()
    with open_store(path=path) as s:
        assert s.index_info("one").documents == 12
