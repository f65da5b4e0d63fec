"""Which exceptions carry a message written for the user (shown without a traceback)."""

from __future__ import annotations

import importlib

_USER_ERRORS = (
    ("encoders.errors", "EncoderError"),
    ("ingest.errors", "IngestError"),
    ("search.errors", "SearchError"),
    ("train.errors", "TrainError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The base error class of each package (imported lazily: none of them imports torch)."""
    found: list[type[BaseException]] = []
    for module, name in _USER_ERRORS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)
