"""One contrastive LoRA step of an encoder: the cost of fine-tuning, measured.

MINIMAL STEP, written for this benchmark (the project's ``train`` package had not landed on
``main`` when it was written): the paper's recipe reduced to what costs time and memory. LoRA
(peft) r=16, alpha 32, dropout 0.05 on q/k/v/o/gate/up/down; gradient checkpointing; InfoNCE
over cosine at temperature 0.02 with in-batch negatives plus one hard negative per query;
AdamW on the LoRA weights. Texts go through the encoder's own sequences, padding, attention
direction and pooling (its ``_forward``, with gradients), so the step encodes exactly as
inference does.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from encoders.batching import token_budget_batches
from encoders.pooling import l2_normalize

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TEMPERATURE = 0.02


def add_lora(encoder: Any) -> Any:
    """Wrap the encoder's backbone in LoRA (in place) and turn gradient checkpointing on.

    Returns:
        The peft model (its base model is ``encoder.backbone``, now holding LoRA layers).
    """
    from peft import LoraConfig, get_peft_model

    backbone = encoder.backbone
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=list(LORA_TARGETS))
    peft_model = get_peft_model(backbone, config)
    # Non-reentrant checkpointing needs no input that requires grad (the embeddings are frozen).
    backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    backbone.config.use_cache = False
    return peft_model


def _embed(encoder: Any, texts: list[str], kind: str) -> torch.Tensor:
    """(n, dim) unit rows with gradients, in input order, batched by the encoder's budget."""
    seqs = encoder._sequences(texts, kind, None)
    if len(seqs) != len(texts):
        raise ValueError("training texts must fit in one window")
    parts: list[torch.Tensor] = []
    order: list[int] = []
    for idx in token_budget_batches([len(s.ids) for s in seqs], encoder.batch_tokens):
        parts.append(encoder._forward([seqs[i] for i in idx]))
        order.extend(idx)
    vectors = torch.cat(parts)[torch.argsort(torch.tensor(order, device=parts[0].device))]
    return l2_normalize(vectors)


def info_nce(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of query i against document i among all documents (B, N >= B)."""
    logits = queries @ documents.T / TEMPERATURE
    return torch.nn.functional.cross_entropy(
        logits, torch.arange(len(queries), device=logits.device)
    )


def lora_step(
    encoder: Any, optimizer: Any, queries: list[str], positives: list[str], negatives: list[str]
) -> dict[str, float]:
    """One optimisation step; returns its ``loss`` and wall ``seconds`` (CUDA synchronised)."""
    device = next(encoder.backbone.parameters()).device
    t0 = time.perf_counter()
    encoder.backbone.train()
    optimizer.zero_grad(set_to_none=True)
    q = _embed(encoder, queries, "query")
    d = _embed(encoder, positives + negatives, "document")
    loss = info_nce(q, d)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {"loss": float(loss.detach()), "seconds": time.perf_counter() - t0}


def trainable(peft_model: Any) -> list[torch.nn.Parameter]:
    return [p for p in peft_model.parameters() if p.requires_grad]
