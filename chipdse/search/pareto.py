"""Pareto fronts and hypervolume (minimisation), on numpy arrays of objective values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["pareto_mask", "hypervolume", "dominated_share"]


def pareto_mask(F: Any) -> np.ndarray:
    """Non-dominated rows of ``F`` (minimisation). Of identical rows only the first is kept.
    Rows with a non-finite value (NaN, inf) are never on the front and dominate nothing.

    Uses moocore's dimension-sweep algorithm (O(n log n) for up to 3 objectives; moocore comes
    with pymoo)."""
    from moocore import is_nondominated

    F = np.asarray(F, dtype=float)
    n = F.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    ok = np.flatnonzero(np.all(np.isfinite(F), axis=1))
    if ok.size == 0:
        return mask
    Fo = F[ok]
    if F.shape[1] == 1:
        mask[ok[int(np.argmin(Fo[:, 0]))]] = True
    else:
        mask[ok[np.asarray(is_nondominated(Fo, keep_weakly=False), dtype=bool)]] = True
    return mask


def hypervolume(F: Any, ref: Sequence[float], ideal: Sequence[float] | None = None,
                nadir: Sequence[float] | None = None) -> float:
    """Hypervolume of points ``F`` (minimisation) below ``ref``; with ``ideal``/``nadir`` all
    are first normalised to [0, 1] on those bounds."""
    from moocore import hypervolume as _hv

    F = np.atleast_2d(np.asarray(F, dtype=float))
    ref = np.asarray(ref, dtype=float)
    if ideal is not None and nadir is not None:
        lo, hi = np.asarray(ideal, float), np.asarray(nadir, float)
        span = np.where(hi > lo, hi - lo, 1.0)
        F = (F - lo) / span
        ref = (ref - lo) / span
    F = F[np.all(F < ref, axis=1)]
    return float(_hv(F, ref=ref)) if len(F) else 0.0


def dominated_share(front_a: pd.DataFrame, front_b: pd.DataFrame,
                    objectives: Sequence[str]) -> float:
    """Share of ``front_b``'s designs dominated (no worse in every objective, better in one) by
    some design of ``front_a``."""
    A = front_a[list(objectives)].to_numpy(float)
    B = front_b[list(objectives)].to_numpy(float)
    if len(B) == 0:
        return float("nan")
    if len(A) == 0:
        return 0.0
    dom = [np.any(np.all(A <= b, axis=1) & np.any(A < b, axis=1)) for b in B]
    return float(np.mean(dom))
