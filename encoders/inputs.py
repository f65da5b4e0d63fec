"""Turning texts into token sequences: templates, instructions, truncation and windows.

Every sequence carries a *pool mask* next to its ids. Instruction and template tokens get 0, so
they shape the text tokens' states through attention but never enter a mean-pooled vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["query", "document"]


@dataclass(frozen=True)
class Sequence:
    """One model input.

    Attributes:
        ids: Token ids, specials and template included, no padding.
        pool: Same length as ``ids``; 1 where the token is averaged by mean pooling.
        owner: Index of the input text this sequence came from.
        weight: Number of text tokens in it (windows of one text are averaged by this).
    """

    ids: list[int]
    pool: list[int]
    owner: int
    weight: int


def _split_template(template: str) -> tuple[str, str]:
    if template.count("{text}") != 1:
        raise ValueError(f"template must contain {{text}} exactly once: {template!r}")
    before, after = template.split("{text}")
    return before, after


def special_tokens_around(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer itself adds before and after a text ([CLS]/[SEP], <s>, ...)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    n = len(plain)
    for start in range(len(full) - n + 1):
        if full[start : start + n] == plain:
            return list(full[:start]), list(full[start + n :])
    return [], []


def split_windows(ids: list[int], size: int, overlap: int) -> list[list[int]]:
    """Cut ``ids`` into windows of at most ``size`` tokens, consecutive ones sharing ``overlap``.

    The last window is aligned to the end of the text so that no window is a tiny tail.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    if len(ids) <= size:
        return [ids]
    overlap = max(0, min(overlap, size - 1))
    stride = size - overlap
    starts = list(range(0, len(ids) - size + 1, stride))
    if starts[-1] + size < len(ids):
        starts.append(len(ids) - size)
    return [ids[s : s + size] for s in starts]


class SequenceBuilder:
    """Wraps token ids in a preset's templates and enforces its length policy.

    Args:
        tokenizer: A Hugging Face tokenizer (fast or slow).
        query_template: Template with ``{instruction}`` (optional) and ``{text}``.
        doc_template: Template with ``{text}``.
        instruction_format: How a non-empty instruction is written at ``{instruction}``.
        max_tokens: Longest sequence, specials and template included.
        append_eos: Append the tokenizer's EOS id after the template.
        pool_special_tokens: Let mean pooling average the tokenizer's own special tokens.
        long_policy: ``truncate`` keeps the first tokens; ``windows`` splits the text into
            overlapping windows that the encoder averages.
        window_overlap: Tokens shared by consecutive windows (default: 1/8 of a window).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        query_template: str,
        doc_template: str,
        instruction_format: str,
        max_tokens: int,
        append_eos: bool,
        pool_special_tokens: bool,
        long_policy: str = "truncate",
        window_overlap: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.query_template = query_template
        self.doc_template = doc_template
        self.instruction_format = instruction_format
        self.max_tokens = max_tokens
        self.long_policy = long_policy
        self.pool_special_tokens = pool_special_tokens
        self.window_overlap = window_overlap
        self.head, self.tail = special_tokens_around(tokenizer)
        if append_eos:
            eos = getattr(tokenizer, "eos_token_id", None)
            if eos is None:
                raise ValueError("append_eos needs a tokenizer with an EOS token")
            self.tail = [*self.tail, int(eos)]
        self._cache: dict[tuple[str, str], tuple[list[int], list[int]]] = {}

    def _encode_fragment(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def wrappers(self, kind: Kind, instruction: str | None) -> tuple[list[int], list[int]]:
        """Template ids before and after the text, for this kind and instruction (cached)."""
        key = (kind, instruction or "")
        if key not in self._cache:
            if kind == "query":
                filled = (
                    self.instruction_format.format(instruction=instruction) if instruction else ""
                )
                template = self.query_template.replace("{instruction}", filled)
            else:
                template = self.doc_template.replace("{instruction}", "")
            before, after = _split_template(template)
            self._cache[key] = (self._encode_fragment(before), self._encode_fragment(after))
        return self._cache[key]

    def text_budget(self, kind: Kind, instruction: str | None) -> int:
        """How many text tokens fit in one sequence next to the specials and template."""
        before, after = self.wrappers(kind, instruction)
        budget = self.max_tokens - len(self.head) - len(self.tail) - len(before) - len(after)
        if budget < 1:
            raise ValueError(
                f"the template and instruction use all {self.max_tokens} tokens; shorten the "
                "instruction or raise max_tokens"
            )
        return budget

    def build(
        self, owner: int, text_ids: list[int], kind: Kind, instruction: str | None
    ) -> list[Sequence]:
        """Sequences for one text: one, or several windows under the ``windows`` policy."""
        before, after = self.wrappers(kind, instruction)
        budget = self.text_budget(kind, instruction)
        if len(text_ids) <= budget or self.long_policy == "truncate":
            pieces = [text_ids[:budget]]
        else:
            overlap = self.window_overlap if self.window_overlap is not None else budget // 8
            pieces = split_windows(text_ids, budget, overlap)
        special = 1 if self.pool_special_tokens else 0
        out = []
        for piece in pieces:
            ids = [*self.head, *before, *piece, *after, *self.tail]
            pool = (
                [special] * len(self.head)
                + [0] * len(before)
                + [1] * len(piece)
                + [0] * len(after)
                + [special] * len(self.tail)
            )
            out.append(Sequence(ids=ids, pool=pool, owner=owner, weight=max(1, len(piece))))
        return out
