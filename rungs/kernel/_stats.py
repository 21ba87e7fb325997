"""Bootstrap confidence intervals: every evaluation number is reported with the spread its items allow."""

from __future__ import annotations

import math
from collections.abc import Sequence

RESAMPLES = 2000  # percentile intervals settle to ~0.01 of their width by 2,000 resamples
LEVEL = 0.95


def interval(values: Sequence[float], weights: Sequence[float] | None = None, *, exp: bool = False,
             resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high) of sum(values) / sum(weights), resampling items with replacement.

    With weights = token counts and values = summed token NLLs this is a corpus-level (token-weighted)
    mean loss whose items are documents; `exp=True` turns it into a perplexity. Without weights it is a
    plain mean (a rate, for 0/1 values). Items, not tokens, are resampled: tokens of one document are
    not independent, so a token-level interval would be too narrow.
    """
    import numpy as np  # here, not at the top: every `rungs` command loads the kernel, few compute intervals

    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    if v.size == 0 or w.sum() <= 0:
        return (math.nan, math.nan, math.nan)
    point = v.sum() / w.sum()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, v.size, size=(resamples, v.size))
    stats = v[picks].sum(axis=1) / np.maximum(w[picks].sum(axis=1), 1e-12)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    if exp:
        return (math.exp(point), math.exp(lo), math.exp(hi))
    return (float(point), float(lo), float(hi))


def metric_entries(name: str, estimate: tuple[float, float, float], n: int, digits: int = 4) -> dict:
    """`name`, `name_lo`, `name_hi`, `name_n`: the flat metric keys a manifest and the gate read."""
    point, lo, hi = (round(x, digits) if not math.isnan(x) else None for x in estimate)
    return {name: point, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_n": n}
