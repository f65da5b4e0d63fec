"""Encoder names with their settings: ``pplx-embed-0.6b+dim256+int8``, ``dream+causal``.

An index keys its vectors by encoder name, so two settings of one model (full and truncated
vectors, bidirectional and causal attention) are two encoders side by side. The name is also
a complete description that ``load_encoder`` reads back, which makes it the per-encoder form
on the command line (``-e pplx-embed-0.6b+dim256+int8 -e qwen3-embedding``).

Suffixes, in this order: attention (``+causal``), pooling (``+last``), max tokens (``+512``),
Matryoshka dimension (``+dim256``), quantization (``+int8``), DiffEmbed-style pooling of the
template tokens (``+pool-template``).
"""

from __future__ import annotations

import re
from typing import Any

from encoders.errors import UnknownEncoderError
from encoders.presets import ATTENTIONS, POOLINGS, QUANTIZATIONS

#: The settings a name can carry, in suffix order.
SETTINGS = ("attention", "pooling", "max_tokens", "dim", "quantize", "pool_template")

_DIM = re.compile(r"dim(\d+)")


def join_name(base: str, settings: dict[str, Any]) -> str:
    """``base`` followed by a suffix for each setting that is given (not None / False)."""
    parts = [base]
    for key in SETTINGS:
        value = settings.get(key)
        if value is None or value is False:
            continue
        if key == "dim":
            parts.append(f"dim{value}")
        elif key == "pool_template":
            parts.append("pool-template")
        else:
            parts.append(str(value))
    return "+".join(parts)


def split_name(name: str) -> tuple[str, dict[str, Any]]:
    """``"pplx-embed-0.6b+dim256+int8"`` -> ``("pplx-embed-0.6b", {"dim": 256, ...})``.

    Raises:
        UnknownEncoderError: A suffix that is no setting (the message lists the forms).
    """
    base, *parts = name.split("+")
    settings: dict[str, Any] = {}
    for part in parts:
        dim = _DIM.fullmatch(part)
        if part in ATTENTIONS:
            settings["attention"] = part
        elif part in POOLINGS:
            settings["pooling"] = part
        elif part in QUANTIZATIONS:
            settings["quantize"] = part
        elif part == "pool-template":
            settings["pool_template"] = True
        elif dim:
            settings["dim"] = int(dim.group(1))
        elif part.isdigit():
            settings["max_tokens"] = int(part)
        else:
            raise UnknownEncoderError(
                f"unknown setting {part!r} in encoder name {name!r}; settings are "
                f"+{'/+'.join(ATTENTIONS)}, +{'/+'.join(POOLINGS)}, +N (max tokens), +dimN, "
                f"+{'/+'.join(QUANTIZATIONS)}, +pool-template"
            )
    return base, settings


def canonical_name(name: str, **settings: Any) -> str:
    """The name ``load_encoder(name, **settings)`` gives its encoder, without loading it.

    Settings already in ``name`` win over ``settings`` (the per-encoder form is the more
    specific one); for presets, settings equal to the preset's own are dropped, as loading
    does (``pplx-embed-0.6b`` with ``dim=1024`` is ``pplx-embed-0.6b``).

    Raises:
        UnknownEncoderError: A suffix of ``name`` that is no setting.
    """
    from encoders.presets import PRESETS

    base, named = split_name(name)
    merged = {k: v for k, v in settings.items() if v is not None and v is not False}
    merged.update(named)
    preset = PRESETS.get(base)
    if preset is not None:
        for key in ("attention", "pooling", "max_tokens"):
            if merged.get(key) == getattr(preset, key):
                merged.pop(key)
        if preset.matryoshka and merged.get("dim") == preset.matryoshka[1]:
            merged.pop("dim")
    return join_name(base, merged)
