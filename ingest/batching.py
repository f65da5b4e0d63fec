"""Write batches and embed calls: pure helpers of the orchestrator's embed-and-write stage.

``ingest.pipeline`` groups documents into write batches (:func:`group_batches`), turns each
batch into embed calls per encoder (:func:`text_calls`, or :func:`span_calls` under late
chunking) and, once every call of a batch is back, reassembles the vectors per document
(:func:`assemble`). Nothing here loads a model, touches the store or keeps state across
batches: the limits come in as arguments (the orchestrator's ``BATCH_CHUNKS`` /
``BATCH_CHARS`` / ``EMBED_CALL_CHUNKS``), so tests can shrink them there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.embed import AnyCall, EmbedCall, SpanCall
from ingest.late import spans_of, text_from_chunks
from ingest.write import DocumentWrite

#: A document on its way to the embedder, with the encoders to embed it with.
Pending = tuple[DocumentWrite, list[str]]


@dataclass
class Batch:
    """A write batch on its way through the embedder.

    Attributes:
        docs: The batch's documents (or pieces of a large one), each with its encoders.
        calls_left: Embed calls of this batch not yet answered.
        parts: Answers by ``(encoder, first row)``: dense ``(rows, dim)`` float32 blocks or
            lists of BM25 sparse vectors.
    """

    docs: list[Pending]
    calls_left: int = 0
    parts: dict[tuple[str, int], Any] = field(default_factory=dict)

    def encoders(self) -> list[str]:
        """The encoders any of its documents needs, in first-seen order."""
        return list(dict.fromkeys(e for _, encs in self.docs for e in encs))

    def documents(self, encoder: str) -> list[DocumentWrite]:
        """Its documents that ``encoder`` embeds, in batch order."""
        return [d for d, encs in self.docs if encoder in encs]


def group_batches(docs: Iterable[Pending], max_chunks: int, max_chars: int) -> Iterator[Batch]:
    """Group documents into batches of about ``max_chunks`` chunks or ``max_chars`` characters.

    A batch closes once it reaches either limit, and before a second piece of the same document
    (pieces of a streamed document are written one per batch, in order).
    """
    batch: list[Pending] = []
    n_chunks = n_chars = 0
    for doc, encs in docs:
        if any(d.doc_id == doc.doc_id for d, _ in batch):
            yield Batch(batch)
            batch, n_chunks, n_chars = [], 0, 0
        batch.append((doc, encs))
        n_chunks += len(doc.chunks)
        n_chars += sum(len(c["text"]) for c in doc.chunks)
        if n_chunks >= max_chunks or n_chars >= max_chars:
            yield Batch(batch)
            batch, n_chunks, n_chars = [], 0, 0
    if batch:
        yield Batch(batch)


def text_calls(no: int, name: str, docs: list[DocumentWrite], call_chunks: int) -> list[AnyCall]:
    """The chunk texts of ``docs`` for encoder ``name`` in calls of at most ``call_chunks``,
    keyed ``(batch no, name, first row)``."""
    texts = [c["text"] for d in docs for c in d.chunks]
    return [
        EmbedCall((no, name, at), name, tuple(texts[at : at + call_chunks]))
        for at in range(0, len(texts), call_chunks)
    ]


def span_calls(
    no: int,
    name: str,
    docs: list[DocumentWrite],
    call_chunks: int,
    text_of: Callable[[str], str | None],
) -> list[AnyCall]:
    """Late chunking: whole documents in calls of about ``call_chunks`` chunks (a document is
    never split), keyed by the row of their first chunk like :func:`text_calls`.

    ``text_of(doc_id)`` gives a document's full text when the run holds it; otherwise it is
    rebuilt from the chunk payloads (an encoder added to a stored late index).
    """
    calls: list[AnyCall] = []
    group: list[DocumentWrite] = []
    at = rows = 0
    for d in [*docs, None]:
        if group and (d is None or rows + len(d.chunks) > call_chunks):
            texts = tuple(text_of(g.doc_id) or text_from_chunks(g.chunks) for g in group)
            spans = tuple(spans_of(g.chunks) for g in group)
            calls.append(SpanCall((no, name, at), name, texts, spans))
            at, group, rows = at + rows, [], 0
        if d is not None:
            group.append(d)
            rows += len(d.chunks)
    return calls


def call_rows(calls: list[AnyCall]) -> int:
    """Chunk embeddings the calls ask for (a span call: one row per span)."""
    return sum(c.rows if isinstance(c, SpanCall) else len(c.texts) for c in calls)


def assemble(batch: Batch) -> list[DocumentWrite]:
    """The batch's documents with their vectors: each encoder's answers concatenated in row
    order and cut back per document (a document lacking an encoder gets none for it)."""
    vectors: dict[str, dict[str, Any]] = {}
    for name in batch.encoders():
        offsets = sorted(at for n, at in batch.parts if n == name)
        if not offsets:
            continue
        parts = [batch.parts[(name, at)] for at in offsets]
        mat = parts[0] if len(parts) == 1 else concat(parts)
        row = 0
        for d in batch.documents(name):
            vectors.setdefault(d.doc_id, {})[name] = mat[row : row + len(d.chunks)]
            row += len(d.chunks)
    return [
        DocumentWrite(d.doc_id, d.manifest, d.chunks, vectors.get(d.doc_id, {}), d.replace, d.final)
        for d, _ in batch.docs
    ]


def concat(parts: list[Any]) -> Any:
    """One encoder's results of a batch, in call order: dense (n, dim) blocks or lists of BM25
    sparse vectors."""
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [row for part in parts for row in part]
