"""Qdrant Edge specifics: one WAL entry per write call, one process per store, HNSW on demand,
and the record cache that makes a warm query a single engine call."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from search.engines.base import SCAN_MIN_FLOATS
from search.engines.errors import engine_errors
from search.errors import IndexNotFoundError, StoreLockedError
from search.store import HNSW_MIN_FLOATS, Store, open_store
from tests.search.test_store import INFO, _doc, _unit

ROOT = Path(__file__).resolve().parents[2]


def _filled(path: Path) -> Store:
    s = open_store(path=path)
    s.ensure_index("idx", {"mode": "whole"})
    s.add_encoder("idx", INFO)
    s.write_documents("idx", [_doc("a.md", _unit(np.random.default_rng(0), 3))])
    return s


def test_sigkill_during_one_edge_write_call_leaves_all_or_nothing(tmp_path):
    """20,000 points in one call, killed at several moments: never part of them on disk.

    Python cannot stop inside the Rust call, so the kill comes from outside at a few delays;
    whichever moment it hits, the reopened shard holds the points before the call, or all.
    """
    path = tmp_path / "s"
    _filled(path).close()
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from search.store import open_store
        s = open_store(path={str(path)!r})
        n = 20000
        ids = [f"00000000-0000-4000-8000-{{i:012d}}" for i in range(n)]
        vecs = np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32)
        payloads = [{{"doc_id": f"d{{i}}", "chunk": 0, "text": "x" * 100}} for i in range(n)]
        print("go", flush=True)
        s.engine.write("ds__idx__enc-a", ids, vecs, payloads)
        print("done", flush=True)
        sys.stdin.read()
    """)
    seen = set()
    for delay in (0.0, 0.05, 0.1, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        with open_store(path=path) as s:
            count = s.engine.count("ds__idx__enc-a")
            assert count in (3, 20003), count
            seen.add(count)
            if count == 20003:  # put the shard back for the next round
                gone = [f"00000000-0000-4000-8000-{i:012d}" for i in range(20000)]
                s.engine.write("ds__idx__enc-a", [], None, [], gone)
    assert seen  # at least one round ran


def test_writes_survive_sigkill_once_the_calls_return_without_a_flush(tmp_path):
    """The write order's barrier on Edge is a WAL fsync, not a flush (search.engines.edge): an
    ``update`` is in the kernel's page cache when it returns, so SIGKILL right after a write
    call (no sync, no close) or right after ``write_documents`` loses nothing."""
    path = tmp_path / "s"
    _filled(path).close()
    code = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        import search.engines.edge as edge
        from search.store import open_store
        from tests.search.test_store import _doc, _unit
        edge.CHECKPOINT_S = 1e9  # never a full flush in this process
        s = open_store(path={str(path)!r})
        n = 5000
        ids = [f"00000000-0000-4000-8000-{{i:012d}}" for i in range(n)]
        vecs = np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32)
        s.engine.write("ds__idx__enc-a", ids, vecs, [{{"doc_id": "raw", "chunk": i}} for i in range(n)])
        s.write_documents("idx", [_doc("b.md", _unit(np.random.default_rng(9), 4))])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with open_store(path=path) as s:
        assert s.engine.count("ds__idx__enc-a") == 3 + 5000 + 4
        assert [d.doc_id for d in s.documents("idx")] == ["a.md", "b.md"]
        assert len(s.document_chunks("idx", "b.md")) == 4
        assert {d.doc_id: d.n_chunks for d in s.documents("idx")}["b.md"] == 4  # complete


def test_sync_is_a_wal_fsync_with_a_full_flush_at_checkpoints(tmp_path, monkeypatch):
    import search.engines.edge as edge
    import search.engines.edge_files as edge_files

    with _filled(tmp_path / "s") as s:
        engine = s.engine
        assert isinstance(engine, edge.EdgeEngine)
        wal = tmp_path / "s" / "edge" / "ds__idx__enc-a" / "wal"
        synced: list[str] = []
        real = edge_files._fdatasync
        monkeypatch.setattr(edge_files, "_fdatasync", lambda p: synced.append(p) or real(p))
        engine.sync(["ds__idx__enc-a"])
        names = sorted(Path(p).name for p in synced)
        assert names == sorted(p.name for p in wal.iterdir() if p.is_file()), names
        synced.clear()
        engine.sync(["ds__idx__enc-a"])  # only the segments that can still change, again
        assert synced and all(Path(p).name.startswith("open-") for p in synced)
        synced.clear()
        monkeypatch.setattr(edge, "CHECKPOINT_S", 0.0)  # due: a full flush instead
        engine.sync(["ds__idx__enc-a"])
        assert synced == []


