"""Errors from the store, search and evaluation. Messages say what to do next."""

from __future__ import annotations


class SearchError(Exception):
    """Base class for problems the user can fix; the CLI prints them and exits 2."""


class StoreError(SearchError):
    """The Qdrant store cannot be used as asked."""


class StoreLockedError(StoreError):
    """The embedded store folder is held by another process (e.g. a running UI)."""


class DiskFullError(StoreError):
    """The disk under the store is full; the message says how much was needed or free."""


class StoreUnreachableError(StoreError):
    """No Qdrant server answered at the given URL."""


class IndexNotFoundError(SearchError):
    """No index of that name; the message lists the ones that exist."""


class EncoderNotInIndexError(SearchError):
    """The index has no vectors from that encoder; the message says how to add them."""


class IndexMismatchError(SearchError):
    """Vectors of another size or encoder than the index records."""


class QueryError(SearchError):
    """Bad query input: empty query, k < 1, malformed filter."""
