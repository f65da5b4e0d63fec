"""Document ingestion: load -> parse -> chunk -> embed -> write, each stage an iterator.

>>> from ingest import ingest_folder
>>> from search.store import open_store
>>> with open_store(path="/tmp/store") as store:
...     report = ingest_folder("docs/", index="notes", encoders=["minilm"], store=store)

Ingest writes through the :class:`~ingest.write.IndexWriter` protocol and never imports
``search``; importing this package imports neither torch nor ``unstructured``.
"""

from __future__ import annotations

from ingest.errors import (
    ChunkingMismatchError,
    EncoderLoadError,
    EncoderMismatchError,
    IngestError,
    IngestFailedError,
    ParseError,
)
from ingest.pipeline import ingest_folder, ingest_records
from ingest.report import IngestReport, ProgressCallback, Record
from ingest.write import DocumentWrite, IndexWriter

__all__ = [
    "ChunkingMismatchError",
    "DocumentWrite",
    "EncoderLoadError",
    "EncoderMismatchError",
    "IndexWriter",
    "IngestError",
    "IngestFailedError",
    "IngestReport",
    "ParseError",
    "ProgressCallback",
    "Record",
    "ingest_folder",
    "ingest_records",
]
