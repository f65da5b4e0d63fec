"""``EncoderSpec``: a frozen, serialisable description of an encoder that any process can build.

A spec is the one way into :func:`encoders.load_encoder` (the keyword form builds one) and the
key of its per-process cache. It travels as JSON (``to_dict`` / ``from_dict``) or by pickle, so
a worker process or another machine builds the same encoder from it, and an index records the
spec of every encoder next to its ``EncoderInfo``.

Each field is one of three kinds (its ``metadata["kind"]``):

* ``vectors`` (the default): changes the vectors (model, attention, pooling, max tokens, long
  policy, ...). Recorded by an index and compared: an index refuses an encoder that differs.
* ``location``: where files are on *this* machine (weights and adapter folders). Recorded as a
  hint, never compared by value (another machine keeps its weights elsewhere), only by presence
  (merging an adapter or not changes the vectors).
* ``runtime``: how this process runs it (device, dtype, batch tokens, remote code). Neither
  recorded nor compared.

Adding a field is one line with a default, e.g. ``quantize: str | None = None`` (a ``vectors``
field) or ``threads: int | None = runtime()``; serialisation, the cache key, what an index
records and the mismatch check all follow from the field list.

Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from encoders.errors import EncoderError
from encoders.presets import ATTENTIONS, LONG_POLICIES, POOLINGS, PRESETS, QUANTIZATIONS

VECTORS, LOCATION, RUNTIME = "vectors", "location", "runtime"


def location(default: Any = None) -> Any:
    """A field that names a folder on this machine (recorded as a hint, compared by presence)."""
    return field(default=default, metadata={"kind": LOCATION})


def runtime(default: Any = None) -> Any:
    """A field that only says how this process runs the encoder (never recorded)."""
    return field(default=default, metadata={"kind": RUNTIME})


def _kind(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("kind", VECTORS))


def _folder(value: Any) -> str | None:
    """A folder argument as an absolute path string (so spellings of one folder compare equal)."""
    if value is None or value == "":
        return None
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that decides which encoder :func:`encoders.load_encoder` builds.

    Attributes:
        model: A preset name (see ``diffsearch encoders``) or a local Hugging Face model folder.
        attention: Override the preset's ``bidirectional`` / ``causal`` attention.
        pooling: Override the pooling: ``mean``, ``last`` or ``cls``.
        max_tokens: Override the longest model input (template tokens included).
        long_policy: ``truncate`` (keep the first tokens) or ``windows`` (average overlapping
            windows) for texts longer than ``max_tokens``.
        weights: Folder with the preset's weights (else the lookup of ``encoders.weights``);
            for a folder model, a copy of that folder elsewhere.
        adapter: LoRA adapter folder (required by ``diffembed``), or a ``diffsearch train``
            output folder (under a preset's name its card must name that preset; under a new
            name such as ``minilm@scifact`` it defines that encoder).
        adapter_id: Short hash of the adapter's (or fine-tuned model's) weights. Filled in by
            ``load_encoder`` and recorded by indexes, so an index refuses other trained weights
            under the same name; when given, the adapter found must have this hash.
        device: ``cpu``, ``cuda``, ... (default: ``DIFFSEARCH_DEVICE``, else CUDA if present).
        dtype: ``float32``, ``bfloat16``, ... (default: bf16 on CUDA, fp32 on CPU).
        batch_tokens: Padded tokens per forward pass (default: ``DIFFSEARCH_BATCH_TOKENS``,
            else 4096 on CPU, 65536 on CUDA).
        trust_remote_code: Allow a folder's own modelling code (off unless asked for).
        dim: Matryoshka truncation: keep the first ``dim`` coordinates, then renormalise (only
            for models trained for it; see ``diffsearch encoders``).
        quantize: ``int8`` (``clamp(round(tanh(x) * 127))``) or ``binary`` (sign), pplx-embed's
            rules, for models trained for them.
        pool_template: Mean pooling also averages template and instruction tokens, as
            DiffEmbed's training code does (for adapters trained with it).

    ``model`` may carry settings as name suffixes (``"pplx-embed-0.6b+dim256+int8"``,
    ``"minilm+causal"``, see :mod:`encoders.naming`): they fill the fields above, so an encoder
    name is a spec too.
    """

    model: str
    attention: str | None = None
    pooling: str | None = None
    max_tokens: int | None = None
    long_policy: str = "truncate"
    weights: str | None = location()
    adapter: str | None = location()
    adapter_id: str | None = None
    device: str | None = runtime()
    dtype: str | None = runtime()
    batch_tokens: int | None = runtime()
    trust_remote_code: bool = runtime(False)
    dim: int | None = None
    quantize: str | None = None
    pool_template: bool = False

    def __post_init__(self) -> None:
        model = os.fspath(self.model) if isinstance(self.model, os.PathLike) else self.model
        if not isinstance(model, str) or not model.strip():
            raise EncoderError(f"an encoder needs a preset name or a model folder, not {model!r}")
        if model not in PRESETS and Path(model).expanduser().is_dir():
            model = str(Path(model).expanduser().resolve())
        elif model not in PRESETS and "+" in model:
            model = self._settings_from_name(model)
            if model not in PRESETS and Path(model).expanduser().is_dir():
                model = str(Path(model).expanduser().resolve())
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "weights", _folder(self.weights))
        object.__setattr__(self, "adapter", _folder(self.adapter))
        _check_choice("attention", self.attention, ATTENTIONS)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("long_policy", self.long_policy, LONG_POLICIES)
        if self.max_tokens is not None and self.max_tokens < 8:
            raise EncoderError("max_tokens must be at least 8")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise EncoderError("batch_tokens must be at least 1")
        _check_choice("quantize", self.quantize, QUANTIZATIONS)
        if self.dim is not None and (not isinstance(self.dim, int) or self.dim < 1):
            raise EncoderError(f"dim must be a positive number of dimensions, not {self.dim!r}")
        object.__setattr__(self, "pool_template", bool(self.pool_template))

    def _settings_from_name(self, name: str) -> str:
        """Fill the fields a name's suffixes carry; returns the name without them."""
        from encoders.naming import split_name

        base, named = split_name(name)
        for key, value in named.items():
            mine = getattr(self, key)
            if mine not in (None, False) and mine != value:
                raise EncoderError(
                    f"{key}={mine!r} contradicts the encoder name {name!r} (+{value})"
                )
            object.__setattr__(self, key, value)
        return base

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncoderSpec:
        """The spec ``to_dict`` (or an index record) wrote; missing fields take their defaults.

        Raises:
            EncoderError: A field this version does not know holds a value (a spec written by a
                newer diffsearch whose encoder this one cannot build).
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k, v in data.items() if k not in known and v is not None)
        if unknown:
            raise EncoderError(
                f"encoder spec has settings this diffsearch does not know ({', '.join(unknown)}): "
                "written by a newer version?"
            )
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EncoderSpec:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> EncoderSpec:
        """A copy with ``changes`` (field names), validated like a new spec."""
        return dataclasses.replace(self, **changes)

    # -- what an index keeps ------------------------------------------------------------------

    def recorded(self) -> dict[str, Any]:
        """What an index records: the ``vectors`` and ``location`` fields (not ``runtime``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if _kind(f) != RUNTIME}

    def identity(self) -> dict[str, Any]:
        """What must match for two encoders to write the same vectors (location: presence)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if _kind(f) == VECTORS:
                out[f.name] = value
            elif _kind(f) == LOCATION and f.name != "weights":
                out[f.name] = value is not None  # merged or not; weights are always there
        return out

    def runtime_options(self) -> dict[str, Any]:
        """The ``runtime`` fields, e.g. to carry a caller's device and dtype over to another spec."""
        return {f.name: getattr(self, f.name) for f in fields(self) if _kind(f) == RUNTIME}

    @property
    def base_name(self) -> str:
        """The preset name, or the model folder's name (an encoder's name before overrides)."""
        return self.model if self.model in PRESETS else Path(self.model).name


