"""Orchestration: load -> parse -> chunk -> embed -> write, each stage an iterator.

* **Skip first.** A file whose manifest entry is complete with the same size and mtime is not
  read at all; a changed mtime costs a hash; only new or changed content is parsed.
* **Parse in worker processes** (``spawn``), overlapped with embedding in this process: the
  pool keeps a window of files in flight while the main thread embeds what is already parsed.
* **Embed across documents**: chunks of several documents go into one ``encode_documents`` call
  (the encoder sorts by length and batches by a token budget), once per encoder; each encoder is
  loaded once per run, and only if there is something to embed.
* **Write per document, in batches**: one ``write_documents`` call per embedding batch; a
  document's manifest is written after all its chunks (see ``ingest.write``), so a killed run
  is repaired by the next one, which ends with exactly the points of a clean run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunk import chunk_document
from ingest.encoder_set import EncoderSet
from ingest.errors import (
    ChunkingMismatchError,
    IngestError,
    IngestFailedError,
)
from ingest.load import SkippedFile, SourceFile, discover
from ingest.parse import ParsedDocument, parse_text
from ingest.report import IngestReport, Progress, ProgressCallback, Record
from ingest.workers import ParseOutcome, ParsePool, parse_job
from ingest.write import DocumentWrite, IndexWriter

CHUNK_MODES = ("whole", "tokens", "title")
LONG_POLICIES = ("truncate", "windows")
# An embedding batch closes at this many chunks or characters (several documents per batch).
# Large enough that length-sorting inside encode_documents keeps padding low (64 cost SciFact
# ~6% more embedding time than one call over the whole corpus); writes stay per document.
BATCH_CHUNKS = 256
BATCH_CHARS = 400_000
# At most this many chunks per encode call: one long document (War and Peace: 3,300 chunks)
# still moves the progress bar every few seconds and holds a bounded batch in memory.
EMBED_CALL_CHUNKS = 256


@dataclass
class _Job:
    """A document that may need (re)embedding."""

    doc_id: str
    old: dict[str, Any] | None  # its manifest entry, if any
    path: Path | None = None
    size: int = 0
    mtime_ns: int = 0
    record: Record | None = None


def ingest_folder(
    root: str | Path, *, index: str, encoders: Sequence[Any], store: IndexWriter,
    chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
    long_policy: str | None = None, include: Sequence[str] = (), exclude: Sequence[str] = (), keep_removed: bool = False,
    progress: ProgressCallback | None = None, workers: int | None = None, strict: bool = False,
    bars: bool | None = None, dtype: str | None = None,
) -> IngestReport:  # fmt: skip
    """Ingest the files under ``root`` into ``index``, incrementally.

    Args:
        root: Folder to ingest.
        index: Index name.
        encoders: Encoder names (loaded with ``long_policy``) or loaded encoders. Encoders the
            index already has are always kept up to date too; a new one is added by embedding
            the stored chunks, without re-parsing.
        store: Where to write (``search.store.Store``).
        chunking: ``whole``, ``tokens`` or ``title``; must match an existing index's. None
            (also for the next three): the index's setting, else ``tokens``, 256 tokens,
            overlap 32, ``truncate``.
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

    Returns:
        The run's report.

    Raises:
        IngestError: Bad folder or options, chunking or encoder mismatch with the index.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise IngestError(f"not a folder: {root}")
    run = _Run(
        store,
        index,
        encoders,
        chunking,
        chunk_tokens,
        overlap,
        long_policy,
        progress,
        bars,
        dtype=dtype,
    )
    t0 = time.perf_counter()
    jobs: list[_Job] = []
    seen: set[str] = set()
    for item in discover(root, include, exclude):
        run.report.seen += 1
        seen.add(item.relpath)
        if isinstance(item, SkippedFile):
            run.report.fail(item.relpath, item.reason)
        else:
            jobs.append(_file_job(item, run.manifest.get(item.relpath)))
    run.report.add_time("discover", time.perf_counter() - t0)
    run.progress.total("discover", run.report.seen)
    run.progress.advance("discover", run.report.seen)
    run.remove(seen, keep_removed)
    pool = ParsePool(workers)
    try:
        run.process(jobs, pool.outcomes)
    finally:
        pool.close()
    return run.finish(strict)


