"""Paired significance tests over queries: bootstrap and Student's t.

Both compare per-query scores of two systems on the same queries. The bootstrap resamples
queries with replacement (fixed seed, so reports are reproducible) and gives a two-sided p-value
by the shift method: the share of resampled mean differences, centred on the observed mean, that
are at least as far from 0 as the observed mean difference. It also gives a 95% percentile
confidence interval for the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 10_000


@dataclass(frozen=True)
class PairedTest:
    """Result of comparing system B against system A on the same queries.

    Attributes:
        n: Number of queries.
        mean_a: Mean of A.
        mean_b: Mean of B.
        delta: ``mean_b - mean_a``.
        ci_low: Lower end of the bootstrap 95% interval of ``delta``.
        ci_high: Upper end of it.
        p_bootstrap: Two-sided paired bootstrap p-value.
        p_ttest: Two-sided paired t-test p-value (1.0 when all differences are equal).
        resamples: Bootstrap resamples drawn.
    """

    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_ttest: float
    resamples: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test of ``b - a`` against 0."""
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = diff.size
    if n < 2:
        return 1.0
    sd = float(diff.std(ddof=1))
    mean = float(diff.mean())
    if sd == 0.0 or not math.isfinite(sd):
        return 1.0 if mean == 0.0 else 0.0
    from scipy import stats

    t = mean / (sd / math.sqrt(n))
    return float(2.0 * stats.t.sf(abs(t), df=n - 1))


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """``(p_value, ci_low, ci_high)`` of the paired bootstrap of the mean of ``b - a``."""
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = diff.size
    if n == 0:
        return 1.0, 0.0, 0.0
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    step = max(1, 2_000_000 // n)  # bounded memory: at most ~2M indices at a time
    for start in range(0, resamples, step):
        size = min(step, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        means[start : start + size] = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    if np.all(diff == diff[0]):
        return (1.0 if observed == 0.0 else 0.0), float(low), float(high)
    extreme = np.abs(means - observed) >= abs(observed) - 1e-12
    p = (int(extreme.sum()) + 1) / (resamples + 1)
    return float(min(1.0, p)), float(low), float(high)


def compare_paired(
    a: Sequence[float], b: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> PairedTest:
    """Both tests and the means for per-query scores ``a`` and ``b`` (same query order).

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length: {len(a)} vs {len(b)}")
    mean_a = float(np.mean(a)) if len(a) else 0.0
    mean_b = float(np.mean(b)) if len(b) else 0.0
    p_boot, low, high = paired_bootstrap(a, b, resamples=resamples, seed=seed)
    return PairedTest(
        n=len(a), mean_a=mean_a, mean_b=mean_b, delta=mean_b - mean_a, ci_low=low, ci_high=high,
        p_bootstrap=p_boot, p_ttest=paired_ttest(a, b), resamples=resamples,
    )  # fmt: skip
