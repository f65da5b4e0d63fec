"""Output vectors as the models were trained to give them: Matryoshka prefixes and quantization.

Pure tensor functions plus :class:`VectorFormat`, the per-encoder setting that an index records.

* ``dim=N`` keeps the first ``N`` coordinates of the pooled vector (Matryoshka representation
  learning trains every prefix to work on its own); the prefix is then L2-normalised like any
  vector diffsearch stores.
* ``quantize="int8"`` is pplx-embed's rule on the raw pooled vector: ``clamp(round(tanh(x) *
  127), -128, 127)``; ``quantize="binary"`` is its sign rule: +1 where ``x >= 0``, else -1.
  Those models return the integers unnormalised and are compared by cosine, which ignores
  length, so storing them as unit float32 rows gives exactly the same ranking.

Quantization is elementwise and truncation keeps a prefix, so the two commute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from encoders.errors import EncoderError

if TYPE_CHECKING:  # importing encoders (listing presets, parsing names) never imports torch
    import torch


def quantize_int8(x: torch.Tensor) -> torch.Tensor:
    """pplx-embed's int8 rule: ``clamp(round(tanh(x) * 127), -128, 127)``.

    Args:
        x: ``(N, H)`` pooled vectors, not normalised.

    Returns:
        ``(N, H)`` float32 holding integers in [-127, 127].
    """
    import torch

    return torch.clamp(torch.round(torch.tanh(x.to(torch.float32)) * 127.0), -128.0, 127.0)


def quantize_binary(x: torch.Tensor) -> torch.Tensor:
    """pplx-embed's binary rule: +1 where ``x >= 0``, -1 elsewhere.

    Returns:
        ``(N, H)`` float32 of +-1.
    """
    import torch

    x = x.to(torch.float32)
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


QUANTIZERS = {"int8": quantize_int8, "binary": quantize_binary}


@dataclass(frozen=True)
class VectorFormat:
    """How pooled vectors are turned into stored ones (before L2 normalisation).

    Attributes:
        dim: Keep the first ``dim`` coordinates (Matryoshka); None keeps all.
        quantize: ``int8`` or ``binary`` (see module docs); None keeps float32.
    """

    dim: int | None = None
    quantize: str | None = None

    def apply(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(N, H)`` raw pooled vectors -> ``(N, dim or H)`` float32, not yet normalised."""
        import torch

        out = pooled if self.dim is None else pooled[:, : self.dim]
        if self.quantize is not None:
            out = QUANTIZERS[self.quantize](out)
        return out.to(torch.float32)

    @property
    def is_identity(self) -> bool:
        return self.dim is None and self.quantize is None


def check_vector_format(
    name: str,
    dim: int | None,
    quantize: str | None,
    matryoshka: tuple[int, int] | None,
    quantizations: tuple[str, ...],
) -> VectorFormat:
    """Validate ``dim=`` and ``quantize=`` against what encoder ``name`` was trained for.

    Args:
        name: Encoder name, for messages.
        dim: Requested Matryoshka dimension, or None.
        quantize: Requested quantization, or None.
        matryoshka: ``(smallest, largest)`` trained dimension, or None when the model was not
            trained for truncation.
        quantizations: The quantized outputs the model was trained for.

    Raises:
        EncoderError: A setting the encoder cannot take; the message gives the allowed values.
    """
    if quantize is not None and quantize not in quantizations:
        allowed = ", ".join(quantizations) if quantizations else "none (float32 vectors only)"
        raise EncoderError(
            f"encoder {name!r} cannot take quantize={quantize!r}: it was trained for "
            f"{allowed}. Quantized vectors are offered where a model was trained for them "
            "(pplx-embed-*: int8, binary)."
        )
    if dim is not None:
        if matryoshka is None:
            raise EncoderError(
                f"encoder {name!r} cannot take dim={dim}: it was not trained for Matryoshka "
                "truncation (allowed: its full dimension only). Presets that were: "
                "pplx-embed-* (128 up to their size), qwen3-embedding* (32 up to their size)."
            )
        low, high = matryoshka
        if isinstance(dim, bool) or not isinstance(dim, int) or not low <= dim <= high:
            raise EncoderError(
                f"encoder {name!r} takes dim from {low} to {high} (Matryoshka), not {dim!r}"
            )
        if dim == high:
            dim = None  # the full vector: the same encoder as without dim=
    return VectorFormat(dim=dim, quantize=quantize)
