"""Ctrl-C (SIGINT) and SIGTERM during a real ``diffsearch ingest``: one line, then a re-run repairs.

The SIGKILL tests (test_pipeline.py) show that a run killed anywhere is completed exactly by the
next one. These deliver the two signals a user or a service manager sends, from outside, to a
real ``diffsearch ingest`` process that has parse workers, at a moment when it is running a
forward pass or is part way through the store's write order. The run must stop with the one-line message
(exit 130 / 143, no traceback, no resource-tracker warning) and the re-run must end with exactly
the points of a clean run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from search.store import open_store
from tests.ingest.test_pipeline import (
    ROOT,
    SMALL,
    assert_same_points,
    kill_case,  # noqa: F401 - the shared clean-run fixture
    snapshot,
)

# Runs the real CLI on the default engine (Qdrant Edge). At the n-th forward pass ("embed") or
# after the n-th engine write call of the store's write order ("write": pending manifests,
# chunk points per encoder, complete manifests), it says so in a file and waits there for the
# signal. SIGUSR1 dumps its threads' stacks (faulthandler): the test asks for them when the run
# has not exited long after the signal, so a hang names the place it hangs in.
DRIVER = textwrap.dedent("""
    import faulthandler, json, multiprocessing, signal, sys, time
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A terminal's Ctrl-C: a shell starts background jobs with SIGINT ignored, and Python keeps
    # an ignored SIGINT ignored, so a suite run in the background would test nothing but that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import ingest.pipeline
    moment, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ingest.pipeline.BATCH_CHUNKS = 6  # several embed-and-write rounds in a small folder
    count = [0]
    def arrived():
        count[0] += 1
        if count[0] != n:
            return
        workers = len(multiprocessing.active_children())  # the parse pool's processes
        with open(ready + ".tmp", "w") as fh:
            json.dump({"moment": moment, "workers": workers}, fh)
        import os
        os.replace(ready + ".tmp", ready)
        time.sleep(__WAIT__)  # the signal arrives here
    if moment == "embed":  # inside encode_documents, after the n-th forward pass
        from encoders.model import TransformerEncoder
        real = TransformerEncoder._forward
        def _forward(self, batch):
            out = real(self, batch)
            arrived()
            return out
        TransformerEncoder._forward = _forward
    else:  # inside the store's write order, after the n-th engine write call returned
        from search.engines.edge import EdgeEngine
        from search.engines.qdrant import QdrantEngine
        for cls in (EdgeEngine, QdrantEngine):
            def write(self, *a, _real=cls.write, **kw):
                _real(self, *a, **kw)
                arrived()
            cls.write = write
    from ui.cli import main
    sys.exit(main(sys.argv[4:]))
""")

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
# Seconds the run waits at the moment, and the most a test waits for it to exit once signalled.
# The run waits longer than the test does, so an ignored signal cannot pass for a slow exit:
# the test fails with the run's stacks, which then show it still waiting at the moment. (A
# run here exited 2-3 s after Ctrl-C at load 5-7; the margin is for a loaded CI.)
WAIT_AT_MOMENT = 900
EXIT_WITHIN = 300


def _interrupted_run(
    root: Path, store: Path, sig: signal.Signals, moment: str, n: int, group: bool
) -> tuple[int, str, dict[str, object]]:
    """Run the CLI under DRIVER, deliver ``sig`` at the moment; (exit code, stderr, moment info).

    ``group``: to the whole process group, parse workers included, as a terminal's Ctrl-C and a
    service manager's stop do; otherwise to the main process only (``kill PID``).
    """
    ready = store.parent / f"{store.name}.ready"
    args = ["ingest", str(root), "--index", "k", "-e", "minilm", "-e", "minilm-causal", "--store", str(store),
            "--chunk-tokens", "64", "--overlap", "8", "--workers", "1"]  # fmt: skip
    driver = DRIVER.replace("__WAIT__", str(WAIT_AT_MOMENT))
    proc = subprocess.Popen([sys.executable, "-c", driver, moment, str(n), str(ready), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(
                    f"the run ended (exit {proc.returncode}) before the moment: {err[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the run never reached the moment")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # its stacks, to stderr
            time.sleep(2)
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the run had not exited {EXIT_WITHIN} s after {sig.name}:\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err, info


def _interrupt_and_rerun(tmp_path, kill_case, sig, moment, n, group) -> None:  # noqa: F811
    root, clean = kill_case
    path = tmp_path / "store"
    code, err, info = _interrupted_run(root, path, sig, moment, n, group)
    assert info["workers"] >= 1, "the parse workers were already gone: the signal missed them"
    lines = err.strip().splitlines()
    assert code == EXIT[sig], err[-2000:]
    # One line after the start line: no traceback, no warning from the workers or from
    # multiprocessing's resource tracker (which outlives the main process by a moment).
    assert lines[-1] == "interrupted", err[-2000:]
    assert len(lines) == 2 and lines[0].startswith("ingesting "), err[-2000:]
    with open_store(path=path) as store:
        partial = _payloads(snapshot(store, "k"))
        assert partial != _payloads(clean)  # stopped part way (perhaps before any write)
        r = _rerun(root, store)
        assert r.failed == 0
        assert_same_points(clean, snapshot(store, "k"))


def _payloads(points) -> dict[str, dict[str, str]]:
    return {c: {pid: h for pid, (h, _) in got.items()} for c, got in points.items()}


def _rerun(root: Path, store):
    from ingest import ingest_folder

    return ingest_folder(
        root, index="k", encoders=["minilm", "minilm-causal"], store=store, workers=0, **SMALL
    )


@pytest.mark.parametrize(
    ("sig", "moment", "n", "group"),
    [(signal.SIGINT, "embed", 3, True), (signal.SIGTERM, "write", 5, True)],
    ids=["ctrl-c-while-embedding", "sigterm-inside-a-write-call"],
)
def test_interrupted_ingest_says_so_and_is_completed_by_a_rerun(
    tmp_path,
    kill_case,  # noqa: F811
    sig,
    moment,
    n,
    group,
):
    _interrupt_and_rerun(tmp_path, kill_case, sig, moment, n, group)


@pytest.mark.slow
@pytest.mark.parametrize("group", [True, False], ids=["group", "main-only"])
@pytest.mark.parametrize(("moment", "n"), [("embed", 1), ("embed", 4), ("write", 2), ("write", 9)])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_interrupted_ingest_at_more_moments(tmp_path, kill_case, sig, moment, n, group):  # noqa: F811
    _interrupt_and_rerun(tmp_path, kill_case, sig, moment, n, group)
