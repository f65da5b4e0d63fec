"""Vector engines behind :class:`search.store.Store` (see :mod:`search.engines.base`)."""