def ingest_records(
    records: Iterable[Record], *, index: str, encoders: Sequence[Any], store: IndexWriter,
    chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
    long_policy: str | None = None, keep_removed: bool = False, progress: ProgressCallback | None = None, strict: bool = False,
    bars: bool | None = None, filetype: str = "txt", dtype: str | None = None,
) -> IngestReport:  # fmt: skip
    """Ingest text records (e.g. a BEIR corpus) through the same pipeline as files.

    Unchanged records (same content hash) are skipped; records no longer given are removed
    unless ``keep_removed``. Other arguments as in :func:`ingest_folder`, except that a new
    index defaults to ``whole`` chunking (the paper's long-document setting); ``filetype`` is
    how the text is read (``txt``, ``md`` or ``html``) and stored.
    """
    run = _Run(
        store,
        index,
        encoders,
        chunking,
        chunk_tokens,
        overlap,
        long_policy,
        progress,
        bars,
        "whole",
        dtype,
    )
    run.filetype = filetype
    jobs: list[_Job] = []
    seen: set[str] = set()
    for rec in records:
        run.report.seen += 1
        if rec.doc_id in seen:
            run.report.fail(rec.doc_id, "duplicate doc_id (first one kept)")
            continue
        seen.add(rec.doc_id)
        jobs.append(_Job(rec.doc_id, run.manifest.get(rec.doc_id), record=rec))
    run.remove(seen, keep_removed)
    run.process(jobs, _record_outcomes)
    return run.finish(strict)


def _file_job(src: SourceFile, old: dict[str, Any] | None) -> _Job:
    return _Job(src.relpath, old, path=Path(src.path), size=src.size, mtime_ns=src.mtime_ns)


