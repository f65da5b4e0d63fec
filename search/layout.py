"""The store layout contract (docs/architecture.md): collection names and point ids.

One collection per (index, encoder) ``ds__<index>__<encoder>`` (names sanitized), one unnamed
cosine vector, the same point ids and payloads in each; ``ds__<index>__meta`` holds the index
record and one manifest point per document. Point id: uuid5 of (index, doc_id, chunk number).
The same names and ids in every engine: an Edge shard per collection, a qdrant-client local-mode
collection, or a server collection. Records and filters are in :mod:`search.records`.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from search.errors import QueryError

PREFIX = "ds__"
_NS = uuid.UUID("6f1c7d2e-8a43-4b0e-9a51-3c2d0f7e5b19")
_NS_BYTES = _NS.bytes
_INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SCROLL = 512


# -- names and ids ----------------------------------------------------------------------------


def check_index_name(index: str) -> str:
    """Return ``index`` if usable as an index name, else raise :class:`QueryError`."""
    if not _INDEX_NAME.match(index or "") or "__" in index:
        raise QueryError(
            f"invalid index name {index!r}: use letters, digits, '.', '-' and single '_' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return index


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_") or "x"
    if slug != name or "__" in slug or slug == "meta":
        slug = f"{slug.replace('__', '_')[:40]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return slug


def collection_name(index: str, encoder: str) -> str:
    """Collection holding ``encoder``'s vectors of ``index``."""
    return f"{PREFIX}{index}__{_slug(encoder)}"


def meta_name(index: str) -> str:
    """Collection holding the index record and the document manifest."""
    return f"{PREFIX}{index}__meta"


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NS, name))`` without the UUID object (a third of the cost; an ingest
    makes one per chunk per write; tests/search/test_layout.py compares the two)."""
    digest = bytearray(hashlib.sha1(_NS_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def point_id(index: str, doc_id: str, chunk: int) -> str:
    """Stable id of a chunk point: uuid5 of (index, doc_id, chunk number)."""
    return _uuid5(f"{index}\x00{doc_id}\x00{chunk}")


def doc_point_id(index: str, doc_id: str) -> str:
    return _uuid5(f"{index}\x00{doc_id}\x00manifest")


def record_id(index: str) -> str:
    return _uuid5(f"{index}\x00__index__")


def default_store_dir() -> Path:
    """``$XDG_DATA_HOME/diffsearch/store``, else ``~/.local/share/diffsearch/store``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "diffsearch" / "store"
