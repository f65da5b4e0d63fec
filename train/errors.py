"""The error ``diffsearch train`` reports to the user as one line (exit 2)."""

from __future__ import annotations


class TrainError(Exception):
    """Bad training data or options, or an output folder that may not be written."""
