"""A full disk during an ingest and when opening a store, on every engine.

The user must get one line (which store, how much space it needed or had, what to do), exit
code 2, and an index that the next run, with space freed, completes exactly (no duplicates,
nothing lost). Where this machine lets a test mount a tmpfs of its own (an unprivileged user
namespace), a real ``diffsearch ingest`` runs out of a real small file system. Everywhere, each
engine's own disk-full failure is also injected at the engine boundary: SQLite's
``database or disk is full`` in qdrant-client's local mode, a server's HTTP 500 "No space left
on device" through qdrant-client, and for Qdrant Edge (which cannot report ENOSPC: it dies of
SIGBUS, search.engines.space) the free space its check reads.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

import search.engines.space as space
from ingest import ingest_folder
from search.engines.errors import translate
from search.engines.qdrant import QdrantEngine
from search.errors import DiskFullError
from search.store import Store, open_store
from tests.ingest.ingest_helpers import ROOT, assert_same_points, snapshot, write_folder
from ui.cli import main

SMALL = {"chunk_tokens": 64, "overlap": 8}
ARGS = ["--index", "k", "-e", "minilm", "--chunk-tokens", "64", "--overlap", "8", "--workers", "0"]
# What a Qdrant server answers when its disk is full (lib/collection shard_ops.rs).
SERVER_FULL = (b'{"status":{"error":"Service internal error: No space left on device: WAL buffer '
               b'size exceeds available disk space"},"time":0.0003}')  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A folder of real files and the points of a clean run over it (minilm)."""
    from encoders import load_encoder

    root = write_folder(tmp_path_factory.mktemp("full") / "docs")
    with open_store(path=tmp_path_factory.mktemp("clean")) as clean:
        ingest_folder(
            root, index="k", encoders=[load_encoder("minilm")], store=clean, workers=0, **SMALL
        )
        return root, snapshot(clean, "k")


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("ingesting ")]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err
    assert lines[0].startswith("diffsearch ingest: error: the "), lines[0]
    assert "ran out of disk space" in lines[0] and "run the same command again" in lines[0]
    return lines[0]


def _rerun_is_exact(store: Store, root: Path, clean) -> None:
    r = ingest_folder(root, index="k", encoders=["minilm"], store=store, workers=0, **SMALL)
    assert r.failed == 0
    assert all(m["state"] == "complete" for m in store.manifest("k").values())
    assert_same_points(clean, snapshot(store, "k"))


# -- injected at the engine boundary (every machine) ---------------------------------------------