def test_a_second_process_cannot_open_an_edge_store_while_one_writes(tmp_path):
    """Measured for issue 12: Edge holds each shard's WAL with an exclusive lock, so a second
    process can neither read nor write while one has the store open (a shard without a WAL
    opened twice corrupted the writer's next flush). The store refuses at its own lock first,
    with the message that names the ways out, and the holder's data is untouched."""
    path = tmp_path / "s"
    _filled(path).close()
    holder = textwrap.dedent(f"""
        import sys
        import numpy as np
        from search.store import open_store
        from tests.search.test_store import _doc, _unit
        s = open_store(path={str(path)!r})
        s.index_info("idx")  # opens the meta shard
        print("ready", flush=True)
        sys.stdin.readline()
        s.write_documents("idx", [_doc("b.md", _unit(np.random.default_rng(9), 2))])
        print("wrote", flush=True)
        sys.stdin.readline()
        s.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        with pytest.raises(StoreLockedError, match="in use by another process"):
            open_store(path=path)
        # Below our lock, Edge itself refuses the shard (its WAL is locked), and that error is
        # translated into the same message.
        with pytest.raises(StoreLockedError), engine_errors(f"embedded store at {path}", "opening"):
            qe.EdgeShard.load(str(path / "edge" / "ds__idx__meta"))
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "wrote"
        with pytest.raises(StoreLockedError):
            open_store(path=path)
    finally:
        proc.communicate("\n", timeout=60)
    with open_store(path=path) as s:
        assert [d.doc_id for d in s.documents("idx")] == ["a.md", "b.md"]


def test_edge_collections_index_the_filter_fields(tmp_path):
    with _filled(tmp_path / "s") as s:
        shard = s.engine._shard("ds__idx__enc-a")  # type: ignore[attr-defined]
        assert set(shard.info().payload_schema) == {"doc_id", "filetype", "page"}


def test_hnsw_is_built_on_demand_and_only_where_it_pays(tmp_path):
    dim, n = 3584, 700  # 2.5 M floats: above Edge's segment threshold, below ours
    info = {**INFO, "dim": dim}
    with open_store(path=tmp_path / "s") as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", info)
        vecs = _unit(np.random.default_rng(2), n, dim)
        s.write_documents("idx", [_doc(f"d{i}.md", vecs[i : i + 10]) for i in range(0, n, 10)])
        assert n * dim < SCAN_MIN_FLOATS < HNSW_MIN_FLOATS
        (report,) = s.optimize("idx")
        assert not report.built and report.note == "small enough to scan exactly"
        started = []
        (report,) = s.optimize("idx", force=True, on_start=lambda *a: started.append(a))
        assert started == [("idx", "enc-a", n, dim)]
        assert report.built and report.indexed_before == 0 and report.indexed_after == n
        (again,) = s.optimize("idx", force=True)
        assert not again.built and again.indexed_after == n
        hits = s.query("idx", "enc-a", vecs[123], 3, group_by_doc=False)  # through the graph
        assert hits[0].doc_id == "d120.md" and hits[0].chunk == 3


def test_an_ingest_run_builds_the_graphs_that_are_due_once(tmp_path, monkeypatch, capsys):
    """The end of `diffsearch ingest` (and the UI's Ingest tab) builds HNSW where it pays."""
    import search.hnsw
    from ui.commands.ingest_cmd import build_due_graphs

    dim, n = 3584, 700  # over Edge's segment threshold; the policy's size lowered to match
    monkeypatch.setattr(search.hnsw, "HNSW_MIN_FLOATS", n * dim)
    monkeypatch.setattr(search.hnsw, "SCAN_MIN_FLOATS", n * dim)
    monkeypatch.setattr(search.hnsw, "HNSW_MIN_NEW_FLOATS", n * dim // 10)
    with open_store(path=tmp_path / "s") as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", {**INFO, "dim": dim})
        vecs = _unit(np.random.default_rng(2), n, dim)
        s.write_documents("idx", [_doc(f"d{i}.md", vecs[i : i + 10]) for i in range(0, n, 10)])
        (built,) = build_due_graphs(s, "idx", quiet=False)
        assert built["encoder"] == "enc-a" and built["indexed_after"] == n
        assert "building the vector index of idx/enc-a (700 x 3584)" in capsys.readouterr().err
        assert build_due_graphs(s, "idx", quiet=True) == []  # up to date: not rebuilt
        hits = s.query("idx", "enc-a", vecs[123], 3, group_by_doc=False)  # through the graph
        assert hits[0].doc_id == "d120.md" and hits[0].chunk == 3


def test_a_warm_query_is_one_engine_call(tmp_path, monkeypatch):
    with _filled(tmp_path / "s") as s:
        q = _unit(np.random.default_rng(0), 3)[1]
        s.query("idx", "enc-a", q, 2)  # warm
        calls: list[str] = []
        for name in ("retrieve", "scroll", "count", "search", "collections", "exists"):
            real = getattr(s.engine, name)

            def spy(*a, _real=real, _name=name, **kw):
                calls.append(_name)
                return _real(*a, **kw)

            monkeypatch.setattr(s.engine, name, spy)
        hits = s.query("idx", "enc-a", q, 2)
        assert hits[0].chunk == 1 and calls == ["search"]


def test_the_record_cache_follows_writes_here_and_elsewhere(tmp_path):
    with _filled(tmp_path / "s") as s:
        q = _unit(np.random.default_rng(0), 3)[0]
        s.query("idx", "enc-a", q, 1)
        # Another writer on the same engine (as another process on a server would be).
        other = Store(s.engine)
        other.add_encoder("idx", {**INFO, "name": "enc-b"})
        other.write_documents(
            "idx", [_doc("a.md", _unit(np.random.default_rng(0), 3), enc="enc-b")]
        )
        assert s.query("idx", "enc-b", q, 1)[0].doc_id == "a.md"  # a miss re-reads the record
        other.drop_index("idx")
        with pytest.raises(IndexNotFoundError):
            s.query("idx", "enc-a", q, 1)
        # This store's own writes update its cache at once.
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", {**INFO, "dim": 4})
        with pytest.raises(IndexNotFoundError):
            other.query("nope", "enc-a", q, 1)
        assert s.encoder_info("idx", "enc-a")["dim"] == 4
