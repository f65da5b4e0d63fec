"""The encoders of one ingest run: named ones loaded on first use, checked against the index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.errors import EncoderLoadError, EncoderMismatchError


class EncoderSet:
    """The run's encoders by name, loaded on first use (a no-change run loads none).

    The index's recorded encoders are always part of the run (every encoder of an index embeds
    the same chunks); a loaded encoder must match what the index recorded for its name.
    """

    def __init__(
        self, given: Sequence[Any], recorded: Mapping[str, dict[str, Any]], long_policy: str | None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        self.recorded = dict(recorded)
        self.dtype = dtype
        self._objs: dict[str, Any] = {}
        self._policy: dict[str, str] = {}
        for enc in given:
            if isinstance(enc, str):
                rec = recorded.get(enc)
                self._policy[enc] = long_policy or (rec or {}).get("long_policy") or "truncate"
            else:
                self._check(enc.name, enc)
                self._objs[enc.name] = enc
        for name, info in recorded.items():
            if name not in self._objs and name not in self._policy:
                self._policy[name] = info.get("long_policy") or "truncate"
        given_names = [e if isinstance(e, str) else e.name for e in given]
        self.names = list(dict.fromkeys([*given_names, *recorded]))

    def get(self, name: str) -> Any:
        if name not in self._objs:
            from encoders import EncoderError, load_encoder

            try:
                enc = load_encoder(name, long_policy=self._policy[name], dtype=self.dtype)
            except EncoderError as exc:
                raise EncoderLoadError(f"cannot load encoder {name!r}: {exc}") from None
            self._check(name, enc)
            self._objs[name] = enc
        return self._objs[name]

    def _check(self, name: str, enc: Any) -> None:
        old = self.recorded.get(name)
        if old is None:
            return
        new = enc.info.as_dict()
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            said = ", ".join(f"{k} {old.get(k)!r} in the index vs {new.get(k)!r} now" for k in diff)
            raise EncoderMismatchError(
                f"encoder {name!r} differs from the one this index was built with ({said}); "
                "use the same settings (e.g. --long), another --index, or drop the index first"
            )
