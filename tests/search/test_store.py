"""The store on its real embedded engines (Qdrant Edge, qdrant-client local mode): layout,
queries, errors, atomic writes, locks, the record cache, HNSW on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ingest.write import DocumentWrite, IndexWriter
from search.connect import detect_engine
from search.errors import (
    EncoderNotInIndexError,
    IndexMismatchError,
    IndexNotFoundError,
    QueryError,
    StoreError,
    StoreLockedError,
    StoreUnreachableError,
)
from search.store import (
    Store,
    Where,
    collection_name,
    default_store_dir,
    meta_name,
    open_store,
    point_id,
)
from search.vectorstore import VectorStore

ROOT = Path(__file__).resolve().parents[2]
DIM = 8
INFO = {"name": "enc-a", "family": "encoder", "model_id": "m", "revision": "r", "dim": DIM,
        "attention": "bidirectional", "pooling": "mean", "max_tokens": 64, "long_policy": "truncate"}  # fmt: skip


def _unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _doc(
    doc_id: str,
    vecs: np.ndarray,
    filetype: str = "md",
    pages: list[int] | None = None,
    enc: str = "enc-a",
):
    n = len(vecs)
    chunks = tuple(
        {"doc_id": doc_id, "source": doc_id, "filetype": filetype, "title": f"T {doc_id}",
         "page": (pages[i] if pages else None), "section": "S", "chunk": i, "n_chunks": n,
         "text": f"{doc_id} chunk {i}", "start_char": 10 * i}
        for i in range(n)
    )  # fmt: skip
    manifest = {"state": "complete", "source": doc_id, "filetype": filetype, "title": f"T {doc_id}",
                "n_chunks": n, "size": 100, "mtime_ns": 5, "sha256": "ab" * 32, "encoders": [enc]}  # fmt: skip
    return DocumentWrite(doc_id, manifest, chunks, {enc: vecs}, True)


EMBEDDED = ("edge", "qdrant-local")


@pytest.fixture(params=EMBEDDED)
def store(request, tmp_path):
    s = open_store(path=tmp_path / "store", engine=request.param)
    yield s
    s.close()


@pytest.fixture
def filled(store):
    """Index ``idx``: three documents (a.md 3 chunks, b.pdf 2 chunks on pages 1-2, c.txt 1)."""
    rng = np.random.default_rng(0)
    store.ensure_index(
        "idx", {"mode": "tokens", "chunk_tokens": 64, "overlap": 8, "tokenizer": "enc-a"}
    )
    store.add_encoder("idx", INFO)
    vecs = {"a.md": _unit(rng, 3), "b.pdf": _unit(rng, 2), "c.txt": _unit(rng, 1)}
    store.write_documents("idx", [
        _doc("a.md", vecs["a.md"]), _doc("b.pdf", vecs["b.pdf"], "pdf", [1, 2]), _doc("c.txt", vecs["c.txt"], "txt"),
    ])  # fmt: skip
    return store, vecs


def test_store_satisfies_the_ingest_writer_protocol(store):
    assert isinstance(store, IndexWriter) and isinstance(store, VectorStore)
    assert store.location.startswith("embedded store at ")


def test_layout_one_collection_per_encoder_plus_meta(filled):
    store, _ = filled
    assert store.engine.collections() == ["ds__idx__enc-a", "ds__idx__meta"]
    assert collection_name("idx", "enc-a") == "ds__idx__enc-a"
    assert meta_name("idx") == "ds__idx__meta"
    got = store.engine.retrieve("ds__idx__enc-a", [point_id("idx", "a.md", 2)])
    assert got[0].payload["chunk"] == 2 and got[0].payload["doc_id"] == "a.md"
    assert point_id("idx", "a.md", 2) == point_id("idx", "a.md", 2) != point_id("other", "a.md", 2)


def test_encoder_names_are_sanitized_into_distinct_collections():
    odd = [collection_name("i", n) for n in ("/models/my model", "meta", "a__b", "a_b", "a-b")]
    assert len(set(odd)) == len(odd)
    assert all(c.startswith("ds__i__") and c.count("__") == 2 for c in odd)
    assert "ds__i__meta" not in odd


def test_index_info_documents_and_chunks(filled):
    store, _ = filled
    info = store.index_info("idx")
    assert (info.name, info.documents, info.chunks) == ("idx", 3, 6)
    assert info.encoders == {"enc-a": INFO}
    assert info.chunking["mode"] == "tokens" and info.location == store.location
    assert info.engine == store.engine_name
    assert [i.name for i in store.list_indexes()] == ["idx"]
    docs = store.documents("idx")
    assert [d.doc_id for d in docs] == ["a.md", "b.pdf", "c.txt"]
    assert docs[1].filetype == "pdf" and docs[1].n_chunks == 2 and docs[1].sha256 == "ab" * 32
    chunks = store.document_chunks("idx", "a.md")
    assert [h.chunk for h in chunks] == [0, 1, 2] and all(h.score == 0.0 for h in chunks)
    assert chunks[0].title == "T a.md" and chunks[0].n_chunks == 3
    assert store.document_chunks("idx", "missing") == []


def test_query_group_by_doc_gives_best_chunk_per_document(filled):
    store, vecs = filled
    q = vecs["a.md"][1]
    hits = store.query("idx", "enc-a", q, k=3)
    assert len(hits) == 3 and len({h.doc_id for h in hits}) == 3
    assert (
        hits[0].doc_id == "a.md"
        and hits[0].chunk == 1
        and hits[0].score == pytest.approx(1.0, abs=1e-5)
    )
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    chunk_hits = store.query("idx", "enc-a", q.reshape(1, -1), k=10, group_by_doc=False)
    assert len(chunk_hits) == 6
    assert store.query("idx", "enc-a", q, k=1)[0].payload["text"] == "a.md chunk 1"


def test_query_filters_are_pushed_down(filled):
    store, vecs = filled
    q = vecs["a.md"][0]
    assert {
        h.doc_id for h in store.query("idx", "enc-a", q, 5, where=Where(filetypes=("pdf",)))
    } == {"b.pdf"}
    assert {h.doc_id for h in store.query("idx", "enc-a", q, 5, where=Where(doc_ids=("c.txt", "a.md")))} == {
        "a.md", "c.txt"}  # fmt: skip
    paged = store.query(
        "idx", "enc-a", q, 5, group_by_doc=False, where=Where(page_min=2, page_max=2)
    )
    assert [(h.doc_id, h.page) for h in paged] == [("b.pdf", 2)]
    with pytest.raises(QueryError):
        store.query("idx", "enc-a", q, 5, where=Where(page_min=3, page_max=1))


def test_query_errors_say_what_exists_and_what_to_do(filled):
    store, vecs = filled
    with pytest.raises(IndexNotFoundError, match=r"no index 'nope'.*indexes: idx"):
        store.query("nope", "enc-a", vecs["a.md"][0], 3)
    with pytest.raises(
        EncoderNotInIndexError, match=r"it has: enc-a.*diffsearch ingest DIR --index idx -e enc-b"
    ):
        store.query("idx", "enc-b", vecs["a.md"][0], 3)
    with pytest.raises(IndexMismatchError, match=r"5 dimensions.*8-dimensional"):
        store.query("idx", "enc-a", np.ones(5, dtype=np.float32), 3)
    with pytest.raises(QueryError):
        store.query("idx", "enc-a", vecs["a.md"][0], 0)
    with pytest.raises(QueryError, match="invalid index name"):
        store.index_info("bad/name")


def test_writing_another_size_or_encoder_is_refused(filled):
    store, _ = filled
    wrong = _doc("d.md", _unit(np.random.default_rng(1), 2, dim=DIM + 1))
    with pytest.raises(IndexMismatchError, match="8-dimensional"):
        store.write_documents("idx", [wrong])
    with pytest.raises(IndexMismatchError, match="dim: index has 8, encoder has 16"):
        store.add_encoder("idx", {**INFO, "dim": 16})
    with pytest.raises(IndexMismatchError, match="attention"):
        store.add_encoder("idx", {**INFO, "attention": "causal"})
    with pytest.raises(EncoderNotInIndexError):
        store.write_documents(
            "idx", [_doc("d.md", _unit(np.random.default_rng(1), 2), enc="enc-z")]
        )
    assert store.index_info("idx").documents == 3  # nothing half-written


def test_replacing_a_document_with_fewer_chunks_drops_the_stale_ones(filled):
    store, _ = filled
    store.write_documents("idx", [_doc("a.md", _unit(np.random.default_rng(2), 1))])
    assert [h.chunk for h in store.document_chunks("idx", "a.md")] == [0]
    assert store.chunk_count("idx", "enc-a") == 4
    assert store.manifest("idx")["a.md"]["n_chunks"] == 1


def test_delete_documents_and_drop_index(filled):
    store, _ = filled
    store.delete_documents("idx", ["a.md", "c.txt"])
    assert [d.doc_id for d in store.documents("idx")] == ["b.pdf"]
    assert store.chunk_count("idx", "enc-a") == 2
    store.drop_index("idx")
    assert store.list_indexes() == []
    assert not [c for c in store.engine.collections() if c.startswith("ds__idx__")]
    with pytest.raises(IndexNotFoundError):
        store.drop_index("idx")


def test_stored_chunks_come_back_in_order(filled):
    store, _ = filled
    got = store.stored_chunks("idx", "enc-a", ["a.md", "b.pdf"])
    assert [c["chunk"] for c in got["a.md"]] == [0, 1, 2] and len(got["b.pdf"]) == 2


@pytest.mark.parametrize("engine", EMBEDDED)
def test_store_persists_across_reopen_and_is_detected(tmp_path, engine):
    path = tmp_path / "s"
    with open_store(path=path, engine=engine) as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", INFO)
        s.write_documents("idx", [_doc("a.md", _unit(np.random.default_rng(3), 2))])
    assert detect_engine(path) == engine
    with open_store(path=path) as s:  # no engine named: the folder says which
        assert s.engine_name == engine and s.index_info("idx").chunks == 2


def test_a_new_folder_becomes_an_edge_store(tmp_path):
    assert detect_engine(tmp_path / "new") == "edge"
    with open_store(path=tmp_path / "new") as s:
        assert s.engine_name == "edge"
    assert (tmp_path / "new" / "edge" / "store.json").is_file()
    with pytest.raises(StoreError, match="unknown engine"):
        open_store(path=tmp_path / "x", engine="sqlite")


def test_open_store_resolves_flags_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFSEARCH_QDRANT_URL", raising=False)
    monkeypatch.setenv("DIFFSEARCH_STORE", str(tmp_path / "from-env"))
    with open_store() as s:
        assert s.location == f"embedded store at {tmp_path / 'from-env'}"
    monkeypatch.delenv("DIFFSEARCH_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_dir() == tmp_path / "xdg" / "diffsearch" / "store"
    with open_store() as s:
        assert s.location.endswith(str(tmp_path / "xdg" / "diffsearch" / "store"))
    with pytest.raises(StoreError, match="not both"):
        open_store(path=tmp_path, url="http://localhost:6333")


def test_unreachable_server_says_where_it_looked(monkeypatch):
    monkeypatch.setenv("DIFFSEARCH_QDRANT_URL", "http://127.0.0.1:9")
    with pytest.raises(
        StoreUnreachableError,
        match=r"http://127.0.0.1:9 \(from DIFFSEARCH_QDRANT_URL\).*docker compose",
    ):
        open_store()


def _hold_lock(path: Path, engine: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time
        from search.store import open_store
        s = open_store(path={str(path)!r}, engine={engine!r})
        print("ready", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture(params=EMBEDDED)
def locked_store(request, tmp_path):
    """An embedded store folder held open by another process."""
    path = tmp_path / "held"
    proc = _hold_lock(path, request.param)
    yield path
    proc.communicate("", timeout=30)


def test_locked_store_names_the_ways_out(locked_store):
    with pytest.raises(StoreLockedError) as err:
        open_store(path=locked_store)
    msg = str(err.value)
    assert str(locked_store) in msg and "in use by another process" in msg
    assert "stop that process" in msg and "Ingest tab" in msg and "--qdrant-url" in msg


def test_one_write_call_reaches_disk_all_or_nothing_in_local_mode(tmp_path):
    """SIGKILL between two points of one upsert leaves none of that call's points on disk."""
    path = tmp_path / "s"
    with open_store(path=path, engine="qdrant-local") as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", INFO)
        s.write_documents("idx", [_doc("first.md", _unit(np.random.default_rng(4), 2))])
    code = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from qdrant_client.local import persistence
        from search.store import open_store
        from tests.search.test_store import _doc, _unit
        s = open_store(path={str(path)!r})
        real, n = persistence.CollectionPersistence.persist, [0]
        def persist(self, point):
            real(self, point)
            n[0] += 1
            if n[0] == 5:  # pending manifest (1) + 4 of the 6 chunk points
                os.kill(os.getpid(), signal.SIGKILL)
        persistence.CollectionPersistence.persist = persist
        s.write_documents("idx", [_doc("second.md", _unit(np.random.default_rng(5), 6))])
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr
    with open_store(path=path) as s:
        assert s.engine_name == "qdrant-local"
        assert s.manifest("idx")["second.md"]["state"] == "pending"  # the next ingest redoes it
        assert [h.doc_id for h in s.document_chunks("idx", "second.md")] == []
        assert s.chunk_count("idx", "enc-a") == 2


