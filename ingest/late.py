"""Late chunking in the ingest (``--chunking late``): the chunks of ``tokens``, other vectors.

The chunks, their ids and payloads are exactly those of ``--chunking tokens`` with the same
sizes, so hits stay chunk-level and two encoders (or two indexes) compare chunk for chunk. Only
the embedding differs: each document goes through the encoder once (in overlapping macro
windows past its limit) and a chunk's vector is the mean of its own tokens' output states
(``encoders.late``). The orchestrator sends such documents through the
:class:`~ingest.embed.Embedder` seam as :class:`~ingest.embed.SpanCall` s (a document's text
and its chunks' character spans), so an embedder elsewhere (a Ray replica) runs them too.

That needs mean pooling; encoders that pool one position (the last token, [CLS], a [MASK]
slot) are refused before anything is embedded, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ingest.errors import IngestError

#: The chunker mode that cuts the chunks of a late-chunked index.
CHUNKER_MODE = "tokens"

Spans = tuple[tuple[int, int], ...]


def chunker_mode(mode: str) -> str:
    """The ``ingest.chunk`` mode that cuts an index's chunks (``late`` cuts like ``tokens``)."""
    return CHUNKER_MODE if mode == "late" else mode


def spans_of(chunks: Sequence[Mapping[str, Any]]) -> Spans:
    """Character spans of chunk payloads in their document's text (``start_char`` + length)."""
    return tuple((int(c["start_char"]), int(c["start_char"]) + len(c["text"])) for c in chunks)


def text_from_chunks(chunks: Sequence[Mapping[str, Any]]) -> str:
    """A document's text rebuilt from its stored chunk payloads (adding an encoder later).

    Token windows overlap (or touch), so together they cover every token of the document;
    only whitespace outside every chunk (before the first, after the last) is not stored, and
    becomes spaces here. The rebuilt text gives the chunks the same tokens and the same context
    as the parsed one, without parsing the file again.
    """
    if not chunks:
        return ""
    end = max(int(c["start_char"]) + len(c["text"]) for c in chunks)
    buf = [" "] * end
    for c in chunks:
        start = int(c["start_char"])
        buf[start : start + len(c["text"])] = c["text"]
    return "".join(buf)


def refuse_pooled_positions(names: Iterable[str], pooling: Callable[[str], str]) -> None:
    """Refuse late chunking for encoders that do not mean-pool, naming them and why.

    Args:
        names: The run's encoders.
        pooling: Encoder name -> its pooling (from its spec, without loading weights).

    Raises:
        IngestError: Some encoder pools ``last``, ``cls`` or ``mask``.
    """
    from encoders import EncoderError
    from encoders.late_policy import refuse_unless_mean

    for name in names:
        try:
            refuse_unless_mean(name, pooling(name))
        except EncoderError as exc:
            raise IngestError(str(exc)) from None


def default_chunking(presets: Iterable[Any], fallback: str) -> str:
    """A new index's chunking: ``late`` when every encoder is a contextual one (pplx-embed-
    context-*, trained for late chunking), else ``fallback``."""
    chunkings = [getattr(p, "default_chunking", None) for p in presets]
    return "late" if chunkings and all(c == "late" for c in chunkings) else fallback


def default_chunking_of(names: Sequence[str], fallback: str = CHUNKER_MODE) -> str:
    """:func:`default_chunking` for encoders given by name, before a run (the web UI's default).

    BM25 is left out as the ingest leaves it out (late chunking changes nothing for it); a
    name that names no encoder counts as not contextual (the ingest itself then says why).
    """
    from encoders.bm25 import BM25_NAME
    from ingest.encoder_set import EncoderSet

    try:
        encs = EncoderSet([n for n in names if n and n != BM25_NAME], {}, None)
        presets = [encs.preset(n) for n in encs.names]
    except IngestError:
        return fallback
    return default_chunking(presets, fallback)
