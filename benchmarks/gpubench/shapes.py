"""Model shapes, model FLOPs and per-chip bf16 peaks.

Speed does not depend on the values of the weights, so randomly initialised models with the
real shapes give real timings. FLOPs are counted the usual way for model-FLOPs utilisation
(MFU): 2 per multiply-add of every weight matrix a token passes through, plus attention's
score and value products; padding, recomputation and the embedding lookup are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """A transformer body to build with random weights.

    Attributes:
        name: Key in results, e.g. ``dream-7b``.
        model_type: ``qwen2`` or ``qwen3`` (transformers' config class).
        hidden, layers, heads, kv_heads, head_dim, intermediate, vocab: The architecture.
        tie_embeddings: Qwen3-0.6B ties its input and output embeddings.
        like: The real checkpoint the shape copies.
    """

    name: str
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tie_embeddings: bool
    like: str

    def config(self, max_positions: int) -> Any:
        """The transformers config of this shape (RoPE theta 1e6, as both real models)."""
        from transformers import Qwen2Config, Qwen3Config

        common = {
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "max_position_embeddings": max_positions,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": self.tie_embeddings,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
        }
        if self.model_type == "qwen3":
            return Qwen3Config(head_dim=self.head_dim, **common)
        return Qwen2Config(**common)

    @property
    def matmul_params(self) -> int:
        """Weights a token multiplies through (every projection; no embeddings, norms, biases)."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        attn = self.hidden * q + 2 * self.hidden * kv + q * self.hidden
        mlp = 3 * self.hidden * self.intermediate
        return self.layers * (attn + mlp)

    @property
    def bf16_gib(self) -> float:
        """Size of the body's weights in bf16 (embeddings included)."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        biases = (q + 2 * kv) * self.layers if self.model_type == "qwen2" else 0
        return (self.matmul_params + self.vocab * self.hidden + biases) * 2 / 2**30

    def forward_flops(self, lengths: Sequence[int], causal: bool) -> float:
        """Model FLOPs of one forward pass over unpadded sequences of these lengths.

        Attention: 4 * L^2 * (heads * head_dim) per layer for QK^T and AV over a sequence of
        length L; half of it under a causal mask (the kernels skip the masked half).
        """
        tokens = sum(lengths)
        dense = 2.0 * self.matmul_params * tokens
        square = sum(float(n) * n for n in lengths)
        attention = 4.0 * square * self.heads * self.head_dim * self.layers
        return dense + (attention / 2 if causal else attention)

    def lora_step_flops(self, lengths: Sequence[int], causal: bool) -> float:
        """Model FLOPs of one LoRA training step (forward + backward) over these sequences.

        The base weights are frozen, so the backward pass computes activation gradients only
        (as much again as the forward's matrix products), and attention's backward is twice
        its forward; LoRA's own rank-16 products and the recomputation of gradient
        checkpointing are not counted (MFU convention).
        """
        tokens = sum(lengths)
        dense = 2.0 * self.matmul_params * tokens
        attention = self.forward_flops(lengths, causal) - dense
        return 2 * dense + 3 * attention


DREAM_7B = Shape(
    name="dream-7b", model_type="qwen2", hidden=3584, layers=28, heads=28, kv_heads=4,
    head_dim=128, intermediate=18944, vocab=152064, tie_embeddings=False,
    like="Dream-v0-Instruct-7B / Qwen2.5-7B",
)  # fmt: skip
QWEN3_06B = Shape(
    name="qwen3-0.6b", model_type="qwen3", hidden=1024, layers=28, heads=16, kv_heads=8,
    head_dim=128, intermediate=3072, vocab=151936, tie_embeddings=True,
    like="Qwen3-0.6B / Qwen3-Embedding-0.6B / pplx-embed-v1-0.6b",
)  # fmt: skip
# --tiny: the same two architectures, small enough for a CPU test in seconds.
TINY_DREAM = Shape(
    name="tiny-dream", model_type="qwen2", hidden=64, layers=2, heads=4, kv_heads=2,
    head_dim=16, intermediate=128, vocab=4096, tie_embeddings=False, like="Dream's layout",
)  # fmt: skip
TINY_QWEN3 = Shape(
    name="tiny-qwen3", model_type="qwen3", hidden=32, layers=2, heads=4, kv_heads=2,
    head_dim=16, intermediate=64, vocab=4096, tie_embeddings=True, like="Qwen3's layout",
)  # fmt: skip

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets. Matched
# against torch.cuda.get_device_name() in order, as whole words: the first one found wins.
# A chip not listed gets no MFU unless --peak-tflops gives its peak.
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GB200", 2500.0),
    ("B200", 2250.0),
    ("GH200", 989.0),
    ("H200 NVL", 835.0),
    ("H200", 989.0),  # SXM
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("A6000", 155.0),
    ("4090", 165.0),
    ("MI300X", 1307.0),
)


def chip_key(device_name: str) -> str:
    """A file-name-safe chip name: ``NVIDIA H200`` -> ``h200``, ``NVIDIA H100 PCIe`` -> ``h100-pcie``."""
    name = device_name.replace("NVIDIA", "").replace("AMD", "").replace("Instinct", "")
    for junk in ("GeForce", "Tesla"):
        name = name.replace(junk, "")
    parts = [p for p in "".join(c if c.isalnum() else " " for c in name.lower()).split() if p]
    # Memory sizes ("80gb", "hbm3") say nothing about the chip.
    parts = [
        p for p in parts if not (p.endswith("gb") and p[:-2].isdigit()) and not p.startswith("hbm")
    ]
    return "-".join(parts) or "unknown"


def bf16_peak(device_name: str) -> float | None:
    """The chip's dense bf16 peak in TFLOP/s, or None when the table does not know it."""
    import re

    for needle, tflops in BF16_PEAK_TFLOPS:
        # Whole words: "A10" must not match "A10G" (another chip), "L40" not "L40S".
        if re.search(rf"\b{re.escape(needle)}\b", device_name, flags=re.IGNORECASE):
            return tflops
    return None
