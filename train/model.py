"""The model being trained: an encoder whose backbone has LoRA adapters (peft) or trains fully.

It wraps the very :class:`encoders.model.TransformerEncoder` that inference uses and calls its
``embed`` (templates, instruction, pool masks, token-budget batches, padding, attention
direction, pooling: one code path), with gradients. LoRA modules are injected into the backbone
in place, so the encoder's forward pass runs through them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train.errors import TrainError
from train.recipe import Recipe


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Leaf names of every ``nn.Linear`` in ``model``: all attention and MLP projections.

    For BERT-style models: ``query``, ``key``, ``value`` and ``dense`` (attention output,
    intermediate and output layers); for Qwen2/Llama/Mistral: ``q_proj``, ``k_proj``,
    ``v_proj``, ``o_proj``, ``gate_proj``, ``up_proj``, ``down_proj``.
    """
    names = {
        name.rsplit(".", 1)[-1] for name, m in model.named_modules() if type(m) is torch.nn.Linear
    }
    return sorted(names)


class Trainable:
    """An encoder that trains, and encodes exactly as its inference twin.

    Use :func:`make_trainable` or :func:`build_trainable`.

    Attributes:
        encoder: The encoder (its ``backbone`` holds the LoRA layers, if any).
        recipe: The resolved recipe.
        peft_model: The peft wrapper (LoRA), else None.
        targets: Module names LoRA wraps (empty for full fine-tuning).
        base_max_tokens: The encoder's input limit at inference (training may truncate shorter).
    """

    def __init__(
        self,
        encoder: Any,
        recipe: Recipe,
        peft_model: Any,
        targets: list[str],
        base_max_tokens: int,
    ) -> None:
        self.encoder = encoder
        self.recipe = recipe
        self.peft_model = peft_model
        self.targets = targets
        self.base_max_tokens = base_max_tokens
        first = next(encoder.backbone.parameters())
        self.device = first.device

    # -- encoding, with gradients (training) or without (dev evaluation) ---------------------

    @property
    def info(self) -> Any:
        return self.encoder.info

    def query_instruction(self, instruction: str | None) -> str | None:
        return self.encoder.query_instruction(instruction)

    def embed_queries(self, texts: Sequence[str], instruction: str | None = None) -> torch.Tensor:
        """(n, dim) float32 unit rows, with gradients when enabled (as ``encode_queries``)."""
        return self.encoder.embed(texts, "query", self.query_instruction(instruction))

    def embed_documents(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, dim) float32 unit rows, with gradients when enabled (as ``encode_documents``)."""
        return self.encoder.embed(texts, "document")

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        """Like the encoder's ``encode_queries`` (eval mode, no gradients)."""
        with self._evaluating(), torch.inference_mode(), self.autocast():
            return self.embed_queries(texts, instruction).float().cpu().numpy()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Like the encoder's ``encode_documents`` (eval mode, no gradients)."""
        with self._evaluating(), torch.inference_mode(), self.autocast():
            return self.embed_documents(texts).float().cpu().numpy()

    def tokens(self, texts: Sequence[str], kind: str, instruction: str | None = None) -> int:
        """Tokens the model reads for ``texts`` (specials, template and instruction included)."""
        instruction = self.query_instruction(instruction) if kind == "query" else None
        seqs = self.encoder._sequences(list(texts), kind, instruction)
        return sum(len(s.ids) for s in seqs)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast for full fine-tuning in bf16 (LoRA in bf16 keeps bf16 base weights)."""
        if self.recipe.bf16 and self.recipe.method == "full":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        was = self.encoder.backbone.training
        self.encoder.backbone.eval()
        try:
            yield
        finally:
            self.encoder.backbone.train(was)

    def train(self, mode: bool = True) -> None:
        """Dropout on (training) or off."""
        self.encoder.backbone.train(mode)

    # -- weights ------------------------------------------------------------------------------

    def named_trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.encoder.backbone.named_parameters() if p.requires_grad]

    def state(self) -> dict[str, torch.Tensor]:
        """Copies of the trainable tensors, by name (for checkpoints)."""
        return {n: p.detach().to("cpu", copy=True).contiguous() for n, p in self.named_trainable()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put checkpointed tensors back.

        Raises:
            TrainError: The checkpoint does not hold exactly this model's trainable tensors.
        """
        params = dict(self.named_trainable())
        if set(params) != set(tensors):
            raise TrainError("the checkpoint does not fit this model (other recipe or encoder?)")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(tensors[name].to(param.device, param.dtype))

    def save(self, folder: Path) -> list[Path]:
        """Write the trained weights into ``folder``: a peft adapter, or ``model/`` (full).

        Returns:
            The files and folders written (the training card is written separately).
        """
        from encoders.trained import FULL_MODEL_DIR

        folder.mkdir(parents=True, exist_ok=True)
        if self.peft_model is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # peft warns about a base with no hub config
                self.peft_model.save_pretrained(str(folder))
            (folder / "README.md").unlink(
                missing_ok=True
            )  # peft's model card: ours is written later
            return [folder / "adapter_config.json", folder / "adapter_model.safetensors"]
        target = folder / FULL_MODEL_DIR
        self.encoder.backbone.save_pretrained(str(target))
        self.encoder.tokenizer.save_pretrained(str(target))
        return [target]


