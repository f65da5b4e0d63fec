"""Agreement figures against hand-computed values."""

from __future__ import annotations

import pytest

from search.compare import agreement, overlap_at_k, rank_biased_overlap


def test_overlap_at_k_counts_the_shared_top_k():
    assert overlap_at_k(list("abcde"), list("edcba"), 5) == 1.0
    assert overlap_at_k(list("abcde"), list("axyzb"), 5) == pytest.approx(2 / 5)
    # Only the top k of each side counts: "e" is shared, but beyond k=2 on the right.
    assert overlap_at_k(list("ae"), list("xaye"), 2) == pytest.approx(1 / 2)
    # Fewer candidates than k (a small index, a filter): judged on what could be shared.
    assert overlap_at_k(list("abc"), list("cba"), 10) == 1.0
    assert overlap_at_k(list("abc"), list("ab"), 10) == pytest.approx(2 / 3)
    assert overlap_at_k([], [], 5) == 1.0
    with pytest.raises(ValueError):
        overlap_at_k(["a"], ["a"], 0)


def test_rbo_identical_disjoint_and_swapped():
    assert rank_biased_overlap(list("abcdef"), list("abcdef")) == pytest.approx(1.0)
    assert rank_biased_overlap(list("abc"), list("xyz")) == 0.0
    # Hand: depth 2, A1 = 0, A2 = 1 -> (1-p)/p * (0*p + 1*p^2) + 1*p^2, p = 0.5 -> 0.5
    assert rank_biased_overlap(["a", "b"], ["b", "a"], p=0.5) == pytest.approx(0.5)


def test_rbo_hand_computed_three_deep():
    # left a b c, right a c d, p = 0.9.
    # A1 = 1/1, A2 = 1/2 (only a), A3 = 2/3 (a, c).
    p = 0.9
    expected = (1 - p) / p * (1 * p + 0.5 * p**2 + (2 / 3) * p**3) + (2 / 3) * p**3
    assert rank_biased_overlap(list("abc"), list("acd"), p=p) == pytest.approx(expected)


def test_rbo_top_weighted():
    # Same two swaps, but the one at the top costs more than the one at the bottom.
    top_swap = rank_biased_overlap(list("bacdefghij"), list("abcdefghij"))
    bottom_swap = rank_biased_overlap(list("abcdefghji"), list("abcdefghij"))
    assert top_swap < bottom_swap < 1.0


def test_rbo_uneven_lengths():
    value = rank_biased_overlap(list("abc"), list("a"))
    assert 0.0 < value < 1.0


def test_agreement_shared_and_one_sided():
    result = agreement(["d1", "d2", "d3", "d4"], ["d3", "d1", "d9", "d8"], k=4)
    assert result.overlap_at_k == pytest.approx(0.5) and result.depth == 4
    shared = {s.key: (s.left_rank, s.right_rank, s.shift) for s in result.shared}
    assert shared == {"d1": (1, 2, -1), "d3": (3, 1, 2)}
    assert result.only_left == ("d2", "d4")
    assert result.only_right == ("d9", "d8")
    data = result.as_dict()
    assert data["shared"][0]["shift"] == -1
    assert 0 < data["rbo"] < 1
