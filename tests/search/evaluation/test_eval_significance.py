"""Paired significance tests: known answers, determinism, agreement with scipy."""

from __future__ import annotations

import numpy as np
import pytest

from search.evaluation.significance import compare_paired, paired_bootstrap, paired_ttest


def test_identical_systems_are_not_different():
    a = [0.1, 0.5, 0.9, 0.3]
    t = compare_paired(a, a, resamples=500)
    assert t.delta == 0.0 and t.p_bootstrap == 1.0 and t.p_ttest == 1.0


def test_clear_improvement_is_significant_and_ci_excludes_zero():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = a + 0.1 + rng.normal(0, 0.05, 200)
    t = compare_paired(list(a), list(b), resamples=2000)
    assert t.delta == pytest.approx(float(np.mean(b - a)))
    assert t.p_bootstrap < 0.001 and t.p_ttest < 1e-10
    assert 0 < t.ci_low < t.delta < t.ci_high


def test_noise_is_not_significant():
    rng = np.random.default_rng(2)
    a = rng.random(100)
    b = a + rng.normal(0, 0.2, 100)
    b = b - (b - a).mean()  # mean difference exactly 0
    t = compare_paired(list(a), list(b), resamples=2000)
    assert t.p_bootstrap > 0.5 and t.p_ttest > 0.5


def test_ttest_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    assert paired_ttest(a, b) == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-9)


def test_bootstrap_is_deterministic_with_a_seed():
    rng = np.random.default_rng(4)
    a, b = rng.random(30), rng.random(30)
    assert paired_bootstrap(a, b, resamples=1000, seed=5) == paired_bootstrap(
        a, b, resamples=1000, seed=5
    )


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        compare_paired([1.0], [1.0, 2.0])
