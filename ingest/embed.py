"""The embed stage behind one seam: :class:`Embedder`, fed a stream of calls, yielding vectors.

The orchestrator (``ingest.pipeline``) cuts the chunks of each write batch into
:class:`EmbedCall` s of at most ``EMBED_CALL_CHUNKS`` texts for one encoder and hands the
embedder an *iterator* of them; the embedder yields one :class:`Embedded` per call, as calls
finish. The orchestrator reassembles the vectors by the calls' keys and writes a batch as soon
as all of its calls are back, in this process, in the kill-safe order of ``ingest.write``.

An embedder is built from the run's encoder *specs* (:class:`~encoders.EncoderSpec`: frozen,
picklable, JSON-able), so an implementation may build its encoders anywhere:

* :class:`LocalEmbedder` (the default) loads each encoder once in this process, on first use,
  and runs the calls one by one in the order given: pulling the next call is what lets the
  pipeline parse and chunk the next documents, so memory stays bounded by one batch.
* A distributed one (Ray actors, one encoder replica per GPU) keeps several calls in flight,
  pulling more from the iterator as replicas free up, and yields results in completion order;
  ``Embedded.worker`` names the replica, for per-replica throughput.

Late chunking (``--chunking late``) sends :class:`SpanCall` s instead: whole documents with
their chunks' character spans, answered by the encoder's ``encode_spans`` (one pass over each
document, a vector per span). An embedder handles both kinds (:data:`AnyCall`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.errors import EncoderLoadError


@dataclass(frozen=True)
class EmbedCall:
    """One ``encode_documents`` call.

    Attributes:
        key: The caller's tag, handed back with the result (hashable; e.g. batch, encoder,
            offset).
        encoder: The encoder's name in the run (a key of the embedder's specs).
        texts: Chunk texts, non-empty strings.
    """

    key: Hashable
    encoder: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class SpanCall:
    """One ``encode_spans`` call (late chunking): documents, and the chunks to pool in each.

    Attributes:
        key: The caller's tag, handed back with the result.
        encoder: The encoder's name in the run (a mean-pooled encoder).
        texts: Whole document texts, non-empty strings.
        spans: Per document, its chunks' ``(start, end)`` character ranges, in chunk order.

    The result's ``vectors`` has one row per span, documents in order: ``sum(len(s) for s in
    spans)`` rows.
    """

    key: Hashable
    encoder: str
    texts: tuple[str, ...]
    spans: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self.spans)


#: What an embedder is fed: chunk texts, or (late chunking) documents with chunk spans.
AnyCall = EmbedCall | SpanCall


def call_rows(call: AnyCall) -> int:
    """How many vectors a call's result holds."""
    return call.rows if isinstance(call, SpanCall) else len(call.texts)


def run_call(encoder: Any, call: AnyCall) -> np.ndarray:
    """Run one call on a loaded encoder: ``(call_rows(call), dim)`` float32 unit rows.

    The one place that maps a call to the encoder API, for any embedder implementation.
    """
    if isinstance(call, SpanCall):
        parts = encoder.encode_spans(list(call.texts), [list(s) for s in call.spans])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    vectors: np.ndarray = encoder.encode_documents(list(call.texts))
    return vectors


@dataclass(frozen=True)
class Embedded:
    """The result of one call.

    Attributes:
        key: The call's key.
        encoder: The call's encoder name.
        vectors: (len(texts), dim) float32, L2-normalised rows, in the call's text order (for a
            :class:`SpanCall`: one row per span, in order).
        seconds: Time the encoder spent on the call.
        worker: Which replica ran it (``"local"`` in this process).
    """

    key: Hashable
    encoder: str
    vectors: np.ndarray
    seconds: float
    worker: str = "local"


@runtime_checkable
class Embedder(Protocol):
    """Where a run's chunks are embedded (in this process, or on a cluster)."""

    def info(self, name: str) -> dict[str, Any]:
        """The encoder's ``EncoderInfo.as_dict()`` (its recorded spec included), loading it if
        needed: the run checks it against the index before any of its vectors are written.

        Raises:
            EncoderLoadError: It cannot be built (weights missing, bad settings).
        """
        ...

    def token_spans(self, name: str) -> Callable[[str], list[tuple[int, int]]]:
        """The encoder's ``token_offsets``: token-window chunking runs in the driver."""
        ...

    def embed(self, calls: Iterable[AnyCall]) -> Iterator[Embedded]:
        """Embed every call (:class:`EmbedCall` or :class:`SpanCall`, see :func:`run_call`);
        yield exactly one result per call, in any order.

        ``calls`` is lazy: pull from it only as capacity frees up. An exception (a replica that
        died for good, a cluster gone) propagates: the run stops, and the next run redoes every
        document not written in full.
        """
        ...

    def close(self) -> None:
        """Let go of workers (loaded encoders may stay cached in this process)."""
        ...


#: Builds the run's embedder: ``factory(specs, loaded)``, ``specs`` by encoder name (None for a
#: caller-built encoder without one), ``loaded`` the encoder objects the caller passed in.
EmbedderFactory = Callable[[Mapping[str, Any], Mapping[str, Any]], Embedder]


class LocalEmbedder:
    """Today's embedder: encoders loaded once per run in this process, calls run in order.

    Args:
        specs: ``EncoderSpec`` per encoder name.
        loaded: Encoder objects to use as they are (by name), e.g. built by the caller.
    """

    def __init__(self, specs: Mapping[str, Any], loaded: Mapping[str, Any] | None = None) -> None:
        self.specs = dict(specs)
        self._encoders: dict[str, Any] = dict(loaded or {})

    def encoder(self, name: str) -> Any:
        """The loaded encoder ``name`` (built from its spec on first use)."""
        if name not in self._encoders:
            from encoders import EncoderError, load_encoder

            spec = self.specs.get(name)
            if spec is None:
                raise EncoderLoadError(f"no spec for encoder {name!r}")
            try:
                self._encoders[name] = load_encoder(spec)
            except EncoderError as exc:
                raise EncoderLoadError(f"cannot load encoder {name!r}: {exc}") from None
        return self._encoders[name]

    def info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.encoder(name).info.as_dict()
        return info

    def token_spans(self, name: str) -> Callable[[str], list[tuple[int, int]]]:
        spans: Callable[[str], list[tuple[int, int]]] = self.encoder(name).token_offsets
        return spans

    def embed(self, calls: Iterable[AnyCall]) -> Iterator[Embedded]:
        for call in calls:
            encoder = self.encoder(call.encoder)
            t = time.perf_counter()
            vectors = run_call(encoder, call)
            yield Embedded(call.key, call.encoder, vectors, time.perf_counter() - t)

    def close(self) -> None:
        return None
