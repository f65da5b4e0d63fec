"""Fixtures shared by the ingest tests (add fixtures; do not remove others' fixtures)."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest


class NetworkAttempt(AssertionError):
    """Raised by the ``no_network`` fixture when code tries to reach the network."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any network attempt (urlopen, socket connect, DNS) raise; returns the attempts."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise NetworkAttempt(f"network access attempted: {args[:2]!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture(scope="session")
def mixed_docs(shared_data: Path) -> Path:
    """``shared/data/mixed_docs`` (36 real files of mixed formats); skips when absent."""
    folder = shared_data / "mixed_docs"
    if not folder.is_dir():
        pytest.skip(f"mixed_docs not found at {folder}")
    return folder