def _check_choice(what: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise EncoderError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def identity_diff(recorded: Mapping[str, Any], spec: EncoderSpec) -> list[tuple[str, Any, Any]]:
    """``(field, recorded value, value now)`` for each vector-changing setting that differs.

    Args:
        recorded: A spec dict as an index recorded it (``EncoderSpec.recorded()``).
        spec: The spec of the encoder that would write (or query) the index now.
    """
    old = EncoderSpec.from_dict(recorded).identity()
    new = spec.identity()
    return [(k, old.get(k), new.get(k)) for k in sorted(new) if old.get(k) != new.get(k)]


@dataclass(frozen=True)
class ModelPaths:
    """Folders the user named for this run (``--weights NAME=DIR``, ``--adapter NAME=DIR``).

    Keys are encoder names (``minilm+causal``, a folder's name) or preset names; an encoder's
    own name wins over its preset's. They go into the specs a command builds (never into the
    environment); ``DIFFSEARCH_WEIGHTS_<NAME>`` and friends stay the defaults underneath.
    """

    weights: Mapping[str, str] = field(default_factory=dict)
    adapters: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.weights or self.adapters)

    def weights_for(self, spec: EncoderSpec, name: str | None = None) -> str | None:
        return _first(self.weights, name, spec.base_name, spec.model)

    def adapter_for(self, spec: EncoderSpec, name: str | None = None) -> str | None:
        return _first(self.adapters, name, spec.base_name, spec.model)

    def apply(self, spec: EncoderSpec, name: str | None = None) -> EncoderSpec:
        """``spec`` with the folders named for it (by ``name`` or its preset); others unchanged."""
        weights, adapter = self.weights_for(spec, name), self.adapter_for(spec, name)
        changes = {
            k: v for k, v in (("weights", weights), ("adapter", adapter)) if v is not None
        }  # fmt: skip
        return spec.replace(**changes) if changes else spec


