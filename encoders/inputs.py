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


#: What mean pooling averages: the text tokens (plus the tokenizer's specials where asked),
#: every token of the input (DiffEmbed's training code), or the [MASK] slot (DiffRetriever).
PoolTarget = Literal["text", "all", "slot"]


class SequenceBuilder:
    """Wraps token ids in a preset's templates and enforces its length policy.

    A sequence is ``head + before + text + after + slot + tail``: the tokenizer's own special
    tokens (``head``/``tail``), the template around the text (``before``/``after``, with the
    instruction for queries), and an optional run of fixed ids after the template (``slot``:
    DiffRetriever's [MASK] positions and closing tokens).

    Args:
        tokenizer: A Hugging Face tokenizer (fast or slow).
        query_template: Template with ``{instruction}`` (optional) and ``{text}``.
        doc_template: Template with ``{text}``.
        instruction_format: How a non-empty instruction is written at ``{instruction}``.
        max_tokens: Longest sequence, specials and template included.
        append_eos: End the sequence with ``end_token_id`` (the tokenizer's EOS by default),
            unless the tokenizer's own tail already ends with it.
        pool_special_tokens: Let mean pooling average the tokenizer's own special tokens.
        long_policy: ``truncate`` keeps the first tokens; ``windows`` splits the text into
            overlapping windows that the encoder averages.
        window_overlap: Tokens shared by consecutive windows (default: 1/8 of a window).
        end_token_id: The id ``append_eos`` appends (default: the tokenizer's EOS).
        slot: Fixed ids after the template (default none).
        slot_pooled: How many leading ids of ``slot`` the ``slot`` target pools (the masks).
        pool_target: ``text``, ``all`` or ``slot`` (see :data:`PoolTarget`).
        specials: Add the tokenizer's own special tokens (False when a chat template already
            carries them, as for DiffRetriever's prompt).
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
        end_token_id: int | None = None,
        slot: list[int] | None = None,
        slot_pooled: int = 0,
        pool_target: PoolTarget = "text",
        specials: bool = True,
    ) -> None:
        self.tokenizer = tokenizer
        self.query_template = query_template
        self.doc_template = doc_template
        self.instruction_format = instruction_format
        self.max_tokens = max_tokens
        self.long_policy = long_policy
        self.pool_special_tokens = pool_special_tokens
        self.window_overlap = window_overlap
        self.pool_target = pool_target
        self.slot = list(slot or [])
        self.slot_pooled = slot_pooled
        self.head, self.tail = special_tokens_around(tokenizer) if specials else ([], [])
        if append_eos:
            end = end_token_id if end_token_id is not None else tokenizer.eos_token_id
            if end is None:
                raise ValueError("append_eos needs a tokenizer with an EOS token")
            # Tokenizers that end every text with the model's end token (Qwen3-Embedding's
            # post-processor) must not get a second one: the model never saw two.
            if not self.tail or self.tail[-1] != int(end):
                self.tail = [*self.tail, int(end)]
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

    def frame(self, kind: Kind, instruction: str | None) -> tuple[list[int], list[int]]:
        """Every id before the text and every id after it (specials, template, slot)."""
        before, after = self.wrappers(kind, instruction)
        return [*self.head, *before], [*after, *self.slot, *self.tail]

    def text_budget(self, kind: Kind, instruction: str | None) -> int:
        """How many text tokens fit in one sequence next to the specials and template."""
        prefix, suffix = self.frame(kind, instruction)
        budget = self.max_tokens - len(prefix) - len(suffix)
        if budget < 1:
            raise ValueError(
                f"the template and instruction use all {self.max_tokens} tokens; shorten the "
                "instruction or raise max_tokens"
            )
        return budget

    def pool_marks(self, kind: Kind, instruction: str | None, n_text: int) -> list[int]:
        """The pool mask of a sequence with ``n_text`` text tokens (see :data:`PoolTarget`)."""
        before, after = self.wrappers(kind, instruction)
        n_slot, n_head, n_tail = len(self.slot), len(self.head), len(self.tail)
        if self.pool_target == "all":
            return [1] * (n_head + len(before) + n_text + len(after) + n_slot + n_tail)
        if self.pool_target == "slot":
            pooled = [1] * self.slot_pooled + [0] * (n_slot - self.slot_pooled)
            return [0] * (n_head + len(before) + n_text + len(after)) + pooled + [0] * n_tail
        special = 1 if self.pool_special_tokens else 0
        return (
            [special] * n_head
            + [0] * len(before)
            + [1] * n_text
            + [0] * (len(after) + n_slot)
            + [special] * n_tail
        )

    def build(
        self, owner: int, text_ids: list[int], kind: Kind, instruction: str | None
    ) -> list[Sequence]:
        """Sequences for one text: one, or several windows under the ``windows`` policy."""
        prefix, suffix = self.frame(kind, instruction)
        budget = self.text_budget(kind, instruction)
        if len(text_ids) <= budget or self.long_policy == "truncate":
            pieces = [text_ids[:budget]]
        else:
            overlap = self.window_overlap if self.window_overlap is not None else budget // 8
            pieces = split_windows(text_ids, budget, overlap)
        out = []
        for piece in pieces:
            ids = [*prefix, *piece, *suffix]
            pool = self.pool_marks(kind, instruction, len(piece))
            out.append(Sequence(ids=ids, pool=pool, owner=owner, weight=max(1, len(piece))))
        return out
