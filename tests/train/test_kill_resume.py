"""A ``diffsearch train`` process killed with SIGKILL resumes, on rerun, to the weights of an
uninterrupted run (slow: three CLI processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train.conftest import TOPICS, adapter_tensors, write_pairs


def _cmd(model: Path, pairs: Path, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "train", str(model), "--pairs", str(pairs),
            "--out", str(out), "--epochs", "4", "--batch-size", "4", "--checkpoint-every", "3",
            "--negatives-cache", str(cache), "--quiet"]  # fmt: skip


@pytest.mark.slow
def test_sigkill_then_rerun_reaches_the_uninterrupted_weights(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    pairs = write_pairs(tmp_path / "pairs.jsonl", TOPICS, per_topic=4)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cache = tmp_path / "neg"
    subprocess.run(_cmd(tiny_bert_dir, pairs, tmp_path / "a", cache), check=True, env=env)
    proc = subprocess.Popen(_cmd(tiny_bert_dir, pairs, tmp_path / "b", cache), env=env)
    latest = tmp_path / "b" / "checkpoints" / "latest"
    deadline = time.monotonic() + 120
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(_cmd(tiny_bert_dir, pairs, tmp_path / "b", cache), check=True, env=env)
    want, got = adapter_tensors(tmp_path / "a"), adapter_tensors(tmp_path / "b")
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