def make_trainable(encoder: Any, recipe: Recipe) -> Trainable:
    """Make ``encoder`` trainable as ``recipe`` says (LoRA or full; gradient checkpointing).

    ``encoder`` must not use the CPU fast path (build it with ``encoders.registry.fresh_encoder``
    or :func:`build_trainable`). This is also the entry point of the GPU benchmark: build an
    encoder from any checkpoint, make it trainable, then call :func:`train.step.train_step`.

    Raises:
        TrainError: peft is missing, or LoRA targets match no module.
    """
    from encoders.fastpath import FusedLinear

    backbone = encoder.backbone
    if any(isinstance(m, FusedLinear) for m in backbone.modules()):
        raise TrainError("this encoder uses the fused CPU inference path; build it unfused")
    base_limit = int(encoder.max_tokens)
    if recipe.max_tokens is not None:
        encoder.builder.max_tokens = min(base_limit, recipe.max_tokens)
    if recipe.batch_tokens is not None:
        encoder.batch_tokens = recipe.batch_tokens
    if recipe.model_dropout is not None:
        # Before peft adds its own dropout layers (the LoRA branch's, which keep their rate).
        for module in backbone.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = recipe.model_dropout
    torch.manual_seed(recipe.seed)  # LoRA's initialisation
    peft_model = None
    targets: list[str] = []
    if recipe.method == "lora":
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise TrainError("LoRA training needs peft: pip install 'diffsearch[lora]'") from None
        targets = list(recipe.target_modules) or linear_module_names(backbone)
        config = LoraConfig(
            r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
            target_modules=targets, bias="none",
        )  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
                peft_model = get_peft_model(backbone, config)
        except ValueError as exc:
            raise TrainError(f"LoRA targets {targets}: {exc}") from None
    else:
        for param in backbone.parameters():
            param.requires_grad_(True)
    if recipe.gradient_checkpointing and getattr(
        backbone, "supports_gradient_checkpointing", False
    ):
        # Non-reentrant checkpointing needs no input gradients (peft's frozen embeddings).
        backbone.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    backbone.train()
    return Trainable(encoder, recipe, peft_model, targets, base_limit)


def build_trainable(
    name: str,
    recipe: Recipe,
    *,
    weights: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> Trainable:
    """Load encoder ``name`` (a preset or a model folder) fresh and make it trainable.

    ``recipe`` must be resolved (:meth:`Recipe.resolved`). LoRA in bf16 loads the base weights
    in bf16 (the adapters stay float32); everything else loads float32.
    """
    from encoders.registry import fresh_encoder

    dtype = "bfloat16" if recipe.bf16 and recipe.method == "lora" else "float32"
    encoder = fresh_encoder(
        name, weights=weights, device=device, dtype=dtype, trust_remote_code=trust_remote_code
    )
    return make_trainable(encoder, recipe)