@pytest.mark.parametrize("after", [2, 5])
def test_edge_stops_before_the_disk_is_full_and_the_rerun_completes(
    tmp_path, case, capsys, monkeypatch, after
):
    root, clean = case
    real, calls = space.free_bytes, [0]

    def free_bytes(path):  # the disk fills up after ``after`` checks
        calls[0] += 1
        return real(path) if calls[0] <= after else 3 * 2**20

    monkeypatch.setattr(space, "free_bytes", free_bytes)
    path = tmp_path / "store"
    assert main(["ingest", str(root), "--store", str(path), *ARGS]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"embedded store at {path}" in line and "3.0 MB free" in line and "needs about" in line
    monkeypatch.setattr(space, "free_bytes", real)  # space freed
    with open_store(path=path) as store:
        assert store.engine_name == "edge"
        _rerun_is_exact(store, root, clean)


def test_opening_an_edge_store_on_a_full_disk_is_one_line(tmp_path, case, capsys, monkeypatch):
    root, _ = case
    path = tmp_path / "store"
    assert main(["ingest", str(root), "--store", str(path), *ARGS]) == 0
    capsys.readouterr()
    # A fresh process loads each shard, which fills in its sparse vector chunk (32 MB here).
    sparse = space.sparse_bytes(path / "edge")
    assert sparse > space.RESERVE
    monkeypatch.setattr(space, "free_bytes", lambda p: sparse // 2)
    assert (
        main(["search", "mean pooling", "--index", "k", "-e", "minilm", "--store", str(path)]) == 2
    )
    line = capsys.readouterr().err.strip()
    assert (
        line.startswith("diffsearch search: error: the embedded store at")
        and "opening ds__k__" in line
    )


@pytest.mark.parametrize("after", [3, 17])
def test_local_mode_disk_full_from_sqlite_and_the_rerun_completes(
    tmp_path, case, capsys, monkeypatch, after
):
    from qdrant_client.local import persistence

    root, clean = case
    path = tmp_path / "store"
    QdrantClient(path=str(path)).close()  # a store written before Edge: local mode
    real, count = persistence.CollectionPersistence.persist, [0]

    def persist(self, point):  # what SQLite raises when a page cannot be written
        count[0] += 1
        if count[0] > after:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, point)

    monkeypatch.setattr(persistence.CollectionPersistence, "persist", persist)
    assert main(["ingest", str(root), "--store", str(path), *ARGS]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"embedded store at {path}" in line and "MB free" in line
    monkeypatch.setattr(persistence.CollectionPersistence, "persist", real)
    with open_store(path=path) as store:
        assert store.engine_name == "qdrant-local"
        _rerun_is_exact(store, root, clean)


def test_server_disk_full_is_one_line_and_the_rerun_completes(tmp_path, case, monkeypatch):
    """The server path (no local transaction) with the HTTP error qdrant-client raises; the
    collections live in a local-mode client here, as no server runs on this machine."""
    root, clean = case
    client = QdrantClient(path=str(tmp_path / "server"))
    engine = QdrantEngine(client, "Qdrant server at http://localhost:6333", local=False)
    real, count = client.batch_update_points, [0]

    def batch_update_points(*a, **kw):
        count[0] += 1
        if count[0] > 4:
            raise UnexpectedResponse(500, "Internal Server Error", SERVER_FULL, httpx.Headers())
        return real(*a, **kw)

    monkeypatch.setattr(client, "batch_update_points", batch_update_points)
    store = Store(engine)
    with pytest.raises(DiskFullError) as got:
        ingest_folder(root, index="k", encoders=["minilm"], store=store, workers=0, **SMALL)
    msg = str(got.value)
    assert "\n" not in msg and msg.startswith("the Qdrant server at http://localhost:6333 ran out")
    assert (
        "WAL buffer size exceeds available disk space" in msg and "server's storage volume" in msg
    )
    monkeypatch.setattr(client, "batch_update_points", real)
    try:
        _rerun_is_exact(store, root, clean)
    finally:
        store.close()


def test_disk_full_errors_of_each_engine_are_recognised(tmp_path):
    where = f"embedded store at {tmp_path}"
    for exc in (sqlite3.OperationalError("database or disk is full"), OSError(28, "No space left on device"),
                Exception("Service runtime error: No space left on device (os error 28)")):  # fmt: skip
        assert isinstance(translate(exc, where, "writing"), DiskFullError)
    server = UnexpectedResponse(500, "Internal Server Error", SERVER_FULL, httpx.Headers())
    assert isinstance(translate(server, "Qdrant server at http://q:6333", "writing"), DiskFullError)
    assert not isinstance(
        translate(sqlite3.OperationalError("no such table: points"), where, "x"), DiskFullError
    )


def test_a_full_disk_under_a_file_diffsearch_writes_is_one_line(tmp_path, capsys, monkeypatch):
    import ui.commands.store_cmd  # noqa: F401 - any command: its handler raises ENOSPC here

    def full(args):
        raise OSError(28, "No space left on device", str(tmp_path / "report.md"))

    parser_func = {"func": full}
    monkeypatch.setattr("ui.cli.build_parser", lambda: _Parser(parser_func))
    assert main(["eval"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"diffsearch eval: error: no space left on the disk while writing {tmp_path}"
    )
    assert "MB free there" in err and "\n" not in err


class _Parser:
    def __init__(self, attrs):
        self.attrs = attrs

    def parse_args(self, argv):
        import argparse

        return argparse.Namespace(command=argv[0], **self.attrs)


# -- a real small file system (where this machine allows one) ------------------------------------


def _can_mount_tmpfs() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare(1)"
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, text=True)  # fmt: skip
    return None if probe.returncode == 0 else f"cannot mount a tmpfs here: {probe.stderr.strip()}"


# Inside a private mount namespace: a tmpfs of size $1 at $2, ingest (the exit code and stderr
# are kept), the same tmpfs grown to 400 MB (space freed), the points written so far, ingest
# again, then every point, written out as JSON next to the mount point (outside the tmpfs,
# which ends with the namespace).
SCRIPT = textwrap.dedent("""
    set -u
    mount -t tmpfs -o size=$1 tmpfs "$2"
    "$PY" -m ui.cli ingest "$ROOTDIR" --store "$2/store" $ARGS 2> "$2.err1"; echo $? > "$2.rc1"
    mount -o remount,size=400m "$2"
    "$PY" -c "$DUMP_POINTS" "$2/store" "$2.partial.json"
    "$PY" -m ui.cli ingest "$ROOTDIR" --store "$2/store" $ARGS 2> "$2.err2"; echo $? > "$2.rc2"
    "$PY" -c "$DUMP_POINTS" "$2/store" "$2.json"
""")
DUMP = textwrap.dedent("""
    import json, sys
    from search.store import open_store
    from tests.ingest.ingest_helpers import snapshot
    with open_store(path=sys.argv[1]) as s:
        points = snapshot(s, "k") if s.index_record("k") else {}
    json.dump({c: {i: [h, v.tolist()] for i, (h, v) in ps.items()} for c, ps in points.items()},
              open(sys.argv[2], "w"))
""")


@pytest.mark.slow  # ~30 s each on a quiet machine, minutes under load
@pytest.mark.parametrize(("engine", "size"), [("edge", "14m"), ("qdrant-local", "120k")])
def test_a_real_full_tmpfs_gives_one_line_and_the_rerun_completes(tmp_path, case, engine, size):
    reason = _can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    root, clean = case
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, PY=sys.executable, ROOTDIR=str(root), ARGS=" ".join(ARGS), DUMP_POINTS=DUMP,
               PYTHONPATH=str(ROOT))  # fmt: skip
    if engine == "qdrant-local":  # a store written before Edge, on the small disk from the start
        script = SCRIPT.replace('"$PY" -m ui.cli ingest "$ROOTDIR" --store "$2/store" $ARGS 2> "$2.err1"',
                                '"$PY" -c "from qdrant_client import QdrantClient; QdrantClient(path=\'$2/store\').close()"\n'
                                '"$PY" -m ui.cli ingest "$ROOTDIR" --store "$2/store" $ARGS 2> "$2.err1"', 1)  # fmt: skip
    else:
        script = SCRIPT
    proc = subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", size, str(mnt)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    err1 = Path(f"{mnt}.err1").read_text()
    assert Path(f"{mnt}.rc1").read_text().strip() == "2", err1[-3000:]
    line = _one_error_line(err1)
    assert "MB free" in line
    partial = json.loads(Path(f"{mnt}.partial.json").read_text())
    assert sum(map(len, partial.values())) < sum(map(len, clean.values()))  # stopped part way
    assert Path(f"{mnt}.rc2").read_text().strip() == "0", Path(f"{mnt}.err2").read_text()[-3000:]
    done = json.loads(Path(f"{mnt}.json").read_text())
    assert_same_points(
        clean, {c: {i: (h, np.asarray(v)) for i, (h, v) in ps.items()} for c, ps in done.items()}
    )