def test_local_mode_writes_are_batched_into_one_transaction(tmp_path):
    """500 points in one call reach SQLite in one commit (the library alone commits per point)."""
    store = open_store(path=tmp_path / "s", engine="qdrant-local")
    store.ensure_index("idx", {"mode": "whole"})
    store.add_encoder("idx", INFO)
    docs = [_doc(f"d{i}.md", _unit(np.random.default_rng(i), 10)) for i in range(50)]
    conn = store.engine.client._client.collections["ds__idx__enc-a"].storage.storage
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        store.write_documents("idx", docs)
    finally:
        conn.set_trace_callback(None)
    assert store.chunk_count("idx", "enc-a") == 500
    store.close()
    writes = [q for q in statements if q.lstrip().upper().startswith(("INSERT", "REPLACE"))]
    commits = [q for q in statements if q.strip().upper() == "COMMIT"]
    assert len(writes) >= 500 and len(commits) == 1, (len(writes), commits)


@pytest.mark.skipif(
    not os.environ.get("DIFFSEARCH_TEST_QDRANT_URL"),
    reason="set DIFFSEARCH_TEST_QDRANT_URL to test a server",
)
def test_same_code_path_on_a_server():  # pragma: no cover - needs a Qdrant server
    s = open_store(url=os.environ["DIFFSEARCH_TEST_QDRANT_URL"])
    assert isinstance(s, Store) and s.location.startswith("Qdrant server at ")
    assert s.engine_name == "server"
    name = f"t{os.getpid()}"
    s.ensure_index(name, {"mode": "whole"})
    s.add_encoder(name, INFO)
    vecs = _unit(np.random.default_rng(6), 3)
    s.write_documents(name, [_doc("a.md", vecs), _doc("b.pdf", vecs[:1] * 0.5 + vecs[1:2], "pdf")])
    assert s.index_info(name).chunks == 4
    hits = s.query(name, "enc-a", vecs[2], k=2)
    assert (hits[0].doc_id, hits[0].chunk) == ("a.md", 2) and len(hits) == 2
    assert {
        h.doc_id for h in s.query(name, "enc-a", vecs[2], 5, where=Where(filetypes=("pdf",)))
    } == {"b.pdf"}
    assert s.index_info(name).engine == "server"
    s.drop_index(name)


def test_filter_fields_get_payload_indexes_quietly(tmp_path, monkeypatch):
    """The fields --where filters on are indexed (used by a server); local mode stays quiet."""
    import warnings

    calls = []
    store = open_store(path=tmp_path / "s", engine="qdrant-local")
    real = store.engine.client.create_payload_index

    def spy(collection, field, **kw):
        calls.append((collection, field, kw["field_schema"]))
        return real(collection, field, **kw)

    monkeypatch.setattr(store.engine.client, "create_payload_index", spy)
    store.ensure_index("idx", {"mode": "whole"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.add_encoder("idx", INFO)
    assert {(c, f) for c, f, _ in calls} == {
        ("ds__idx__enc-a", "doc_id"), ("ds__idx__enc-a", "filetype"), ("ds__idx__enc-a", "page")}  # fmt: skip
    assert dict((f, s) for _, f, s in calls)["page"] == "integer"
    store.close()