def _first(table: Mapping[str, str], *keys: str | None) -> str | None:
    for key in keys:
        if key and key in table:
            return table[key]
    return None


def spec_from_record(info: Mapping[str, Any], paths: ModelPaths | None = None) -> EncoderSpec:
    """The spec to rebuild an index's encoder from what the index recorded about it.

    Recorded location hints are kept only while they still exist on this machine, and yield to
    the folders the user names now (``paths``) and to ``DIFFSEARCH_WEIGHTS_<NAME>`` /
    ``DIFFSEARCH_ADAPTER_<NAME>``. Indexes written before specs were recorded fall back to
    what their ``EncoderInfo`` says (a preset by name, ``preset+override`` names, the folder
    it came from).

    Args:
        info: The index's entry for the encoder (``EncoderInfo.as_dict()``, with ``spec``).
        paths: Folders named on the command line or in the web UI.
    """
    from encoders.weights import adapter_env_var_for, env_var_for

    name = str(info.get("name", ""))
    raw = info.get("spec")
    if isinstance(raw, Mapping):
        spec = EncoderSpec.from_dict(raw)
        hints: dict[str, Any] = {}
        # The environment names a preset's folders only (a folder model has no lookup).
        preset = spec.model in PRESETS
        if spec.weights is not None and (
            (preset and os.environ.get(env_var_for(spec.base_name)))
            or not (Path(spec.weights) / "config.json").is_file()
        ):
            hints["weights"] = None
        if spec.adapter is not None and (
            (preset and os.environ.get(adapter_env_var_for(spec.base_name)))
            or not _is_adapter_dir(Path(spec.adapter))
        ):
            hints["adapter"] = None
        if hints:
            spec = spec.replace(**hints)
    else:
        spec = _legacy_spec(info)
    return (paths or ModelPaths()).apply(spec, name)


def _is_adapter_dir(path: Path) -> bool:
    """A LoRA adapter folder, or a ``diffsearch train`` output folder (LoRA or full)."""
    from encoders.trained import CARD_FILE

    return (path / "adapter_config.json").is_file() or (path / CARD_FILE).is_file()


def _legacy_spec(info: Mapping[str, Any]) -> EncoderSpec:
    """A spec from an ``EncoderInfo`` recorded before specs were (name-parsing heuristics)."""
    name = str(info.get("name", ""))
    policy = str(info.get("long_policy") or "truncate")
    overrides: dict[str, Any] = {"attention": info.get("attention"), "pooling": info.get("pooling")}
    if name in PRESETS:
        return EncoderSpec(name, long_policy=policy)
    model_id = str(info.get("model_id") or "")
    if model_id and Path(model_id).is_dir():
        return EncoderSpec(model_id, long_policy=policy, **overrides)
    preset, plus, _ = name.partition("+")
    if plus and preset in PRESETS:  # a preset with settings, e.g. "minilm+causal", "...+dim256"
        try:
            return EncoderSpec(name, long_policy=policy, **overrides)
        except EncoderError:  # a suffix this version does not read
            return EncoderSpec(preset, long_policy=policy, **overrides)
    return EncoderSpec(name or model_id or "?", long_policy=policy)
