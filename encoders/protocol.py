"""The ``Encoder`` protocol: the one seam that ingest, search and eval depend on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds documents and queries into one L2-normalised space.

    Attributes:
        name: Registry or folder name; an index keys its vectors by it.
        dim: Embedding size.
        max_tokens: Longest model input, template included.
        attention: ``bidirectional`` or ``causal``.
        pooling: ``mean``, ``last`` or ``cls``.
        long_policy: ``truncate`` or ``windows`` for inputs over ``max_tokens``.
    """

    name: str
    dim: int
    attention: str
    pooling: str

    @property
    def max_tokens(self) -> int: ...

    @property
    def long_policy(self) -> str: ...

    @property
    def info(self) -> Any: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, unit rows, input order."""
        ...

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        """(n, dim) float32, unit rows, input order; instruction tokens are not pooled."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...
