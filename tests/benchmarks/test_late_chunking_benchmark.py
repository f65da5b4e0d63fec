"""benchmarks/late_chunking.py on a small SciFact subset (slow: four ingests of real MiniLM)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_late_chunking_benchmark_runs_on_a_subset(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "late_chunking.py"), "--datasets", "scifact",
         "--sizes", "64", "--docs", "150", "--queries", "30", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(r["encoder"], r["chunk_tokens"]) for r in rows] == [
        ("minilm", 64),
        ("minilm-causal", 64),
    ]
    for r in rows:
        assert r["queries"] == 30 and r["docs"] == 150 and r["chunks"] > 150
        assert 0.0 < r["tokens"] <= 1.0 and 0.0 < r["late"] <= 1.0
        assert abs(r["delta"] - (r["late"] - r["tokens"])) < 1e-9
        assert r["ci"][0] <= r["delta"] <= r["ci"][1] and 0.0 <= r["p_bootstrap"] <= 1.0
        assert r["ingest_tokens_s"] > 0 and r["ingest_late_s"] > 0
    # Late chunking changes the vectors, so at least one encoder's ranking moves.
    assert any(r["late"] != r["tokens"] for r in rows)
    assert "minilm-causal" in done.stdout
