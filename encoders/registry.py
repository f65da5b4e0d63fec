"""``load_encoder``: presets or local folders, loaded once per process."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders.bm25 import BM25_NAME, load_bm25
from encoders.errors import EncoderError
from encoders.presets import Preset
from encoders.resolve import Resolved, read_config, resolve
from encoders.spec import EncoderSpec
from encoders.trained import (
    TrainedSetup,
    adapter_id,
    base_preset,
    check_base,
    check_weights,
    has_card,
    read_card,
    trained_setup,
    weights_fingerprint,
)
from encoders.vectors import VectorFormat
from encoders.weights import adapter_env_var_for, find_adapter, find_weights, require_weights

if TYPE_CHECKING:
    from encoders.model import TransformerEncoder

# Padded tokens per forward pass on the CPU. Small batches keep activations in cache: for
# MiniLM on SciFact, 4096 used 15-25% less CPU time than 16384 (benchmarks/encode.py).
CPU_BATCH_TOKENS = 4096
_CACHE: dict[EncoderSpec, TransformerEncoder] = {}
_TOKENIZERS: dict[EncoderSpec, Callable[[str], list[tuple[int, int]]]] = {}
_CACHE_LOCK = threading.Lock()


# The config.json model types each preset architecture accepts ("auto" accepts anything).
_ARCH_MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "bert": ("bert",),
    "qwen2": ("qwen2",),
    "qwen3": ("qwen3",),
    "pplx": ("bidirectional_pplx_qwen3",),
    "mistral": ("mistral",),
    "llama": ("llama",),
    "dream": ("dream",),
    "llada": ("llada",),
}


def _check_model_type(preset: Preset, path: Path) -> None:
    """Refuse a weights folder whose architecture is not the preset's (a wrong ``--weights``).

    Raises:
        EncoderError: ``config.json``'s ``model_type`` does not fit ``preset.arch``.
    """
    accepted = _ARCH_MODEL_TYPES.get(preset.arch)
    model_type = str(read_config(path).get("model_type", "")).lower()
    if accepted and model_type not in accepted:
        raise EncoderError(
            f"{path} holds a {model_type or 'unknown'!r} model, but encoder {preset.name!r} "
            f"needs {' or '.join(repr(a) for a in accepted)} weights ({preset.hub_id}): "
            "wrong weights folder?"
        )


def _snapshot_revision(path: Path, fallback: str) -> str:
    # The HF cache stores snapshots under .../snapshots/<commit>; record it when we can.
    return path.name if path.parent.name == "snapshots" else fallback


def load_encoder(
    model: EncoderSpec | str | os.PathLike[str], /, **options: Any
) -> TransformerEncoder:
    """Build the encoder a spec describes, once per process.

    ``load_encoder(spec)`` is the one way in; ``load_encoder("minilm", attention="causal")``
    builds ``EncoderSpec("minilm", attention="causal")`` and goes the same way, and
    ``load_encoder(spec, device="cpu")`` is ``spec`` with that field replaced. The cache is
    keyed by the canonical spec (see :func:`encoders.resolve.resolve`); the loaded encoder is
    also cached under its resolved spec (``encoder.spec``: the weights and adapter folders
    found filled in), so rebuilding it from what an index recorded is a cache hit.

    Args:
        model: An :class:`EncoderSpec`, a preset name (see :func:`list_encoders`), a local
            model folder, a ``diffsearch train`` output folder, or a new name
            (``minilm@scifact``) for the trained folder given as ``adapter``.
        **options: :class:`EncoderSpec` fields: ``attention``, ``pooling``, ``max_tokens``,
            ``long_policy``, ``weights``, ``adapter``, ``device``, ``dtype``, ``batch_tokens``,
            ``trust_remote_code``, ``dim``, ``quantize``, ``pool_template``. A preset name may
            carry settings as suffixes (``"pplx-embed-0.6b+dim256+int8"``).

    Raises:
        UnknownEncoderError: Not a preset and not a folder.
        WeightsNotFoundError: The weights are not on this machine.
        EncoderError: An invalid option, or one the encoder cannot take (with the allowed
            values).
    """
    if isinstance(model, EncoderSpec):
        spec = model.replace(**options) if options else model
    else:
        spec = EncoderSpec(os.fspath(model), **options)
    if spec.model == BM25_NAME:  # sparse vectors, no model: see encoders.bm25
        return load_bm25()  # type: ignore[return-value]
    resolved = resolve(spec)
    with _CACHE_LOCK:
        if resolved.spec not in _CACHE:
            encoder = _load(resolved)
            _CACHE[resolved.spec] = encoder
            assert encoder.spec is not None
            _CACHE.setdefault(resolve(encoder.spec).spec, encoder)
        return _CACHE[resolved.spec]


def fresh_encoder(
    model: EncoderSpec | str | os.PathLike[str], /, *, trainable: bool = True, **options: Any
) -> TransformerEncoder:
    """A new, uncached encoder; with ``trainable`` its backbone can be trained.

    The same build as :func:`load_encoder` (same spec, templates, pooling and attention).
    ``trainable=True`` (what ``diffsearch train`` uses) leaves out the CPU fast path, whose
    fused linear layers have no backward and cannot be wrapped by peft, and refuses adapters
    and encoders trained by diffsearch (train from their base). ``trainable=False`` gives a
    fresh copy of what :func:`load_encoder` returns, e.g. to reload a folder just written.

    Raises:
        EncoderError: A trainable encoder with an adapter, or one trained by diffsearch.
    """
    if isinstance(model, EncoderSpec):
        spec = model.replace(**options) if options else model
    else:
        spec = EncoderSpec(os.fspath(model), **options)
    resolved = resolve(spec)
    if trainable and resolved.trained is not None:
        raise EncoderError(
            f"{resolved.name!r} was trained by diffsearch; train from its base encoder instead"
        )
    if trainable and spec.adapter is not None:
        raise EncoderError("a trainable encoder takes no adapter: train from its base")
    return _load(resolved, trainable=trainable)


def describe_encoder(model: EncoderSpec | str, /, **options: Any) -> Preset:
    """The preset an encoder stands for, its settings applied, without loading or finding weights.

    Raises:
        UnknownEncoderError, EncoderError: As :func:`load_encoder` would.
    """
    spec = (
        model.replace(**options)
        if isinstance(model, EncoderSpec)
        else EncoderSpec(model, **options)
    )
    return resolve(spec).preset


def clear_cache() -> None:
    """Forget loaded encoders (frees their memory once nothing else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _TOKENIZERS.clear()


def load_token_offsets(spec: EncoderSpec) -> Callable[[str], list[tuple[int, int]]]:
    """The encoder's ``token_offsets`` without loading its model: only its tokenizer.

    For a process that chunks text for encoders that run elsewhere (a cluster's driver needs the
    tokenizer of a 7B model, not its weights). Equal to ``load_encoder(spec).token_offsets``.
    """
    if spec.model == BM25_NAME:
        return load_bm25().token_offsets
    resolved = resolve(spec)
    with _CACHE_LOCK:
        if resolved.spec in _CACHE:
            return _CACHE[resolved.spec].token_offsets
        if resolved.spec not in _TOKENIZERS:
            from encoders.model import load_tokenizer

            path = resolved.folder or require_weights(resolved.base, spec.weights)
            tokenizer = load_tokenizer(path, resolved.preset.padding_side, spec.trust_remote_code)

            def offsets(text: str) -> list[tuple[int, int]]:
                enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

            _TOKENIZERS[resolved.spec] = offsets
        return _TOKENIZERS[resolved.spec]


def _load(resolved: Resolved, trainable: bool = False) -> TransformerEncoder:
    spec, base = resolved.spec, resolved.base
    if resolved.trained is not None:
        path, adapter_path = _trained_paths(resolved.trained, spec.weights)
        ident = resolved.trained.adapter_id
        # A named trained encoder records its folder; a folder model is its own record.
        recorded_adapter = None if has_card(spec.model) else resolved.trained.root
    else:
        path = resolved.folder or require_weights(base, spec.weights)
        adapter_path = None if trainable else find_adapter(base, spec.adapter)
        if base.needs_adapter and adapter_path is None and not trainable:
            hint = (
                "Use the 'dream' preset for the zero-shot backbone."
                if base.mask_slot is None
                else f"The adapter is {base.adapter_id}: download it like the weights, or put "
                "it in the Hugging Face cache or under $DIFFSEARCH_MODELS_DIR."
            )
            raise EncoderError(
                f"encoder {base.name!r} needs its LoRA adapter: pass --adapter {base.name}=DIR "
                f"(Python: adapter='DIR') or set {adapter_env_var_for(base.name)}=DIR. {hint}"
            )
        ident = None
        if adapter_path is not None and has_card(adapter_path):
            check_base(read_card(adapter_path), base, adapter_path)
            setup = trained_setup(adapter_path, base.name)
            path, adapter_path = _trained_paths(setup, spec.weights)
            ident = setup.adapter_id
        elif adapter_path is not None:
            ident = adapter_id(adapter_path) or None
        recorded_adapter = adapter_path
    if spec.adapter_id is not None and spec.adapter_id != ident:
        raise EncoderError(
            f"encoder {resolved.name!r}: the trained weights found "
            f"({recorded_adapter or spec.model}, id {ident}) are not the ones asked for (id "
            f"{spec.adapter_id}, e.g. what an index was written with): pass the right "
            f"--adapter {resolved.name}=DIR"
        )
    encoder = _build(
        resolved.preset, path, adapter_path, spec, resolved.vectors, fuse=not trainable
    )
    # What was actually loaded: the folders the lookup found, for workers and index records.
    encoder.spec = spec.replace(
        weights=str(path),
        adapter=None if recorded_adapter is None else str(recorded_adapter),
        adapter_id=ident,
    )
    return encoder


def _trained_paths(setup: TrainedSetup, weights: str | None) -> tuple[Path, Path | None]:
    """Weights folder and adapter of a trained encoder, its base weights checked.

    The base weights are the ones ``weights`` names, else the first of the usual lookup and the
    folder training read whose fingerprint is the card's; anything else is refused.
    """
    if setup.weights is not None:  # full fine-tuning: the folder holds the model
        return setup.weights, None
    card = read_card(setup.root)
    base = base_preset(card)
    if weights is not None:
        path = require_weights(base, weights)
    else:
        recorded = Path(str(card["base"].get("weights") or ""))
        options = [p for p in (find_weights(base), recorded) if p and (p / "config.json").is_file()]
        want = card["base"].get("fingerprint")
        fitting = [p for p in options if weights_fingerprint(p) == want]
        path = (fitting or options or [require_weights(base)])[0]
    check_weights(card, path, setup.root)
    return path, setup.adapter


def _fuse_on_cpu(backbone: Any, tokenizer: Any) -> None:
    """Use the fused oneDNN linear layers on the CPU (see ``encoders.fastpath``)."""
    import torch

    from encoders.fastpath import fuse_cpu_linears

    ids = tokenizer("The quick brown fox jumps over the lazy dog.")["input_ids"]
    # A tokenizer that does not match the weights is reported when it is used, not here.
    rows = backbone.get_input_embeddings().num_embeddings
    ids = [i for i in ids if i < rows] or [0]
    fuse_cpu_linears(backbone, torch.tensor([ids], dtype=torch.int64))


def _builder(preset: Preset, tokenizer: Any, limit: int, spec: EncoderSpec) -> Any:
    """The preset's :class:`~encoders.inputs.SequenceBuilder` (templates, slot, pooled tokens)."""
    from encoders.inputs import SequenceBuilder

    query_template, doc_template = preset.query_template, preset.doc_template
    slot: list[int] = []
    if preset.mask_slot is not None:
        from encoders.prompts import chat_wrapped, slot_ids

        query_template = chat_wrapped(tokenizer, preset.mask_slot, query_template)
        doc_template = chat_wrapped(tokenizer, preset.mask_slot, doc_template)
        slot = slot_ids(tokenizer, preset.mask_slot)
    end_id = None
    if preset.end_token is not None:
        end_id = tokenizer.convert_tokens_to_ids(preset.end_token)
        if not isinstance(end_id, int) or end_id == getattr(tokenizer, "unk_token_id", None):
            raise EncoderError(f"the tokenizer has no {preset.end_token!r} token to end texts with")
    target = "all" if spec.pool_template else ("slot" if preset.pooling == "mask" else "text")
    return SequenceBuilder(
        tokenizer,
        query_template=query_template,
        doc_template=doc_template,
        instruction_format=preset.instruction_format,
        max_tokens=limit,
        append_eos=preset.append_eos,
        pool_special_tokens=preset.pool_special_tokens,
        long_policy=spec.long_policy,
        end_token_id=end_id,
        slot=slot,
        slot_pooled=preset.mask_slot.count if preset.mask_slot else 0,
        pool_target=target,  # type: ignore[arg-type]
        specials=preset.mask_slot is None,  # the chat template carries the specials
    )


def _build(
    preset: Preset,
    path: Path,
    adapter: Path | None,
    spec: EncoderSpec,
    vectors: VectorFormat,
    *,
    fuse: bool = True,
) -> TransformerEncoder:
    from encoders.backbone import load_backbone
    from encoders.model import TransformerEncoder, default_device, load_tokenizer, resolve_dtype

    _check_model_type(preset, path)
    dev = spec.device or default_device()
    torch_dtype = resolve_dtype(preset.dtype, dev, spec.dtype)
    tokenizer = load_tokenizer(path, preset.padding_side, spec.trust_remote_code)
    backbone = load_backbone(
        path,
        preset.arch,
        causal=preset.attention == "causal",
        dtype=torch_dtype,
        device=dev,
        adapter=adapter,
        trust_remote_code=spec.trust_remote_code,
    )
    if fuse:
        _fuse_on_cpu(backbone, tokenizer)
    hidden = int(getattr(backbone.config, "hidden_size", 0))
    if preset.dim and hidden and hidden != preset.dim and preset.hub_id != str(path):
        # Same architecture, other size (a smaller sibling, a test model): usable, but say so,
        # because indexes record the dimension.
        warnings.warn(
            f"{path} has hidden size {hidden}; preset {preset.name!r} describes {preset.dim}. "
            f"Vectors will have {hidden} dimensions.",
            stacklevel=4,
        )
    positions = getattr(backbone.config, "max_position_embeddings", None)
    limit = min(preset.max_tokens, int(positions)) if positions else preset.max_tokens
    if vectors.dim is not None and hidden and vectors.dim >= hidden:
        raise EncoderError(f"dim={vectors.dim} is not smaller than {path}'s hidden size {hidden}")
    builder = _builder(preset, tokenizer, limit, spec)
    env_budget = os.environ.get("DIFFSEARCH_BATCH_TOKENS")
    budget = spec.batch_tokens or (
        int(env_budget) if env_budget else (65536 if dev.startswith("cuda") else CPU_BATCH_TOKENS)
    )
    separator = None
    if preset.late_separator is not None:
        separator = int(tokenizer.convert_tokens_to_ids(preset.late_separator))
    return TransformerEncoder(
        name=preset.name,
        family=preset.family,
        model_id=preset.hub_id,
        revision=_snapshot_revision(path, preset.revision),
        tokenizer=tokenizer,
        backbone=backbone,
        builder=builder,
        attention=preset.attention,
        pooling=preset.pooling,
        explicit_mask=preset.arch == "bert"
        or (preset.arch == "auto" and preset.family == "encoder"),
        default_instruction=preset.default_instruction,
        padding_side=preset.padding_side,
        batch_tokens=budget,
        vector_format=vectors,
        pool_template=spec.pool_template,
        late_separator=separator,
        default_chunking=preset.default_chunking,
    )
