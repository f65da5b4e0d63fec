"""The encoders of one ingest run, as specs: named, given or recorded, checked against the index.

Nothing is loaded here (that is the :class:`~ingest.embed.Embedder`'s job): the run's encoders
are known by name and :class:`~encoders.EncoderSpec`, so an embedder in another process or on
another machine can build them, and a run with nothing to embed loads no model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.errors import EncoderLoadError, EncoderMismatchError


class EncoderSet:
    """The run's encoders by name: a spec for each, and the encoder objects the caller gave.

    The index's recorded encoders are always part of the run (every encoder of an index embeds
    the same chunks); each is rebuilt from the spec the index recorded (with the folders the
    user names now), so its vectors stay comparable with the stored ones.

    Args:
        given: Encoder names (presets, folders), :class:`~encoders.EncoderSpec` objects or
            loaded encoders.
        recorded: The index's encoders (name -> ``EncoderInfo`` dict, with its ``spec``).
        long_policy: ``truncate`` / ``windows`` for encoders given by name (None: the index's,
            else ``truncate``).
        dtype: Weights dtype for encoders given by name or recorded (a runtime choice).
        paths: ``--weights`` / ``--adapter`` folders (``encoders.ModelPaths``).

    Raises:
        EncoderLoadError: A name that is neither a preset nor a model folder.
    """

    def __init__(
        self, given: Sequence[Any], recorded: Mapping[str, dict[str, Any]], long_policy: str | None,
        dtype: str | None = None, paths: Any = None,
    ) -> None:  # fmt: skip
        from encoders import EncoderError, EncoderSpec, ModelPaths, spec_from_record

        self.recorded = dict(recorded)
        self.paths = paths or ModelPaths()
        self.specs: dict[str, Any] = {}  # name -> EncoderSpec (None: a given object without one)
        self.objects: dict[str, Any] = {}
        runtime = {"dtype": dtype} if dtype else {}
        given_names = []
        for enc in given:
            try:
                if isinstance(enc, str | EncoderSpec):
                    name, spec = self._named(enc, long_policy)
                    self.specs[name] = spec.replace(**runtime)
                else:  # a loaded encoder: used as it is
                    name = enc.name
                    self.check(name, enc.info.as_dict())
                    self.objects[name] = enc
                    self.specs[name] = getattr(enc, "spec", None)
            except EncoderError as exc:
                raise EncoderLoadError(f"cannot load encoder {_label(enc)!r}: {exc}") from None
            given_names.append(name)
        for name, info in recorded.items():
            if name not in self.specs:
                try:
                    self.specs[name] = spec_from_record(info, self.paths).replace(**runtime)
                except EncoderError as exc:
                    raise EncoderLoadError(f"cannot load encoder {name!r}: {exc}") from None
        self.names = list(dict.fromkeys([*given_names, *recorded]))

    def _named(self, enc: Any, long_policy: str | None) -> tuple[str, Any]:
        from encoders import EncoderSpec, encoder_name, spec_from_record

        if isinstance(enc, str) and enc in self.recorded:
            spec = spec_from_record(self.recorded[enc], self.paths)
            return enc, spec.replace(long_policy=long_policy) if long_policy else spec
        if isinstance(enc, str):
            spec = self.paths.apply(EncoderSpec(enc))
            name = encoder_name(spec)
            rec = self.recorded.get(name)
            policy = long_policy or (rec or {}).get("long_policy") or "truncate"
            return name, self.paths.apply(spec.replace(long_policy=policy), name)
        return encoder_name(enc), enc

    def preset(self, name: str) -> Any:
        """The encoder's preset with its settings applied (``encoders.resolve``), not loaded;
        a loaded encoder given without a spec answers for itself (its ``pooling``,
        ``default_chunking``).

        Raises:
            EncoderLoadError: The spec names no encoder, or settings it cannot take.
        """
        from encoders import EncoderError
        from encoders.resolve import resolve

        spec = self.specs.get(name)
        if spec is None:
            return self.objects[name]
        try:
            return resolve(spec).preset
        except EncoderError as exc:
            raise EncoderLoadError(f"cannot load encoder {name!r}: {exc}") from None

    def pooling(self, name: str) -> str:
        """How the encoder pools (``mean``, ``last``, ``cls``, ``mask``), without loading it."""
        return str(self.preset(name).pooling)

    def check(self, name: str, info: Mapping[str, Any]) -> None:
        """Refuse an encoder that would write other vectors than the index holds under ``name``.

        Every ``EncoderInfo`` field must match, and so must the vector-changing settings of the
        recorded spec (not its folders: the same weights may live elsewhere now).

        Raises:
            EncoderMismatchError: With each differing setting, the index's and the new one.
        """
        from encoders import EncoderSpec
        from encoders.spec import identity_diff

        old = self.recorded.get(name)
        if old is None:
            return
        new = dict(info)
        keys = sorted((set(old) | set(new)) - {"spec"})
        said = [
            f"{k} {old.get(k)!r} in the index vs {new.get(k)!r} now"
            for k in keys
            if old.get(k) != new.get(k)
        ]
        if isinstance(old.get("spec"), Mapping) and isinstance(new.get("spec"), Mapping):
            diff = identity_diff(old["spec"], EncoderSpec.from_dict(new["spec"]))
            said += [f"spec {k} {a!r} in the index vs {b!r} now" for k, a, b in diff]
        if said:
            raise EncoderMismatchError(
                f"encoder {name!r} differs from the one this index was built with ({', '.join(said)}); "
                "use the same settings (e.g. --long), another --index, or drop the index first"
            )


def _label(enc: Any) -> str:
    return (
        enc
        if isinstance(enc, str)
        else str(getattr(enc, "model", None) or getattr(enc, "name", enc))
    )
