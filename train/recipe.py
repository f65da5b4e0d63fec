"""The training recipe: every setting that shapes the trained weights, with the paper's defaults.

Defaults follow Zhang et al. (2025) and DiffEmbed's code: LoRA r=16, alpha 32, dropout 0.05 on
every linear projection of attention and MLP; InfoNCE over cosine similarity at temperature
0.02; in-batch negatives plus one hard negative per query; one epoch; learning rate 1e-4
(5e-5 for diffusion LMs); gradient checkpointing and bf16 where the device supports them.
Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal

from train.errors import TrainError

Method = Literal["lora", "full"]


@dataclass(frozen=True)
class Recipe:
    """How to train.

    Attributes:
        method: ``lora`` (a peft adapter) or ``full`` (every weight; small encoders).
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling numerator (the update is scaled by alpha / r).
        lora_dropout: Dropout on the LoRA branch's input.
        target_modules: Module names LoRA wraps; empty: every linear layer of the transformer
            body (attention q/k/v/output and MLP projections).
        temperature: InfoNCE temperature on cosine similarities (0.02: logits = 50 x cosine).
        hard_negatives: Mined (or given) hard negatives per query, besides the in-batch ones.
        lr: Peak learning rate; None: 1e-4, or 5e-5 for diffusion LMs.
        warmup_ratio: Share of the steps spent warming up linearly from 0.
        warmup_steps: Warm-up in steps (overrides ``warmup_ratio``).
        epochs: Passes over the training examples.
        batch_size: Queries per step (each with its positive and hard negatives).
        max_tokens: Longest training input, template included; None: the encoder's own limit.
        batch_tokens: Padded tokens per forward pass inside a step; None: the encoder's budget.
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient clipping (0: none).
        seed: Seed of the data order, the choice of hard negatives, LoRA's initialisation and
            dropout.
        gradient_checkpointing: None: on for CUDA, off on the CPU (where memory is not short).
        bf16: None: bf16 on a GPU that supports it, float32 elsewhere.
        instruction: Query instruction; None: the encoder's default (as at inference).
        model_dropout: Dropout of the checkpoint's own layers while training. None: 0 with
            LoRA (as in the paper, whose LLMs have no dropout: only the LoRA branch drops out),
            the checkpoint's own (BERT: 0.1) with full fine-tuning.
    """

    method: Method = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()
    temperature: float = 0.02
    hard_negatives: int = 1
    lr: float | None = None
    warmup_ratio: float = 0.1
    warmup_steps: int | None = None
    epochs: int = 1
    batch_size: int = 32
    max_tokens: int | None = None
    batch_tokens: int | None = None
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    gradient_checkpointing: bool | None = None
    bf16: bool | None = None
    instruction: str | None = None
    model_dropout: float | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.method in ("lora", "full"), f"method must be lora or full, not {self.method!r}"),
            (self.lora_r >= 1, "LoRA rank must be at least 1"),
            (self.lora_alpha > 0, "LoRA alpha must be positive"),
            (0 <= self.lora_dropout < 1, "LoRA dropout must be in [0, 1)"),
            (self.temperature > 0, "temperature must be positive"),
            (self.hard_negatives >= 0, "hard negatives must be 0 or more"),
            (self.lr is None or self.lr > 0, "learning rate must be positive"),
            (0 <= self.warmup_ratio < 1, "warm-up ratio must be in [0, 1)"),
            (self.warmup_steps is None or self.warmup_steps >= 0, "warm-up steps must be >= 0"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.max_tokens is None or self.max_tokens >= 8, "max tokens must be at least 8"),
            (self.batch_tokens is None or self.batch_tokens >= 8, "batch tokens must be >= 8"),
            (self.weight_decay >= 0, "weight decay must be 0 or more"),
            (self.max_grad_norm >= 0, "max grad norm must be 0 or more"),
            (
                self.model_dropout is None or 0 <= self.model_dropout < 1,
                "model dropout must be in [0, 1)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainError(message)

    def resolved(self, *, family: str, device: str, bf16_supported: bool) -> Recipe:
        """The recipe with every ``None`` default decided for this encoder and device."""
        cuda = device.startswith("cuda")
        return dataclasses.replace(
            self,
            lr=self.lr if self.lr is not None else (5e-5 if family == "diffusion" else 1e-4),
            gradient_checkpointing=(
                cuda if self.gradient_checkpointing is None else self.gradient_checkpointing
            ),
            bf16=(cuda and bf16_supported) if self.bf16 is None else self.bf16,
            model_dropout=(
                0.0 if self.model_dropout is None and self.method == "lora" else self.model_dropout
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass(frozen=True)
class Mining:
    """Hard-negative mining.

    Attributes:
        encoder: Encoder that ranks the corpus (None: the one being trained, before training).
        depth: Candidates per query: the best-ranked documents that are not positives.
        skip: Leave out this many of the best non-positive documents first (likely unjudged
            positives, i.e. false negatives).
    """

    encoder: str | None = None
    depth: int = 30
    skip: int = 0

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise TrainError("mining depth must be at least 1")
        if self.skip < 0:
            raise TrainError("mining skip must be 0 or more")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
