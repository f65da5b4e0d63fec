"""Ingest and eval on a real local Ray cluster (2 CPUs) against the in-process pipeline.

One cluster is started in this process for the module (Ray's start-up costs seconds); the
killed-run test starts its own, in the CLI process it kills. Differential: ``--ray`` must
write exactly what a plain run writes (same point ids and payloads, vectors within 1e-5, the
same manifest), also when an encoder replica's process dies during the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ingest.pipeline
from ingest import ingest_folder
from ingest.distributed import RayEmbedder, RayParser, ray_embedder, ray_session
from search.store import open_store
from tests.ingest.ingest_helpers import assert_same_points, snapshot, write_folder
from tests.ingest.test_pipeline import KILL_DRIVER, ROOT, SMALL
from tests.search.evaluation.conftest import write_beir
from tests.search.evaluation.test_eval_end_to_end import DOCS, QRELS, QUERIES
from ui.cli import main

ENCODERS = ["minilm", "minilm-causal"]


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, capsys):
    # First in the module: before the module's cluster is started in this process.
    docs = write_folder(tmp_path / "docs")
    argv = ["ingest", str(docs), "--index", "k", "-e", "minilm", "--store", str(tmp_path / "s"),
            "--ray", "127.0.0.1:1"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "diffsearch ingest: error: cannot reach a Ray cluster at '127.0.0.1:1'"
    )
    assert not any("Traceback" in line for line in err)
    with open_store(path=tmp_path / "s") as s:
        assert s.list_indexes() == []  # nothing written


@pytest.fixture(scope="module")
def cluster():
    with ray_session("local") as ray:
        yield ray


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A folder, and the points and manifest of a plain in-process run over it (small batches:
    several calls per encoder, so the replicas share the work)."""
    root = write_folder(tmp_path_factory.mktemp("ray") / "docs")
    with pytest.MonkeyPatch.context() as mp, open_store(path=tmp_path_factory.mktemp("plain")) as s:
        mp.setattr(ingest.pipeline, "BATCH_CHUNKS", 6)
        ingest_folder(root, index="k", encoders=ENCODERS, store=s, workers=0, **SMALL)
        return root, snapshot(s, "k"), s.manifest("k")


def _ray_run(root, path, factory, monkeypatch, **kw):
    monkeypatch.setattr(ingest.pipeline, "BATCH_CHUNKS", 6)
    with open_store(path=path) as s:
        report = ingest_folder(root, index="k", encoders=ENCODERS, store=s, embedder=factory,
                               parser=RayParser(), **SMALL, **kw)  # fmt: skip
        return report, snapshot(s, "k"), s.manifest("k")


def test_ray_ingest_writes_what_a_plain_ingest_writes(cluster, case, tmp_path, monkeypatch):
    root, points, manifest = case
    report, got, got_manifest = _ray_run(root, tmp_path / "s", ray_embedder(1), monkeypatch)
    assert report.failed == 0 and report.new == len(manifest)
    assert_same_points(points, got, atol=1e-5)
    assert got_manifest == manifest
    replicas = report.as_dict()["replicas"]
    # 2 CPUs, 1 per replica: two replicas, both given work; every chunk embedded once per encoder
    assert sorted(w.split("@")[0] for w in replicas) == ["replica-0", "replica-1"]
    assert all(r["calls"] > 0 and r["chunks_per_s"] > 0 for r in replicas.values())
    assert sum(r["chunks"] for r in replicas.values()) == 2 * report.chunks


def test_late_chunking_on_ray_writes_what_a_plain_late_ingest_writes(
    cluster, case, tmp_path, monkeypatch
):
    """``SpanCall`` s (whole documents and their chunks' spans) go through the replicas too."""
    root = case[0]
    with pytest.MonkeyPatch.context() as mp, open_store(path=tmp_path / "plain") as s:
        mp.setattr(ingest.pipeline, "BATCH_CHUNKS", 6)
        ingest_folder(root, index="k", encoders=ENCODERS, store=s, workers=0, chunking="late",
                      **SMALL)  # fmt: skip
        points, manifest = snapshot(s, "k"), s.manifest("k")
    report, got, got_manifest = _ray_run(
        root, tmp_path / "s", ray_embedder(1), monkeypatch, chunking="late"
    )
    assert report.failed == 0
    assert_same_points(points, got, atol=1e-5)
    assert got_manifest == manifest
    # Same points as a plain chunk index, other vectors: the calls really were span calls.
    plain = case[1]
    assert {n: sorted(c) for n, c in plain.items()} == {n: sorted(c) for n, c in got.items()}
    assert any(
        not np.allclose(plain[n][pid][1], got[n][pid][1], atol=1e-3) for n in got for pid in got[n]
    )


@pytest.mark.slow
def test_a_replica_that_dies_mid_run_is_restarted_and_its_calls_retried(
    cluster, case, tmp_path, monkeypatch
):
    root, points, manifest = case
    made: list[RayEmbedder] = []
    killed: list[int] = []

    def factory(specs, loaded):
        made.append(RayEmbedder(specs, cpus_per_replica=1))
        return made[-1]

    def on_progress(stage, done, total):
        if stage == "embed" and done > 0 and not killed:  # calls are queued on both replicas
            killed.append(made[0].pids()[0])
            os.kill(killed[0], signal.SIGKILL)

    report, got, got_manifest = _ray_run(
        root, tmp_path / "s", factory, monkeypatch, progress=on_progress
    )
    assert killed and made[0].pids()[0] != killed[0], "the replica was not restarted"
    assert report.failed == 0
    assert_same_points(points, got, atol=1e-5)
    assert got_manifest == manifest


def test_eval_beir_on_ray_scores_like_a_plain_eval(cluster, tmp_path, capsys):
    tiny = write_beir(tmp_path / "tiny", DOCS, QUERIES, QRELS)
    means = {}
    for mode in ("plain", "ray"):
        out = tmp_path / mode
        argv = ["eval", "--beir", str(tiny), "-e", "minilm", "--store", str(tmp_path / f"st-{mode}"),
                "--out", str(out), "--resamples", "100", "--quiet"]  # fmt: skip
        assert main(argv + (["--ray", "local"] if mode == "ray" else [])) == 0
        means[mode] = json.loads((out / "tiny.json").read_text())["encoders"]["minilm"]["means"]
    capsys.readouterr()
    assert means["ray"] == means["plain"] and means["ray"]["mrr@10"] == 1.0


def _killed_ray_run(root, store, n: int) -> int:
    """``diffsearch ingest --ray local`` SIGKILLed after its n-th engine write call; the whole
    session it started (its Ray cluster's processes too) is stopped after it."""
    args = ["ingest", str(root), "--index", "k", *(a for e in ENCODERS for a in ("-e", e)),
            "--store", str(store), "--chunk-tokens", "64", "--overlap", "8", "--json", "--ray", "local"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", KILL_DRIVER, "calls", "edge", str(n), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):  # its cluster, in the session it started
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (0, -9), err[-2000:]
    return proc.returncode


@pytest.mark.slow
def test_a_killed_ray_ingest_resumes_like_a_local_one(cluster, case, tmp_path, monkeypatch):
    root, points, manifest = case
    path = tmp_path / "killed"
    assert _killed_ray_run(root, path, 7) == -9, "the run ended before the kill point"
    with open_store(path=path) as s:
        assert snapshot(s, "k") != points  # stopped part way
    report, got, got_manifest = _ray_run(root, path, ray_embedder(), monkeypatch)
    assert report.failed == 0
    assert_same_points(points, got, atol=1e-5)
    assert got_manifest == manifest
