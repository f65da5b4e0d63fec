"""Embedders behind one interface: diffusion LMs, AR LMs and BERT-style encoders.

>>> from encoders import load_encoder
>>> enc = load_encoder("minilm")
>>> enc.encode_documents(["a text"]).shape
(1, 384)
>>> load_encoder(EncoderSpec("minilm", attention="causal")).name
'minilm+causal'

Importing this package does not import torch; loading an encoder does.
"""

from __future__ import annotations

import os

# Offline by construction: the hub is only ever read from its local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from typing import TYPE_CHECKING, Any

from encoders.errors import EncoderError, UnknownEncoderError, WeightsNotFoundError
from encoders.listing import EncoderListing, list_encoders
from encoders.presets import PRESETS, Preset, get_preset
from encoders.registry import describe_encoder, load_encoder, load_token_offsets
from encoders.resolve import encoder_name
from encoders.spec import EncoderSpec, ModelPaths, spec_from_record

if TYPE_CHECKING:
    from encoders.protocol import Encoder

__all__ = [
    "PRESETS",
    "Encoder",
    "EncoderError",
    "EncoderListing",
    "EncoderSpec",
    "ModelPaths",
    "Preset",
    "UnknownEncoderError",
    "WeightsNotFoundError",
    "describe_encoder",
    "encoder_name",
    "get_preset",
    "list_encoders",
    "load_encoder",
    "load_token_offsets",
    "spec_from_record",
]


def __getattr__(name: str) -> Any:
    if name == "Encoder":
        from encoders.protocol import Encoder

        return Encoder
    raise AttributeError(name)
