"""One contrastive training step: InfoNCE over cosine with in-batch and hard negatives.

Each query's own positive is the target; every other document of the batch (the other
queries' positives and everybody's hard negatives) is a negative, except documents known to be
relevant to that query (two queries sharing a relevant document must not push it away).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from train.model import Trainable
from train.recipe import Recipe


@dataclass(frozen=True)
class Batch:
    """Texts of one step.

    Attributes:
        queries: B query texts.
        documents: The B positives (row i is query i's), then the hard negatives.
        document_ids: Document id of each entry of ``documents``.
        relevant: For each query, the documents relevant to it (never its negatives).
    """

    queries: list[str]
    documents: list[str]
    document_ids: list[str]
    relevant: list[frozenset[str]]

    def __post_init__(self) -> None:
        if not self.queries or len(self.documents) < len(self.queries):
            raise ValueError("a batch needs queries and at least one positive per query")
        if len(self.document_ids) != len(self.documents) or len(self.relevant) != len(self.queries):
            raise ValueError("document_ids and relevant must match documents and queries")

    def false_negatives(self) -> torch.Tensor:
        """(B, N) bool: True where document j is relevant to query i but is not its target."""
        mask = torch.zeros((len(self.queries), len(self.documents)), dtype=torch.bool)
        for i, rel in enumerate(self.relevant):
            for j, doc in enumerate(self.document_ids):
                if j != i and doc in rel:
                    mask[i, j] = True
        return mask


def info_nce(
    queries: torch.Tensor, documents: torch.Tensor, temperature: float, mask: torch.Tensor
) -> torch.Tensor:
    """InfoNCE loss; row i's target is column i.

    Args:
        queries: (B, H) unit rows.
        documents: (N, H) unit rows, N >= B.
        temperature: Cosines are divided by it (0.02: logits are 50 x cosine).
        mask: (B, N) bool; True entries are left out of the softmax.

    Returns:
        Scalar mean cross-entropy.
    """
    logits = (queries.float() @ documents.float().T) / temperature
    logits = logits.masked_fill(mask.to(logits.device), float("-inf"))
    target = torch.arange(queries.shape[0], device=logits.device)
    return torch.nn.functional.cross_entropy(logits, target)


@dataclass(frozen=True)
class StepStats:
    """What one step did: its loss, the tokens the model read, and the wall time."""

    loss: float
    tokens: int
    seconds: float
    lr: float


def make_optimizer(model: Trainable, recipe: Recipe, total_steps: int) -> tuple[Any, Any]:
    """AdamW over the trainable weights and a linear warm-up then linear decay schedule."""
    params = [p for _, p in model.named_trainable()]
    optimizer = torch.optim.AdamW(
        params, lr=float(recipe.lr or 1e-4), weight_decay=recipe.weight_decay
    )
    if recipe.warmup_steps is not None:
        warmup = recipe.warmup_steps
    else:
        warmup = math.ceil(recipe.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(
    model: Trainable,
    batch: Batch,
    optimizer: Any,
    scheduler: Any = None,
    *,
    temperature: float | None = None,
    max_grad_norm: float | None = None,
    instruction: str | None = None,
) -> StepStats:
    """One optimisation step on ``batch``: forward through ``embed``, InfoNCE, backward, update.

    Args:
        model: The trainable encoder (:func:`train.model.make_trainable`).
        batch: Queries, positives, hard negatives.
        optimizer: E.g. from :func:`make_optimizer`.
        scheduler: Stepped after the optimizer, when given.
        temperature: Default: the model's recipe.
        max_grad_norm: Gradient clipping (0: none); default: the model's recipe.
        instruction: Query instruction (None: the encoder's default, as at inference).
    """
    t0 = time.perf_counter()
    recipe = model.recipe
    tau = recipe.temperature if temperature is None else temperature
    clip = recipe.max_grad_norm if max_grad_norm is None else max_grad_norm
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with model.autocast():
        q = model.embed_queries(batch.queries, instruction)
        d = model.embed_documents(batch.documents)
        loss = info_nce(q, d, tau, batch.false_negatives())
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_([p for _, p in model.named_trainable()], clip)
    lr = float(optimizer.param_groups[0]["lr"])
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    tokens = model.tokens(batch.queries, "query", instruction) + model.tokens(
        batch.documents, "document"
    )
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return StepStats(float(loss.detach()), tokens, time.perf_counter() - t0, lr)


def batch_of(
    queries: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[Sequence[str]] = (),
) -> Batch:
    """A batch from plain texts (benchmarks, tests): query i's positive is ``positives[i]``.

    Texts are their own ids, so a repeated text is one document.
    """
    docs = list(positives) + [t for group in negatives for t in group]
    relevant = [frozenset([p]) for p in positives]
    return Batch(list(queries), docs, docs, relevant)
