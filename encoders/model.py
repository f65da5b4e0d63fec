"""``TransformerEncoder``: tokenizer + sequence builder + backbone + pooler + normaliser."""

from __future__ import annotations

import inspect
import os
import threading
import warnings
from collections.abc import Sequence as Seq
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoders.batching import attention_bias, collate, token_budget_batches
from encoders.errors import EncoderError
from encoders.inputs import Kind, Sequence, SequenceBuilder
from encoders.pooling import POOLERS, l2_normalize
from encoders.spec import EncoderSpec
from encoders.vectors import VectorFormat


@dataclass(frozen=True)
class EncoderInfo:
    """What an index records about the encoder that wrote its vectors."""

    name: str
    family: str
    model_id: str
    revision: str
    dim: int
    attention: str
    pooling: str
    max_tokens: int
    long_policy: str
    quantize: str | None = None
    pool_template: bool = False
    #: ``EncoderSpec.recorded()`` of the encoder: what any process rebuilds it from (None in
    #: records written before specs were).
    spec: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record; settings at their defaults are left out, so older records still match."""
        data = asdict(self)
        for key, default in _OPTIONAL_DEFAULTS.items():
            if data.get(key) == default:
                data.pop(key)
        return data


# EncoderInfo fields added after indexes were first written: omitted from records when unset.
_OPTIONAL_DEFAULTS: dict[str, Any] = {"quantize": None, "pool_template": False}


def validate_texts(texts: Any) -> list[str]:
    """Check the input of ``encode_*``: a list of non-empty strings.

    Raises:
        ValueError: not a list/tuple of strings, or an empty/whitespace-only string.
    """
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError("encode_* takes a list of strings, not " + type(texts).__name__)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text {i} is {type(text).__name__}, not str")
        if not text.strip():
            raise ValueError(f"text {i} is empty")
    return list(texts)


def load_tokenizer(path: Path, padding_side: str, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer, without running a folder's own code.

    Diffusion LMs name a custom tokenizer class (Dream's ``DreamTokenizer``) that transformers
    cannot build without remote code. The files underneath are standard, so the fallback
    reads ``tokenizer.json`` (or byte-level BPE ``vocab.json`` + ``merges.txt``, the format
    of Qwen2's tokenizer that Dream reuses), keeping the special tokens of
    ``tokenizer_config.json`` (EOS, pad, ...).

    Raises:
        EncoderError: No tokenizer files that can be read without remote code.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast, Qwen2Tokenizer

    from encoders.backbone import drop_logs

    try:
        # A custom config.json (Dream's, LLaDA's) makes transformers warn about model types and
        # deprecated rope fields while it looks for the tokenizer class: noise for our users.
        with (
            warnings.catch_warnings(),
            drop_logs("transformers.configuration_utils", "to instantiate a model of type"),
        ):
            warnings.simplefilter("ignore", FutureWarning)
            tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (ValueError, OSError, KeyError, AttributeError, TypeError) as exc:
        # The fallbacks would log that the class named in tokenizer_config.json differs.
        with drop_logs("transformers.tokenization_utils_base", "tokenizer class"):
            if (path / "tokenizer.json").is_file():
                tok = PreTrainedTokenizerFast.from_pretrained(path)
            elif (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
                tok = Qwen2Tokenizer.from_pretrained(path)
            else:
                raise EncoderError(
                    f"{path}: cannot load its tokenizer without running the folder's own code "
                    f"({exc}); pass --trust-remote-code if you trust it."
                ) from exc
    tok.padding_side = padding_side
    # Length limits are ours (SequenceBuilder); silence the tokenizer's own >max-length warning.
    tok.model_max_length = 1 << 30
    return tok


class TransformerEncoder:
    """An embedder built from a Hugging Face checkpoint.

    Use :func:`encoders.load_encoder` rather than this constructor.

    Args:
        name: Preset name or folder name.
        family: ``diffusion``, ``ar`` or ``encoder``.
        model_id: Hub id or path the weights came from.
        revision: Snapshot the weights came from, when known.
        tokenizer: The checkpoint's tokenizer.
        backbone: Transformer body; returns ``last_hidden_state`` of shape (B, L, H).
        builder: Wraps texts in templates and applies the long-input policy.
        attention: ``bidirectional`` or ``causal``.
        pooling: ``mean``, ``last`` or ``cls``.
        explicit_mask: Pass the 4-D attention bias (BERT-style models need it for direction).
        default_instruction: Query instruction used when the caller gives none.
        padding_side: ``left`` or ``right``.
        batch_tokens: Budget of padded tokens per forward pass.
        vector_format: Matryoshka truncation and quantization of the pooled vectors.
        pool_template: Mean pooling averages template tokens too (recorded in ``info``).
        late_separator: Token id that joins a document's chunks under late chunking (the
            contextual models' input), or None to encode the document text as it is.
        default_chunking: The chunking a new index with only this encoder gets (``late``).
    """

    def __init__(
        self,
        *,
        name: str,
        family: str,
        model_id: str,
        revision: str,
        tokenizer: Any,
        backbone: torch.nn.Module,
        builder: SequenceBuilder,
        attention: str,
        pooling: str,
        explicit_mask: bool,
        default_instruction: str | None,
        padding_side: str,
        batch_tokens: int,
        vector_format: VectorFormat | None = None,
        pool_template: bool = False,
        late_separator: int | None = None,
        default_chunking: str | None = None,
    ) -> None:
        self.name = name
        self.family = family
        self.model_id = model_id
        self.revision = revision
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.builder = builder
        self.attention = attention
        self.pooling = pooling
        self.explicit_mask = explicit_mask
        self.default_instruction = default_instruction
        self.padding_side = padding_side
        self.batch_tokens = batch_tokens
        #: The spec this encoder was built from, with the folders found filled in (set by
        #: ``load_encoder``; None for an encoder built by hand).
        self.spec: EncoderSpec | None = None
        self.vector_format = vector_format or VectorFormat()
        self.pool_template = pool_template
        self.late_separator = late_separator
        self.default_chunking = default_chunking
        self.hidden_size = int(getattr(backbone.config, "hidden_size"))  # noqa: B009
        self.dim = self.vector_format.dim or self.hidden_size
        body: Any = backbone  # a transformers PreTrainedModel
        self.vocab_rows = int(body.get_input_embeddings().num_embeddings)
        pad = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.pad_id = int(pad) if pad is not None else 0
        self._pool = POOLERS[pooling]
        first = next(backbone.parameters())
        self._device, self._dtype = first.device, first.dtype
        # Positions counted over real tokens make left padding harmless for rotary models.
        # RoBERTa-style embeddings (a padding_idx) derive offset positions from the ids
        # themselves, already padding-aware; positions from 0 would be wrong for them.
        takes_positions = "position_ids" in inspect.signature(backbone.forward).parameters
        embeddings = getattr(backbone, "embeddings", None)
        self._pass_positions = takes_positions and getattr(embeddings, "padding_idx", None) is None
        self._lock = threading.Lock()  # one forward pass at a time per model

    # -- public API ---------------------------------------------------------------------------

    @property
    def max_tokens(self) -> int:
        return self.builder.max_tokens

    @property
    def long_policy(self) -> str:
        return self.builder.long_policy

    @property
    def info(self) -> EncoderInfo:
        return EncoderInfo(
            name=self.name,
            family=self.family,
            model_id=self.model_id,
            revision=self.revision,
            dim=self.dim,
            attention=self.attention,
            pooling=self.pooling,
            max_tokens=self.max_tokens,
            long_policy=self.long_policy,
            quantize=self.vector_format.quantize,
            pool_template=self.pool_template,
            spec=None if self.spec is None else self.spec.recorded(),
        )

    def encode_documents(self, texts: Seq[str]) -> np.ndarray:
        """Embed documents (no instruction).

        Returns:
            (n, dim) float32, L2-normalised, in input order.
        """
        return self._encode(validate_texts(texts), "document", None)

    def encode_queries(self, texts: Seq[str], instruction: str | None = None) -> np.ndarray:
        """Embed queries, prefixed with ``instruction`` (or the preset's default).

        Pass ``instruction=""`` for none. Instruction tokens are attended to but never pooled.

        Returns:
            (n, dim) float32, L2-normalised, in input order.
        """
        return self._encode(validate_texts(texts), "query", self.query_instruction(instruction))

    def query_instruction(self, instruction: str | None) -> str | None:
        """The instruction a query gets: ``instruction``, else the preset's default; None if none."""
        chosen = self.default_instruction if instruction is None else instruction
        return chosen or None

    def embed(self, texts: Seq[str], kind: Kind, instruction: str | None = None) -> torch.Tensor:
        """The vectors ``encode_queries`` / ``encode_documents`` return, as a tensor.

        This is the one code path of both: the same templates, instruction, pool masks,
        token-budget batches, padding, attention direction and pooling. It runs under whatever
        autograd mode the caller is in, so training calls it with gradients enabled.

        Args:
            texts: Non-empty strings.
            kind: ``query`` or ``document``.
            instruction: For queries, the instruction as :meth:`query_instruction` resolves it
                (``None``: none); ignored for documents.

        Returns:
            (n, dim) float32, L2-normalised, in input order, on the model's device.
        """
        texts = validate_texts(texts)
        if not texts:
            return torch.zeros((0, self.dim), dtype=torch.float32, device=self._device)
        seqs = self._sequences(texts, kind, instruction if kind == "query" else None)
        batches = token_budget_batches([len(s.ids) for s in seqs], self.batch_tokens)
        parts = [self._forward([seqs[i] for i in idx]) for idx in batches]
        order = torch.tensor([i for idx in batches for i in idx], device=self._device)
        # Rows come out in batch order; put them back in input order (differentiable).
        pooled = torch.cat(parts)[torch.argsort(order)]
        pooled = self.vector_format.apply(pooled)  # Matryoshka prefix, quantization
        if len(seqs) == len(texts):
            return l2_normalize(pooled)
        # windows: average each text's windows, weighted by their text tokens
        owners = torch.tensor([s.owner for s in seqs], device=pooled.device)
        weights = torch.tensor([float(s.weight) for s in seqs], device=pooled.device)
        vectors = torch.zeros((len(texts), self.dim), dtype=torch.float32, device=pooled.device)
        vectors = vectors.index_add(0, owners, l2_normalize(pooled) * weights.unsqueeze(1))
        return l2_normalize(vectors)

    def count_tokens(self, text: str) -> int:
        """Text tokens in ``text`` (no specials, no template)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each text token, for cutting text into token windows."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    def encode_spans(self, texts: Seq[str], spans: Seq[Seq[tuple[int, int]]]) -> list[np.ndarray]:
        """Late chunking: one vector per character span, from one pass over each document.

        See :mod:`encoders.late`. Each span's vector is the mean of its own tokens' output
        states; the document goes through the model once (in overlapping macro windows past
        ``max_tokens``).

        Args:
            texts: Documents (non-empty strings).
            spans: For each document, ``[(start, end), ...]`` character ranges (the chunks).

        Returns:
            For each document, ``(len(spans), dim)`` float32 unit rows in span order.

        Raises:
            EncoderError: The encoder's pooling is not mean (the message says why).
        """
        from encoders.late import encode_spans

        return encode_spans(self, validate_texts(texts), spans)

    def __repr__(self) -> str:
        return (
            f"TransformerEncoder({self.name!r}, dim={self.dim}, attention={self.attention}, "
            f"pooling={self.pooling}, max_tokens={self.max_tokens}, long={self.long_policy})"
        )

    # -- internals ----------------------------------------------------------------------------

    def _sequences(self, texts: list[str], kind: Kind, instruction: str | None) -> list[Sequence]:
        all_ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        seqs: list[Sequence] = []
        for owner, ids in enumerate(all_ids):
            seqs.extend(self.builder.build(owner, list(ids), kind, instruction))
        return seqs

    def _states(self, batch: list[Sequence]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the backbone on one padded batch.

        Returns:
            ``hidden`` (B, L, H) last-layer states, ``attention_mask`` (B, L) and
            ``pool_mask`` (B, L), on the model's device.
        """
        device = self._device
        ids, attn, pool, positions = (
            t.to(device) for t in collate(batch, self.pad_id, self.padding_side)
        )
        check_token_ids(ids, self.vocab_rows, len(self.tokenizer))
        mask: torch.Tensor = attn
        if self.explicit_mask and self.attention == "causal":
            # BERT-style models ignore config.is_causal: spell the direction out in a 4-D bias.
            # Bidirectional needs no such help: their own 2-D mask handling is correct (and,
            # when a batch has no padding, lets SDPA skip the mask altogether).
            mask = attention_bias(attn, causal=True, dtype=self._dtype)
        extra = {"position_ids": positions} if self._pass_positions else {}
        out = self.backbone(input_ids=ids, attention_mask=mask, **extra)
        return out.last_hidden_state, attn, pool

    def _forward(self, batch: list[Sequence]) -> torch.Tensor:
        """Pooled, un-normalised vectors (B, H) float32 of one batch."""
        hidden, attn, pool = self._states(batch)
        return self._pool(hidden, attn, pool)

    def _encode(self, texts: list[str], kind: Kind, instruction: str | None) -> np.ndarray:
        with self._lock, torch.inference_mode():
            vectors = self.embed(texts, kind, instruction)
        return vectors.cpu().numpy().astype(np.float32, copy=False)


def check_token_ids(ids: torch.Tensor, rows: int, vocab: int) -> None:
    """Refuse token ids the embedding matrix has no row for (a tokenizer of other weights).

    Raises:
        EncoderError: Naming the largest id, the tokenizer's size and the matrix's size.
    """
    top = int(ids.max()) if ids.numel() else 0
    if top >= rows:
        raise EncoderError(
            f"token id {top} is outside the model's embedding matrix ({rows} rows); the "
            f"tokenizer has {vocab} tokens: it does not belong to these weights (check the "
            "weights folder and its tokenizer files)"
        )


def default_device() -> str:
    """``DIFFSEARCH_DEVICE`` if set, else CUDA when available, else CPU."""
    env = os.environ.get("DIFFSEARCH_DEVICE")
    if env:
        return env
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(preset_dtype: str, device: str, override: str | None) -> torch.dtype:
    """bf16 on CUDA and fp32 on CPU, unless the preset or caller says otherwise."""
    choice = override or preset_dtype
    if choice == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        dtype = getattr(torch, choice)
    except AttributeError:
        raise EncoderError(f"unknown dtype {choice!r}") from None
    if not isinstance(dtype, torch.dtype):
        raise EncoderError(f"unknown dtype {choice!r}")
    return dtype
