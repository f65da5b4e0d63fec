"""``list_encoders``: the presets as ``diffsearch encoders`` shows them (nothing is loaded)."""

from __future__ import annotations

from dataclasses import dataclass

from encoders.bm25 import BM25_NAME
from encoders.presets import PRESETS, Preset
from encoders.weights import adapter_env_var_for, find_adapter, find_weights


@dataclass(frozen=True)
class EncoderListing:
    """A row of ``diffsearch encoders``."""

    name: str
    family: str
    attention: str
    pooling: str
    dim: int
    max_tokens: int
    model_id: str
    available: bool
    note: str
    download_gb: float = 0.0
    dims: str = ""
    quantize: tuple[str, ...] = ()
    late_chunking: str = "no"


def list_encoders() -> list[EncoderListing]:
    """Every preset, with whether its weights are on this machine (nothing is loaded)."""
    rows = []
    for p in PRESETS.values():
        note = f"ablation: {p.ablation}" if p.ablation else p.description
        if p.adapter_id:
            note += f"; LoRA {p.adapter_id}"
        elif p.needs_adapter:
            note += f"; needs --adapter or ${adapter_env_var_for(p.name)}"
        rows.append(
            EncoderListing(
                name=p.name,
                family=p.family,
                attention=p.attention,
                pooling=p.pooling,
                dim=p.dim,
                max_tokens=p.max_tokens,
                model_id=p.hub_id,
                available=find_weights(p) is not None
                and (not p.adapter_id or find_adapter(p, None) is not None),
                note=note,
                download_gb=p.download_gb,
                dims=f"{p.matryoshka[0]}-{p.matryoshka[1]}" if p.matryoshka else str(p.dim),
                quantize=p.quantizations,
                late_chunking=late_chunking_support(p),
            )
        )
    rows.append(
        EncoderListing(
            name=BM25_NAME, family="sparse", attention="-", pooling="-", dim=0, max_tokens=0,
            model_id="BM25 (PyStemmer Porter)", available=True,
            note="lexical BM25 (sparse vectors, IDF in Qdrant); hybrid:ENCODER,bm25 fuses both",
            dims="sparse",
        )
    )  # fmt: skip
    return rows


def late_chunking_support(preset: Preset) -> str:
    """``default``, ``yes`` (mean pooling) or ``no`` (a pooled position has no per-chunk part)."""
    if preset.pooling != "mean":
        return "no"
    return "default" if preset.default_chunking == "late" else "yes"
