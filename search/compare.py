"""Agreement between two ranked lists: overlap@k, rank-biased overlap, shared and one-sided hits.

Pure functions over lists of keys (document ids at document level, chunk ids at chunk level),
so they are easy to check by hand.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SharedHit:
    """A key both sides returned, with its 1-based rank on each side."""

    key: str
    left_rank: int
    right_rank: int

    @property
    def shift(self) -> int:
        """Positive when the right side ranks it higher (closer to 1) than the left."""
        return self.left_rank - self.right_rank


@dataclass(frozen=True)
class Agreement:
    """How much two result lists agree.

    Attributes:
        k: Depth compared.
        depth: How many hits could have been shared: min(k, the longer list's length). Lower
            than ``k`` when the index (or a filter) leaves fewer than ``k`` candidates.
        overlap_at_k: |top-k(left) ∩ top-k(right)| / depth, so two encoders that return the
            same 6 documents of a 6-document index agree fully (1.0, not 0.6).
        rbo: Rank-biased overlap, extrapolated (Webber et al. 2010), persistence ``p``.
        p: RBO persistence; 0.9 puts ~86% of the weight on the top 10.
        shared: Keys on both sides, in left order.
        only_left: Keys only the left side found, in its order.
        only_right: Keys only the right side found, in its order.
    """

    k: int
    depth: int
    overlap_at_k: float
    rbo: float
    p: float
    shared: tuple[SharedHit, ...]
    only_left: tuple[str, ...]
    only_right: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shared"] = [{**asdict(s), "shift": s.shift} for s in self.shared]
        return data


def overlap_at_k(left: Sequence[Hashable], right: Sequence[Hashable], k: int) -> float:
    """Share of the top ``k`` that both lists contain.

    The denominator is ``min(k, max(len(left), len(right)))``: the number of hits that could
    have been shared. Two empty lists agree (1.0).
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    depth = min(k, max(len(left), len(right)))
    if depth == 0:
        return 1.0
    return len(set(left[:k]) & set(right[:k])) / depth


def rank_biased_overlap(
    left: Sequence[Hashable], right: Sequence[Hashable], p: float = 0.9
) -> float:
    """Extrapolated rank-biased overlap of two rankings (Webber, Moffat & Zobel 2010, eq. 32).

    For lists of depth ``d`` (the longer one; the shorter is treated as having no further
    items): ``(1-p)/p * sum_{i<=d} A_i p^i + A_d p^d``, where ``A_i`` is the overlap of the two
    top-``i`` prefixes divided by ``i``. 1.0 for identical lists, 0.0 for disjoint ones.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    depth = max(len(left), len(right))
    if depth == 0:
        return 1.0
    seen_left: set[Hashable] = set()
    seen_right: set[Hashable] = set()
    common = 0
    total = 0.0
    agreement = 0.0
    for i in range(depth):
        a = left[i] if i < len(left) else None
        b = right[i] if i < len(right) else None
        if a is not None and b is not None and a == b:
            common += 1
        else:
            if a is not None:
                common += a in seen_right
                seen_left.add(a)
            if b is not None:
                common += b in seen_left
                seen_right.add(b)
        agreement = common / (i + 1)
        total += agreement * p ** (i + 1)
    return (1 - p) / p * total + agreement * p**depth


def agreement(left: Sequence[str], right: Sequence[str], k: int, p: float = 0.9) -> Agreement:
    """All agreement figures for two ranked key lists cut at ``k``."""
    left, right = list(left[:k]), list(right[:k])
    right_rank = {key: i + 1 for i, key in enumerate(right)}
    left_set = set(left)
    shared = tuple(
        SharedHit(key, i + 1, right_rank[key]) for i, key in enumerate(left) if key in right_rank
    )
    return Agreement(
        k=k,
        depth=min(k, max(len(left), len(right))),
        overlap_at_k=overlap_at_k(left, right, k),
        rbo=rank_biased_overlap(left, right, p),
        p=p,
        shared=shared,
        only_left=tuple(key for key in left if key not in right_rank),
        only_right=tuple(key for key in right if key not in left_set),
    )
