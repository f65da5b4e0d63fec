"""Contrastive fine-tuning of any encoder on your data: ``diffsearch train``.

>>> from train import fit, from_beir, Recipe
>>> data = from_beir("../shared/data/beir/scifact", "train")
>>> result = fit("minilm", data, "runs/minilm-scifact", recipe=Recipe(epochs=1))
>>> result.name                                   # load it with adapter="runs/minilm-scifact"
'minilm@scifact'

Sits beside ``search``: it imports ``encoders``, ``ingest`` and ``search``; only ``ui`` imports
it. Importing this package does not import torch; training does.
"""

from __future__ import annotations

from typing import Any

from train.data import Example, TrainingData, from_beir, from_judgments, from_pairs
from train.errors import TrainError
from train.recipe import Mining, Recipe

__all__ = [
    "Example",
    "FitResult",
    "Mining",
    "Recipe",
    "TrainError",
    "TrainingData",
    "fit",
    "from_beir",
    "from_judgments",
    "from_pairs",
]


def __getattr__(name: str) -> Any:
    if name in ("fit", "FitResult"):
        from train import loop

        return getattr(loop, name)
    raise AttributeError(name)
