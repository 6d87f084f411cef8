"""Tables of predicted vs measured: one row per target, and MAPE per group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chipdse.calibrate.predict import Target, precision_label

__all__ = ["prediction_table", "mape_table"]


def prediction_table(targets: Sequence[Target], predicted_s: np.ndarray) -> pd.DataFrame:
    """Per target: measured and predicted time and the quoted metric, and the signed error.

    The error is on the quoted metric: decode tokens/s (aggregate) and prefill time.
    """
    rows = []
    for t, ps in zip(targets, np.asarray(predicted_s, dtype=float)):
        m = t.m
        if t.phase == "decode":
            meas_v, pred_v, metric = t.batch / t.measured_s, t.batch / ps, "decode_tok_s"
        else:
            meas_v, pred_v, metric = t.measured_s, ps, "prefill_s"
        rows.append(dict(
            row=m.row, device=m.device, chip=m.chip, engine=m.engine, model=m.model,
            model_preset=m.model_ref, precision=m.precision_label,
            formats=precision_label(m.precision) if m.precision else "", batch=m.batch,
            phase=t.phase, tokens=t.tokens, metric=metric, measured=meas_v, predicted=pred_v,
            measured_s=t.measured_s, predicted_s=float(ps), error=pred_v / meas_v - 1.0,
            source=m.source))
    return pd.DataFrame(rows)


def mape_table(table: pd.DataFrame, by: Sequence[str] = ("device", "phase"),
               column: str = "error") -> pd.DataFrame:
    """Mean absolute percentage error (and row count) per group."""
    if table.empty:
        return pd.DataFrame(columns=[*by, "n", "mape_pct", "max_abs_pct"])
    g = table.groupby(list(by), sort=True)[column]
    out = pd.DataFrame({"n": g.size(), "mape_pct": 100 * g.apply(lambda e: np.mean(np.abs(e))),
                        "max_abs_pct": 100 * g.apply(lambda e: np.max(np.abs(e)))})
    return out.reset_index()
