"""The orchestrator: discover -> plan -> parse -> chunk -> embed -> write, each stage an iterator.

The stages live in their own modules; this one wires them together and keeps the order that
makes a run incremental and kill-safe:

* **Plan first** (``ingest.plan``, pure): a file whose manifest entry is complete with the same
  size and mtime is not read at all; a changed mtime costs a hash; only new or changed content
  is parsed; documents no longer found are removed.
* **Parse in worker processes** (``ingest.workers``, ``spawn``), overlapped with embedding here:
  the pool keeps a window of files in flight while this thread embeds what is already parsed.
* **Embed across documents** through the :class:`~ingest.embed.Embedder` seam: chunks of several
  documents form one write batch (``BATCH_CHUNKS`` / ``BATCH_CHARS``), cut into calls of at most
  ``EMBED_CALL_CHUNKS`` texts per encoder; the embedder is fed a lazy stream of calls and gives
  vectors back as calls finish (in order in-process; in completion order on a cluster).
* **Write per batch, here** (``ingest.write``): a batch is written as soon as all its calls are
  back; a document's manifest is written after all its chunks, so a killed run is repaired by
  the next one, which ends with exactly the points of a clean run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from encoders.bm25 import BM25_NAME
from ingest.batching import (
    Batch,
    Pending,
    assemble,
    call_rows,
    group_batches,
    span_calls,
    text_calls,
)
from ingest.chunk import SPAN_PIECE_CHARS, chunk_document, chunks_at, token_window_ranges
from ingest.embed import AnyCall, Embedder, EmbedderFactory, LocalEmbedder
from ingest.encoder_set import EncoderSet
from ingest.errors import ChunkingMismatchError, IngestError, IngestFailedError
from ingest.late import chunker_mode, default_chunking, refuse_pooled_positions
from ingest.load import SkippedFile, discover
from ingest.parse import ParsedDocument
from ingest.plan import Job, after_hash, chunking_settings, describe_chunking, plan_run
from ingest.records import record_outcome, record_outcomes, record_size
from ingest.report import IngestReport, Progress, ProgressCallback, Record
from ingest.schema import (
    chunk_payloads,
    is_complete,
    manifest_entry,
    missing_encoders,
    with_encoders,
)
from ingest.workers import ParseOutcome, ParsePool, Parser, parse_job
from ingest.write import DocumentWrite, IndexWriter

LONG_POLICIES = ("truncate", "windows")
# A write batch closes at this many chunks or characters (several documents per batch).
# Large enough that length-sorting inside encode_documents keeps padding low (64 cost SciFact
# ~6% more embedding time than one call over the whole corpus); writes stay per document.
BATCH_CHUNKS = 256
BATCH_CHARS = 400_000
# A ``tokens``-chunked text longer than this is tokenized in pieces and written in pieces of
# PIECE_CHUNKS chunks (each one write batch), so memory does not grow with one document's size.
STREAM_CHARS = 2_000_000
PIECE_CHUNKS = BATCH_CHUNKS
# At most this many chunks per encode call: one long document (War and Peace: 3,300 chunks)
# still moves the progress bar every few seconds and holds a bounded batch in memory.
EMBED_CALL_CHUNKS = 256


def ingest_folder(
    root: str | Path, *, index: str, encoders: Sequence[Any], store: IndexWriter,
    chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
    long_policy: str | None = None, include: Sequence[str] = (), exclude: Sequence[str] = (), keep_removed: bool = False,
    progress: ProgressCallback | None = None, workers: int | None = None, strict: bool = False,
    bars: bool | None = None, dtype: str | None = None, model_paths: Any = None,
    embedder: EmbedderFactory | None = None, parser: Parser | None = None,
) -> IngestReport:  # fmt: skip
    """Ingest the files under ``root`` into ``index``, incrementally.

    Args:
        root: Folder to ingest.
        index: Index name.
        encoders: Encoder names (presets or model folders), ``EncoderSpec`` objects or loaded
            encoders. Encoders the index already has are always kept up to date too (rebuilt
            from their recorded specs); a new one is added by embedding the stored chunks,
            without re-parsing.
        store: Where to write (``search.store.Store``).
        chunking: ``whole``, ``tokens``, ``title`` or ``late`` (the chunks of ``tokens``, each
            embedded in one pass over its document: ``ingest.late``; mean-pooled encoders
            only); must match an existing index's. None (also for the next three): the index's
            setting, else ``tokens`` (``late`` for a new index of pplx-embed-context-*
            encoders only), 256 tokens, overlap 32, ``truncate``.
        chunk_tokens: Window size for ``tokens`` (and the cap for ``title`` sections).
        overlap: Tokens shared by consecutive windows.
        long_policy: ``truncate`` or ``windows`` for inputs over an encoder's limit; must match
            what the index recorded for an encoder it already has.
        include: Globs of files to take (default all); see ``ingest.load``.
        exclude: Globs of files and folders to leave out.
        keep_removed: Keep the chunks of files no longer in the folder.
        progress: ``on_progress(stage, done, total)`` callback (e.g. the web UI's).
        workers: Parser processes (default: CPUs - 1, at most 4; 0 parses in this process).
        strict: Raise :class:`IngestFailedError` at the end if any file failed.
        bars: tqdm bars on stderr (default: only when stderr is a terminal).
        dtype: Weights dtype for encoders given by name (``float32``, ``bfloat16``; default:
            the preset's). bf16 is ~2.5x faster on CPUs with AMX, cosine to fp32 >= 0.9998.
        model_paths: ``encoders.ModelPaths``: weights and adapter folders named by the user.
        embedder: Builds the run's :class:`~ingest.embed.Embedder` from its specs (default:
            :class:`~ingest.embed.LocalEmbedder`).
        parser: The parse stage (default: a ``ParsePool`` of ``workers`` processes).

    Returns:
        The run's report.

    Raises:
        IngestError: Bad folder or options, chunking or encoder mismatch with the index.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise IngestError(f"not a folder: {root}")
    settings = _Settings(chunking, chunk_tokens, overlap, long_policy, dtype, model_paths)
    run = _Run(store, index, encoders, settings, progress, bars, embedder)
    pool = parser or ParsePool(workers)
    try:
        try:
            found, skipped = _discover(run, root, include, exclude)
            run.execute(found, skipped, keep_removed, pool.outcomes)
        finally:
            pool.close()
        return run.finish(strict)
    finally:
        run.close()


def ingest_records(
    records: Iterable[Record], *, index: str, encoders: Sequence[Any], store: IndexWriter,
    chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
    long_policy: str | None = None, keep_removed: bool = False, progress: ProgressCallback | None = None, strict: bool = False,
    bars: bool | None = None, filetype: str = "txt", dtype: str | None = None, model_paths: Any = None,
    embedder: EmbedderFactory | None = None,
) -> IngestReport:  # fmt: skip
    """Ingest text records (e.g. a BEIR corpus) through the same pipeline as files.

    Unchanged records (same content hash) are skipped; records no longer given are removed
    unless ``keep_removed``. Other arguments as in :func:`ingest_folder`, except that a new
    index defaults to ``whole`` chunking (the paper's long-document setting); ``filetype`` is
    how the text is read (``txt``, ``md`` or ``html``) and stored.
    """
    settings = _Settings(chunking, chunk_tokens, overlap, long_policy, dtype, model_paths, "whole")
    run = _Run(store, index, encoders, settings, progress, bars, embedder)
    run.filetype = filetype
    found = []
    for rec in records:
        run.report.seen += 1
        found.append(Job(rec.doc_id, size=record_size(rec), record=rec))
    try:
        run.execute(found, [], keep_removed, record_outcomes)
        return run.finish(strict)
    finally:
        run.close()


def _discover(
    run: _Run, root: Path, include: Sequence[str], exclude: Sequence[str]
) -> tuple[list[Job], list[str]]:
    """The files under ``root`` as jobs, and the relative paths of those skipped (counted)."""
    t0 = time.perf_counter()
    found: list[Job] = []
    skipped: list[str] = []
    for item in discover(root, include, exclude):
        run.report.seen += 1
        if isinstance(item, SkippedFile):
            run.report.fail(item.relpath, item.reason)
            skipped.append(item.relpath)
        else:
            found.append(
                Job(item.relpath, path=Path(item.path), size=item.size, mtime_ns=item.mtime_ns)
            )
    run.report.add_time("discover", time.perf_counter() - t0)
    run.progress.total("discover", run.report.seen)
    run.progress.advance("discover", run.report.seen)
    return found, skipped


@dataclass(frozen=True)
class _Settings:
    chunking: str | None
    chunk_tokens: int | None
    overlap: int | None
    long_policy: str | None
    dtype: str | None
    model_paths: Any
    default_mode: str = "tokens"


class _Run:
    """One ingest run: settings, manifest, encoders, the report; carries out a plan."""

    def __init__(
        self, store: IndexWriter, index: str, encoders: Sequence[Any], s: _Settings,
        progress: ProgressCallback | None, bars: bool | None, embedder: EmbedderFactory | None,
    ) -> None:  # fmt: skip
        self.t0 = time.perf_counter()
        self.store, self.index, self.filetype = store, index, "txt"
        record = store.index_record(index)
        recorded: dict[str, dict[str, Any]] = dict(record["encoders"]) if record else {}
        if s.long_policy is not None and s.long_policy not in LONG_POLICIES:
            raise IngestError(
                f"unknown long-input policy {s.long_policy!r}; use truncate or windows"
            )
        self.encoders = EncoderSet(encoders, recorded, s.long_policy, s.dtype, s.model_paths)
        default_mode = s.default_mode
        # BM25 weighs each chunk's own words: it has no attention and no pooling, so late
        # chunking changes nothing for it (its chunks are embedded as plain chunk texts).
        dense = [n for n in self.encoders.names if n != BM25_NAME]
        if record is None and s.chunking is None and dense:
            presets = [self.encoders.preset(n) for n in dense]
            default_mode = default_chunking(presets, s.default_mode)
        self.chunking = chunking_settings(
            index,
            record,
            s.chunking,
            s.chunk_tokens,
            s.overlap,
            default_mode,
            bool(encoders or recorded),
        )
        self.late = self.chunking["mode"] == "late"
        if self.late:  # before any model is loaded or file parsed
            refuse_pooled_positions(dense, self.encoders.pooling)
        self._texts: dict[str, str] = {}  # late chunking: texts of the documents in flight
        if self.chunking["tokenizer"] is None and self.chunking["mode"] != "whole":
            self.chunking["tokenizer"] = self.encoders.names[0]
        if record is not None and dict(record["chunking"]) != self.chunking:
            raise ChunkingMismatchError(
                f"index {index!r} was built with chunking {describe_chunking(record['chunking'])}, not "
                f"{describe_chunking(self.chunking)}; run with the same settings (its encoders all embed the "
                "same chunks), pick another --index, or drop this one first"
            )
        factory = embedder or LocalEmbedder
        self.embedder: Embedder = factory(self.encoders.specs, self.encoders.objects)
        self.manifest = store.manifest(index) if record is not None else {}
        self.report = IngestReport(index=index, location=store.location, encoders=list(self.encoders.names),
                                   chunking=dict(self.chunking))  # fmt: skip
        self.progress = Progress(progress, bars)
        self._infos: dict[str, dict[str, Any]] = {}
        self._registered: set[str] = set(recorded)
        self._record_exists = record is not None
        self._batch_no = 0

    # -- carrying out the plan ----------------------------------------------------------------

    def execute(
        self, found: list[Job], skipped: list[str], keep_removed: bool, outcomes: Any
    ) -> None:
        """Plan, remove, then parse / embed / write; unchanged documents lacking an encoder last."""
        plan = plan_run(
            found,
            self.manifest,
            self.encoders.names,
            keep_removed=keep_removed,
            also_present=skipped,
        )
        for doc_id in plan.duplicates:
            self.report.fail(doc_id, "duplicate doc_id (first one kept)")
        self._remove(plan.remove, plan.removed)
        self.report.unchanged += len(plan.unchanged)
        extend = list(plan.extend)
        touch: list[DocumentWrite] = []
        self.progress.total("parse", len(plan.to_hash))
        items = [(j, str(j.path), j.doc_id, j.stored_sha) for j in plan.to_hash]
        results = outcomes(items) if items else iter(())
        if plan.preload:
            self._load_all()  # surely something to embed: load the models while the workers parse
        self._embed_and_write(self._batches(self._parsed(results, extend, touch)))
        self._write(touch)
        self._embed_and_write(self._batches(self._extended(extend)))

    def _remove(self, gone: Sequence[str], complete: int) -> None:
        """Delete documents no longer present (pending leftovers always)."""
        if not gone:
            return
        t = time.perf_counter()
        self.progress.total("remove", len(gone))
        self.store.delete_documents(self.index, list(gone))
        self.report.removed += complete
        self.progress.advance("remove", len(gone))
        self.report.add_time("remove", time.perf_counter() - t)

    def _parsed(
        self,
        results: Iterator[tuple[Job, ParseOutcome]],
        extend: list[Job],
        touch: list[DocumentWrite],
    ) -> Iterator[Pending]:
        """Documents to embed, as parse outcomes arrive; same-content ones go to extend/touch."""
        for job, out in results:
            self.report.add_time("parse", out.seconds)
            self.progress.advance("parse")
            decision, job = after_hash(job, out.status, self.encoders.names)
            if decision == "failed":
                self.report.fail(job.doc_id, str(out.value))
            elif decision == "embed":
                for doc in self._document(job, out.value, out.sha256):
                    yield doc, list(self.encoders.names)
            else:  # same content: refresh size and mtime, don't parse
                self.report.unchanged += 1
                if decision == "extend":
                    extend.append(job)
                elif decision == "touch":
                    touch.append(DocumentWrite(job.doc_id, dict(job.old or {}), (), {}, False))

    def _document(self, job: Job, doc: ParsedDocument, sha: str) -> Iterator[DocumentWrite]:
        """Chunk a parsed document into its payloads and manifest entry: one write, or for a
        ``tokens``-chunked text over STREAM_CHARS, pieces of PIECE_CHUNKS chunks (nothing
        when it fails)."""
        spans = (
            self._ready(self.chunking["tokenizer"], tokenizer=True)
            if self.chunking["tokenizer"]
            else None
        )
        text = doc.text
        size, overlap = self.chunking["chunk_tokens"] or 256, self.chunking["overlap"] or 0
        streamed = self.chunking["mode"] == "tokens" and len(text) > STREAM_CHARS
        t = time.perf_counter()
        try:
            if streamed:
                ranges = token_window_ranges(text, chunk_tokens=size, overlap=overlap,
                                             token_spans=spans, piece_chars=SPAN_PIECE_CHARS)  # fmt: skip
                n_chunks = len(ranges)
            else:
                chunks = [c for c in chunk_document(
                    doc, cast(Any, chunker_mode(self.chunking["mode"])), chunk_tokens=size,
                    overlap=overlap, token_spans=spans) if c.text.strip()]  # fmt: skip
                n_chunks = len(chunks)
        except Exception as exc:
            self.report.fail(job.doc_id, f"chunking failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.report.add_time("chunk", time.perf_counter() - t)
        if not n_chunks:
            self.report.fail(job.doc_id, "no text found")
            return
        rec = job.record
        filetype = doc.filetype if rec is None else self.filetype
        metadata = rec.metadata if rec else None
        manifest = manifest_entry(
            job.doc_id, filetype=filetype, title=doc.title, n_chunks=n_chunks, size=job.size,
            mtime_ns=job.mtime_ns, sha256=sha, encoders=self.encoders.names,
        )  # fmt: skip
        if is_complete(job.old):
            self.report.updated += 1
        else:
            self.report.new += 1
        if not streamed:
            payloads = chunk_payloads(job.doc_id, filetype, doc.title, chunks, metadata)
            if self.late:
                self._texts[job.doc_id] = doc.text
            yield DocumentWrite(job.doc_id, manifest, payloads, {}, True)
            return
        # One piece at a time: the next is cut only when the pipeline pulls it, i.e. once the
        # previous piece's batch is on its way to the embedder. (Only --chunking tokens streams:
        # late chunking needs the document's whole text for its span calls.)
        self.progress.grow("file", len(text))
        done_chars = 0
        for first in range(0, n_chunks, PIECE_CHUNKS):
            piece = chunks_at(doc, text, ranges[first : first + PIECE_CHUNKS], first)
            payloads = chunk_payloads(job.doc_id, filetype, doc.title, piece, metadata,
                                      first=first, n_chunks=n_chunks)  # fmt: skip
            final = first + PIECE_CHUNKS >= n_chunks
            reached = len(text) if final else piece[-1].end_char
            self.progress.advance("file", reached - done_chars)
            done_chars = reached
            yield DocumentWrite(job.doc_id, manifest, payloads, {}, True, final)

    def _extended(self, jobs: list[Job]) -> Iterator[Pending]:
        """Stored chunks of unchanged documents, for the encoders they lack (no parsing)."""
        for start in range(0, len(jobs), 64):
            by_source: dict[str, list[Job]] = {}
            for job in jobs[start : start + 64]:
                by_source.setdefault((job.old or {})["encoders"][0], []).append(job)
            for source, group in by_source.items():
                stored = self.store.stored_chunks(self.index, source, [j.doc_id for j in group])
                for job in group:
                    old = job.old or {}
                    chunks = tuple(stored.get(job.doc_id, ()))
                    if len(chunks) != old["n_chunks"]:  # damaged store: parse it again
                        self.report.unchanged -= 1
                        for doc in self._reparse(job):
                            yield doc, list(self.encoders.names)
                        continue
                    missing = missing_encoders(old, self.encoders.names)
                    for e in missing:
                        self.report.encoder_added[e] = self.report.encoder_added.get(e, 0) + 1
                    yield (
                        DocumentWrite(job.doc_id, with_encoders(old, missing), chunks, {}, False),
                        self._with_bm25(missing),
                    )

    def _with_bm25(self, missing: list[str]) -> list[str]:
        """A dense encoder added to an index with BM25 gets the chunks' BM25 vectors written
        beside its own (for hybrid queries); BM25 costs next to nothing to recompute."""
        sparse = [n for n in self.encoders.names if n == BM25_NAME]
        if sparse and missing and not set(missing) <= set(sparse):
            return [*missing, *[n for n in sparse if n not in missing]]
        return missing

    def _reparse(self, job: Job) -> Iterator[DocumentWrite]:
        if job.record is not None:
            out = record_outcome(job.record, None)
        else:
            out = parse_job(str(job.path), job.doc_id, None)
        if out.status == "parsed":
            yield from self._document(job, out.value, out.sha256)
            return
        self.report.fail(job.doc_id, str(out.value))

    # -- embed and write ----------------------------------------------------------------------

    def _batches(self, docs: Iterable[Pending]) -> Iterator[Batch]:
        """Group documents into write batches of about BATCH_CHUNKS chunks / BATCH_CHARS chars."""
        return group_batches(docs, BATCH_CHUNKS, BATCH_CHARS)

    def _calls(self, batches: Iterable[Batch], pending: dict[int, Batch]) -> Iterator[AnyCall]:
        """Each batch's calls: per encoder, its documents' chunk texts in slices of
        EMBED_CALL_CHUNKS (late chunking: whole documents with their chunk spans, a document
        never split). A batch is registered in ``pending`` before its first call leaves."""
        for batch in batches:
            self._batch_no += 1
            no = self._batch_no
            calls: list[AnyCall] = []
            for name in batch.encoders():
                self._ready(name)  # loaded and checked against the index before any call
                docs = batch.documents(name)
                if self.late and name != BM25_NAME:
                    calls += span_calls(no, name, docs, EMBED_CALL_CHUNKS, self._texts.get)
                else:
                    calls += text_calls(no, name, docs, EMBED_CALL_CHUNKS)
            # Progress counts chunk embeddings: each chunk once per encoder that embeds it.
            self.progress.grow("embed", call_rows(calls))
            batch.calls_left = len(calls)
            if not calls:
                self._finish(batch)
                continue
            pending[no] = batch
            yield from calls

    def _embed_and_write(self, batches: Iterable[Batch]) -> None:
        pending: dict[int, Batch] = {}
        for done in self.embedder.embed(self._calls(batches, pending)):
            no, name, at = cast(tuple[int, str, int], done.key)
            self.report.add_embedded(done.worker, len(done.vectors), done.seconds)
            self.progress.advance("embed", len(done.vectors))
            batch = pending[no]
            batch.parts[(name, at)] = done.vectors
            batch.calls_left -= 1
            if batch.calls_left == 0:
                self._finish(pending.pop(no))
        if pending:  # an embedder that dropped calls must never leave a silent gap
            raise IngestError(f"the embedder returned no vectors for {len(pending)} batch(es)")

    def _finish(self, batch: Batch) -> None:
        """Reassemble a batch's vectors per document and write it."""
        docs = assemble(batch)
        for d in docs:
            self._texts.pop(d.doc_id, None)
        self._write(docs)
        self.report.chunks += sum(len(d.chunks) for d in docs)

    def _ready(self, name: str, tokenizer: bool = False) -> Any:
        """Load encoder ``name`` through the embedder (once) and check it against the index."""
        if name not in self._infos:
            t = time.perf_counter()
            info = self.embedder.info(name)
            self.encoders.check(name, info)
            self._infos[name] = info
            self.report.add_time("load", time.perf_counter() - t)
        return self.embedder.token_spans(name) if tokenizer else self._infos[name]

    def _load_all(self) -> None:
        for name in self.encoders.names:
            self._ready(name)

    def _write(self, docs: list[DocumentWrite]) -> None:
        if not docs:
            return
        t = time.perf_counter()
        self._ensure_registered({e for d in docs for e in d.vectors})
        self.store.write_documents(self.index, docs)
        self.report.add_time("write", time.perf_counter() - t)
        finished = sum(d.final for d in docs)  # a piece of a large document is not a document
        self.progress.grow("write", finished)
        self.progress.advance("write", finished)

    def _ensure_registered(self, names: set[str]) -> None:
        if not self._record_exists:
            self.store.ensure_index(self.index, self.chunking)
            self._record_exists = True
        for name in sorted(names - self._registered):
            self.store.add_encoder(self.index, self._ready(name))
            self._registered.add(name)

    def close(self) -> None:
        self.embedder.close()

    def finish(self, strict: bool) -> IngestReport:
        self.progress.close()
        if self._record_exists:
            self._ensure_registered(set(self.encoders.names))  # e.g. -e NEW on an empty index
            final = self.store.manifest(self.index)
            done = [m for m in final.values() if is_complete(m)]
            self.report.total_documents = len(done)
            self.report.total_chunks = sum(int(m.get("n_chunks", 0)) for m in done)
        self.report.seconds = time.perf_counter() - self.t0
        if strict and self.report.failed:
            raise IngestFailedError(self.report)
        return self.report