def _record_hash(rec: Record) -> str:
    blob = json.dumps([rec.title, rec.text, rec.metadata], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _record_outcomes(
    items: Sequence[tuple[_Job, str, str, str | None]],
) -> Iterator[tuple[_Job, ParseOutcome]]:
    for job, _path, _rel, old_sha in items:
        assert job.record is not None
        yield job, _record_outcome(job.record, old_sha)


def _record_outcome(rec: Record, old_sha: str | None) -> ParseOutcome:
    t = time.perf_counter()
    sha = _record_hash(rec)
    if sha == old_sha:
        return ParseOutcome("same", None, sha, time.perf_counter() - t)
    try:
        doc = parse_text(rec.text, rec.doc_id, title=rec.title)
    except Exception as exc:
        return ParseOutcome("failed", f"{type(exc).__name__}: {exc}", sha, time.perf_counter() - t)
    return ParseOutcome("parsed", doc, sha, time.perf_counter() - t)


def _complete(m: dict[str, Any] | None) -> bool:
    return bool(m) and m.get("state") == "complete"  # type: ignore[union-attr]


class _Run:
    """State of one ingest run: settings, manifest, encoders, the pending batch, the report."""

    def __init__(
        self, store: IndexWriter, index: str, encoders: Sequence[Any], chunking: str | None,
        chunk_tokens: int | None, overlap: int | None, long_policy: str | None,
        progress: ProgressCallback | None, bars: bool | None, default_mode: str = "tokens",
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        self.t0 = time.perf_counter()
        self.store, self.index, self.filetype = store, index, "txt"
        record = store.index_record(index)
        recorded: dict[str, dict[str, Any]] = dict(record["encoders"]) if record else {}
        have = dict(record["chunking"]) if record else {}
        mode = chunking or have.get("mode") or default_mode
        size = chunk_tokens or have.get("chunk_tokens") or 256
        over = overlap if overlap is not None else have.get("overlap")
        over = 32 if over is None else over
        if mode not in CHUNK_MODES:
            raise IngestError(f"unknown chunking {mode!r}; use one of {', '.join(CHUNK_MODES)}")
        if long_policy is not None and long_policy not in LONG_POLICIES:
            raise IngestError(f"unknown long-input policy {long_policy!r}; use truncate or windows")
        if mode == "tokens" and not (0 <= over < size):
            raise IngestError(f"need 0 <= overlap < chunk tokens (got {over} and {size})")
        if not encoders and not recorded:
            raise IngestError(
                f"index {index!r} does not exist yet: name at least one encoder (-e minilm)"
            )
        self.encoders = EncoderSet(encoders, recorded, long_policy, dtype)
        self.chunking: dict[str, Any] = {
            "mode": mode,
            "chunk_tokens": size if mode != "whole" else None,
            "overlap": over if mode == "tokens" else None,
            "tokenizer": have.get("tokenizer")
            or (self.encoders.names[0] if mode != "whole" else None),
        }
        if record is not None and have != self.chunking:
            raise ChunkingMismatchError(
                f"index {index!r} was built with chunking {_describe(have)}, not "
                f"{_describe(self.chunking)}; run with the same settings (its encoders all embed the "
                "same chunks), pick another --index, or drop this one first"
            )
        self.manifest = store.manifest(index) if record is not None else {}
        self.report = IngestReport(index=index, location=store.location, encoders=list(self.encoders.names),
                                   chunking=dict(self.chunking))  # fmt: skip
        self.progress = Progress(progress, bars)
        self._registered: set[str] = set(recorded)
        self._record_exists = record is not None
        self._batch: list[tuple[DocumentWrite, list[str]]] = []  # (doc, encoders to embed)
        self._batch_chunks = 0
        self._batch_chars = 0

    # -- stages -------------------------------------------------------------------------------

    def remove(self, seen: set[str], keep_removed: bool) -> None:
        """Delete documents no longer present (pending leftovers always)."""
        gone = [
            d
            for d, m in self.manifest.items()
            if d not in seen and (not keep_removed or not _complete(m))
        ]
        if not gone:
            return
        t = time.perf_counter()
        self.progress.total("remove", len(gone))
        self.store.delete_documents(self.index, gone)
        self.report.removed += sum(1 for d in gone if _complete(self.manifest[d]))
        self.progress.advance("remove", len(gone))
        self.report.add_time("remove", time.perf_counter() - t)

    def process(self, jobs: list[_Job], outcomes: Any) -> None:
        """Split jobs into skip / add-encoder / parse, and run them through embed and write."""
        to_parse: list[_Job] = []
        to_extend: list[_Job] = []
        touch: list[DocumentWrite] = []
        for job in jobs:
            old = job.old or {}
            same_stat = old.get("size") == job.size and old.get("mtime_ns") == job.mtime_ns
            if _complete(old) and job.record is None and same_stat:
                self._unchanged(job, to_extend)
            else:
                to_parse.append(job)
        self.progress.total("parse", len(to_parse))
        items = [(j, str(j.path), j.doc_id, (j.old or {}).get("sha256") if _complete(j.old) else None)
                 for j in to_parse]  # fmt: skip
        results = outcomes(items) if items else iter(())
        if any(
            j.record is None and (not _complete(j.old) or (j.old or {}).get("size") != j.size)
            for j in to_parse
        ):
            self._load_all()  # surely something to embed: load the models while the workers parse
        for job, out in results:
            self.report.add_time("parse", out.seconds)
            self.progress.advance("parse")
            if out.status == "failed":
                self.report.fail(job.doc_id, str(out.value))
            elif out.status == "same":  # content unchanged: refresh size and mtime, don't parse
                old = job.old or {}
                moved = old.get("mtime_ns") != job.mtime_ns or old.get("size") != job.size
                job.old = {**old, "mtime_ns": job.mtime_ns, "size": job.size}
                if not self._unchanged(job, to_extend) and moved:
                    touch.append(DocumentWrite(job.doc_id, job.old, (), {}, False))
            else:
                self._add_parsed(job, out.value, out.sha256)
        self._flush()
        self._write(touch)
        self._extend(to_extend)

    def _load_all(self) -> None:
        t = time.perf_counter()
        for name in self.encoders.names:
            self.encoders.get(name)
        self.report.add_time("load", time.perf_counter() - t)

    def _unchanged(self, job: _Job, to_extend: list[_Job]) -> bool:
        """Count an unchanged document; True if it is queued for encoders it lacks."""
        self.report.unchanged += 1
        if set(self.encoders.names) - set((job.old or {}).get("encoders", ())):
            to_extend.append(job)
            return True
        return False

    def _add_parsed(self, job: _Job, doc: ParsedDocument, sha: str) -> None:
        names = self.encoders.names
        spans = None
        if self.chunking["tokenizer"]:
            t = time.perf_counter()
            spans = self.encoders.get(self.chunking["tokenizer"]).token_offsets
            self.report.add_time("load", time.perf_counter() - t)
        t = time.perf_counter()
        try:
            chunks = [c for c in chunk_document(
                doc, self.chunking["mode"], chunk_tokens=self.chunking["chunk_tokens"] or 256,
                overlap=self.chunking["overlap"] or 0, token_spans=spans) if c.text.strip()]  # fmt: skip
        except Exception as exc:
            self.report.fail(job.doc_id, f"chunking failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.report.add_time("chunk", time.perf_counter() - t)
        if not chunks:
            self.report.fail(job.doc_id, "no text found")
            return
        rec = job.record
        filetype = doc.filetype if rec is None else self.filetype
        payloads = []
        for i, c in enumerate(chunks):
            p: dict[str, Any] = {
                "doc_id": job.doc_id, "source": job.doc_id, "filetype": filetype, "title": c.title or doc.title,
                "page": c.page, "section": c.section, "chunk": i, "n_chunks": len(chunks), "text": c.text,
                "start_char": c.start_char,
            }  # fmt: skip
            if rec is not None and rec.metadata:
                p["metadata"] = rec.metadata
            payloads.append(p)
        manifest = {
            "state": "complete", "source": job.doc_id, "filetype": filetype, "title": doc.title,
            "n_chunks": len(chunks), "size": job.size if rec is None else len(rec.text.encode("utf-8", "replace")),
            "mtime_ns": job.mtime_ns, "sha256": sha, "encoders": list(names),
        }  # fmt: skip
        if _complete(job.old):
            self.report.updated += 1
        else:
            self.report.new += 1
        self._queue(DocumentWrite(job.doc_id, manifest, tuple(payloads), {}, True), list(names))

    def _extend(self, jobs: list[_Job]) -> None:
        """Embed stored chunks of unchanged documents for encoders they lack (no parsing)."""
        for start in range(0, len(jobs), 64):
            by_source: dict[str, list[_Job]] = {}
            for job in jobs[start : start + 64]:
                by_source.setdefault((job.old or {})["encoders"][0], []).append(job)
            for source, group in by_source.items():
                stored = self.store.stored_chunks(self.index, source, [j.doc_id for j in group])
                for job in group:
                    old = job.old or {}
                    chunks = tuple(stored.get(job.doc_id, ()))
                    if len(chunks) != old["n_chunks"]:  # damaged store: parse it again
                        self.report.unchanged -= 1
                        self._reparse(job)
                        continue
                    missing = [e for e in self.encoders.names if e not in old["encoders"]]
                    for e in missing:
                        self.report.encoder_added[e] = self.report.encoder_added.get(e, 0) + 1
                    manifest = {**old, "encoders": [*old["encoders"], *missing]}
                    self._queue(DocumentWrite(job.doc_id, manifest, chunks, {}, False), missing)
        self._flush()

    def _reparse(self, job: _Job) -> None:
        if job.record is not None:
            out = _record_outcome(job.record, None)
        else:
            out = parse_job(str(job.path), job.doc_id, None)
        if out.status == "parsed":
            self._add_parsed(job, out.value, out.sha256)
        else:
            self.report.fail(job.doc_id, str(out.value))

    # -- embed and write ----------------------------------------------------------------------

    def _queue(self, doc: DocumentWrite, encoders: list[str]) -> None:
        self._batch.append((doc, encoders))
        self._batch_chunks += len(doc.chunks)
        self._batch_chars += sum(len(c["text"]) for c in doc.chunks)
        if self._batch_chunks >= BATCH_CHUNKS or self._batch_chars >= BATCH_CHARS:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._batch_chunks, self._batch_chars = self._batch, [], 0, 0
        per_encoder = {
            name: [d for d, encs in batch if name in encs]
            for name in dict.fromkeys(e for _, encs in batch for e in encs)
        }
        # Progress counts chunk embeddings: each chunk once per encoder that embeds it.
        self.progress.grow(
            "embed", sum(len(d.chunks) for docs in per_encoder.values() for d in docs)
        )
        vectors: dict[str, dict[str, Any]] = {}
        for name, docs in per_encoder.items():
            mat = self._embed(name, [c["text"] for d in docs for c in d.chunks])
            row = 0
            for d in docs:
                vectors.setdefault(d.doc_id, {})[name] = mat[row : row + len(d.chunks)]
                row += len(d.chunks)
        docs = [
            DocumentWrite(d.doc_id, d.manifest, d.chunks, vectors.get(d.doc_id, {}), d.replace)
            for d, _ in batch
        ]
        self._write(docs)
        self.report.chunks += sum(len(d.chunks) for d, _ in batch)

    def _embed(self, name: str, texts: list[str]) -> Any:
        """Embed ``texts`` with encoder ``name`` in calls of at most EMBED_CALL_CHUNKS texts."""
        t = time.perf_counter()
        encoder = self.encoders.get(name)
        self.report.add_time("load", time.perf_counter() - t)
        parts = []
        for start in range(0, len(texts), EMBED_CALL_CHUNKS):
            t = time.perf_counter()
            parts.append(encoder.encode_documents(texts[start : start + EMBED_CALL_CHUNKS]))
            self.report.add_time("embed", time.perf_counter() - t)
            self.progress.advance("embed", len(parts[-1]))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros((0, encoder.info.dim), np.float32)

    def _write(self, docs: list[DocumentWrite]) -> None:
        if not docs:
            return
        t = time.perf_counter()
        self._ensure_registered({e for d in docs for e in d.vectors})
        self.store.write_documents(self.index, docs)
        self.report.add_time("write", time.perf_counter() - t)
        self.progress.grow("write", len(docs))
        self.progress.advance("write", len(docs))

    def _ensure_registered(self, names: set[str]) -> None:
        if not self._record_exists:
            self.store.ensure_index(self.index, self.chunking)
            self._record_exists = True
        for name in sorted(names - self._registered):
            self.store.add_encoder(self.index, self.encoders.get(name).info.as_dict())
            self._registered.add(name)

    def finish(self, strict: bool) -> IngestReport:
        self.progress.close()
        if self._record_exists:
            self._ensure_registered(set(self.encoders.names))  # e.g. -e NEW on an empty index
            final = self.store.manifest(self.index)
            done = [m for m in final.values() if _complete(m)]
            self.report.total_documents = len(done)
            self.report.total_chunks = sum(int(m.get("n_chunks", 0)) for m in done)
        self.report.seconds = time.perf_counter() - self.t0
        if strict and self.report.failed:
            raise IngestFailedError(self.report)
        return self.report


def _describe(ch: Mapping[str, Any]) -> str:
    if ch.get("mode") == "whole":
        return "whole (one unit per document)"
    return f"{ch.get('mode')} ({ch.get('chunk_tokens')} tokens, overlap {ch.get('overlap')}, tokenizer {ch.get('tokenizer')})"
