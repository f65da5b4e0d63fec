"""Errors raised by the encoders package. Each message says what to do next."""

from __future__ import annotations


class EncoderError(Exception):
    """Base class: a problem the user can fix (bad name, missing weights, bad input)."""


class UnknownEncoderError(EncoderError, KeyError):
    """The name is neither a preset nor a local model folder."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(EncoderError, FileNotFoundError):
    """The model's weights are not on this machine and nothing will be downloaded."""
