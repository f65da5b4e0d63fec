"""benchmarks/gpu.py: the --tiny run takes every code path of the GPU run, on the CPU.

The GPU run itself needs a CUDA machine; what can be checked here is that every phase runs on
real (tiny) model folders written with save_pretrained and loaded through load_encoder, that
every option's vectors agree with the plain encoder's, that the results file is complete,
and that a stopped run keeps what it measured.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.gpubench import options, record, shapes

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One --tiny run (both shapes, every phase), its results file and its output."""
    tmp = tmp_path_factory.mktemp("gpu-tiny")
    out = tmp / "results.json"
    proc = _run(
        "--tiny", "--workdir", str(tmp / "models"), "--out", str(out), "--peak-tflops", "0.05"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, tmp / "models"


def test_tiny_run_measures_every_phase_and_option(tiny_run):
    data, stdout, models = tiny_run
    assert data["status"] == "complete" and data["errors"] == [] and data["mode"] == "tiny"
    # Real folders in the on-disk format, reused by every phase.
    for name in ("tiny-qwen3", "tiny-dream"):
        assert (models / name / "model.safetensors").is_file()
        assert (models / name / "tokenizer.json").is_file()
    phases = " | ".join(p["phase"] for p in data["phases"])
    assert "save_pretrained" in phases and "load_encoder(bidirectional, mean)" in phases
    assert "load_encoder(causal, last)" in phases and "sentence-transformers load" in phases
    rows = data["encode"]
    combos = {(r["model"], r["encoder"], r["length"]) for r in rows}
    assert combos == {(m, e, n) for m in ("tiny-qwen3", "tiny-dream")
                      for e in ("bidirectional-mean", "causal-last") for n in (32, 128)}  # fmt: skip
    for model, encoder, length in combos:
        mine = [
            r for r in rows if (r["model"], r["encoder"], r["length"]) == (model, encoder, length)
        ]
        kinds = {r["impl"] + ":" + r["option"].split(" ")[0] for r in mine}
        assert {"diffsearch:default", "diffsearch:batch_tokens=16384", "diffsearch:packed",
                "sentence-transformers:batch_size=32"} <= kinds, kinds  # fmt: skip
    for r in rows:
        assert r["tokens"] > 0 and r["tokens_per_s"] > 0 and 0 <= r["padded_fraction"] < 1
        assert r["mfu"] is not None and r["mfu"] > 0  # against --peak-tflops
        assert r["process_peak_rss_gib"] > 0
        if r["impl"] == "diffsearch" and not r["option"].startswith("default"):
            # float32: every option computes the same vectors as the plain encoder.
            assert r["unchanged"] and r["min_cosine"] >= 0.99999, r
        if r["option"].startswith("packed"):
            assert r["padded_fraction"] == 0.0
    compiled = [r for r in rows if r["option"].startswith("torch.compile")]
    assert {r["length"] for r in compiled} == {32, 128} and all(r["unchanged"] for r in compiled)
    st = [r for r in rows if r["impl"] == "sentence-transformers"]
    assert all(r["same_tokens_as_diffsearch"] for r in st)
    # Last-token pooling is the same computation on both sides: the vectors agree.
    assert all(r["min_cosine"] > 0.9999 for r in st if r["encoder"] == "causal-last")
    # Mean pooling differs by design (EOS attended but not averaged by us): close, not equal.
    assert all(0.9 < r["min_cosine"] < 0.99999 for r in st if r["encoder"] == "bidirectional-mean")
    assert len(data["ratios_vs_sentence_transformers"]) == 8
    # Per-phase progress lines as the run goes.
    assert stdout.count("tokens/s") >= len(rows) and "save_pretrained" in stdout


def test_tiny_run_trains_one_lora_step(tiny_run):
    data, _, _ = tiny_run
    (step,) = data["train"]
    assert step["model"] == "tiny-dream" and "MINIMAL STEP" in step["step"]
    assert step["queries"] == 2 and step["documents"] == 4
    assert max(step["document_tokens"]) == 128 and step["tokens_per_s"] > 0
    assert all(math.isfinite(x) for x in step["losses"])
    assert step["losses"][-1] < step["losses"][0]  # the LoRA weights moved, the loss fell
    # r=16 on q/k/v/o/gate/up/down of 2 layers (hidden 64, 4 heads x 16, 2 KV heads, mlp 128).
    h, q, kv, mlp = 64, 64, 32, 128
    per_layer = sum(
        16 * (i + o) for i, o in [(h, q), (h, kv), (h, kv), (q, h), (h, mlp), (h, mlp), (mlp, h)]
    )
    assert step["lora_parameters"] == 2 * per_layer


def test_without_cuda_the_gpu_run_stops_at_once_with_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    proc = _run("--out", "/nonexistent/never-written.json", timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "--tiny" in lines[0]


def test_sigterm_keeps_what_was_measured(tmp_path):
    out = tmp_path / "partial.json"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--tiny", "--only", "big", "--workdir",
                             str(tmp_path / "m"), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (out.is_file() and json.loads(out.read_text())["encode"]):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    data = json.loads(out.read_text())
    assert data["status"] == "interrupted" and data["finished"] and data["encode"]
    assert "interrupted" in stdout


def test_shape_parameter_counts_match_the_built_models():
    """The MFU numerator counts exactly the projection weights the model has."""
    for shape in (shapes.TINY_DREAM, shapes.TINY_QWEN3):
        from transformers import AutoModel

        model = AutoModel.from_config(shape.config(128))
        linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
        assert shape.matmul_params == linear
        total = sum(p.numel() for p in model.parameters())
        norms = sum(p.numel() for n, p in model.named_parameters() if "norm" in n)
        assert math.isclose(shape.bf16_gib, (total - norms) * 2 / 2**30, rel_tol=1e-9)
    dream = shapes.DREAM_7B
    assert round(dream.matmul_params / 1e9, 2) == 6.53  # Qwen2.5-7B without embeddings
    # Causal attention counts half the score and value products.
    bi, causal = dream.forward_flops([4096], False), dream.forward_flops([4096], True)
    assert bi - causal == pytest.approx(2 * 4096**2 * 28 * 128 * 28)


def test_peak_table_and_chip_names():
    assert shapes.bf16_peak("NVIDIA H200") == 989.0
    assert shapes.bf16_peak("NVIDIA H200 NVL") == 835.0
    assert shapes.bf16_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert shapes.bf16_peak("NVIDIA H100 PCIe") == 756.0
    assert shapes.bf16_peak("NVIDIA A100-SXM4-80GB") == 312.0
    assert shapes.bf16_peak("NVIDIA L4") == 121.0 and shapes.bf16_peak("NVIDIA L40S") == 362.0
    assert shapes.bf16_peak("NVIDIA A10G") is None  # not A10: unknown, no MFU unless given
    assert shapes.chip_key("NVIDIA H200") == "h200"
    assert shapes.chip_key("NVIDIA H100 80GB HBM3") == "h100"


def _reference_varlen(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, is_causal=False):
    """A varlen kernel of an older signature (no enable_gqa, no window_size), in plain SDPA."""
    assert k.shape[1] == q.shape[1], "grouped KV heads must arrive repeated"
    out = torch.empty_like(q)
    b = cu_q.tolist()
    for s, e in itertools.pairwise(b):
        out[s:e] = torch.nn.functional.scaled_dot_product_attention(
            q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1),
            is_causal=is_causal, scale=scale).transpose(0, 1)  # fmt: skip
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_varlen_adapter_matches_the_reference_path(causal):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(11, 4, 8, generator=gen)
    k, v = torch.randn(11, 2, 8, generator=gen), torch.randn(11, 2, 8, generator=gen)
    cu = torch.tensor([0, 3, 11], dtype=torch.int32)
    got = options._call_varlen(_reference_varlen, q, k, v, cu, 8, 0.3, causal)

    class Attn(torch.nn.Module):
        is_causal = causal

    want, _ = options.packed_attention(Attn(), q.transpose(0, 1)[None], k.transpose(0, 1)[None],
                                       v.transpose(0, 1)[None], None, scaling=0.3,
                                       cu_seq_lens_q=cu, max_length_q=8)  # fmt: skip
    assert torch.allclose(got, want[0], atol=1e-6)


def test_packs_hold_at_most_the_budget():
    lengths = [7, 100, 3, 50, 50, 120, 1]
    packs = options._packs(lengths, 120)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 120 for p in packs)
    assert options._packs([300, 5], 120)[0] == [0]  # longer than the budget: a pack of its own


def test_an_option_that_does_not_fit_the_budget_is_skipped_and_listed(tmp_path):
    from benchmarks.gpubench import phases

    results = record.Results(tmp_path / "r.json", {})
    ctx = phases.Context(plan=None, device=torch.device("cpu"), results=results,  # type: ignore[arg-type]
                         clock=record.Clock(0.0), workdir=tmp_path, peak_tflops=None,
                         compile_backend="eager", tokenizer=None, corpus="")  # fmt: skip
    ctx.seconds_per_token["s"] = 1e-3
    assert not phases._fits(ctx, shapes.TINY_DREAM, [1000], "something big")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["skipped"][0]["what"] == "something big"
    assert os.path.getsize(tmp_path / "r.json") > 0


def test_the_setup_script_installs_nothing_without_a_gpu(tmp_path):
    if any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd")):
        pytest.skip("this machine has a GPU driver")
    env = {k: v for k, v in os.environ.items() if k != "GPU_SETUP_ANYWAY"}
    env["GPU_VENV"] = str(tmp_path / "venv")
    env["PATH"] = "/usr/bin:/bin"  # no nvidia-smi
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_setup.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "no GPU driver" in proc.stderr
    assert not (tmp_path / "venv").exists()
