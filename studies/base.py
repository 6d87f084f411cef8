"""What every study writes: results.csv, its figures, verdict.md and config.json, and the
thresholds studies share.

This module imports ``chipdse.io`` (beside ``chipdse.api``, the only chipdse module a study
uses) because writing a study's outputs is file infrastructure, not an experiment: ``io``
writes each file atomically (a temporary file renamed into place) and builds config.json, so
an interrupted run never leaves a half-written CSV or verdict behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from chipdse import io

__all__ = ["StudyResult", "write_result", "MOE_DOMINANCE_SHARE", "span"]

# A front counts as "all MoE" (arXiv 2602.10377 Sec. 5: "100 % of Pareto-optimal designs at
# batch 1 are MoE") when at least this share of its designs are MoE: 5 % of front points are
# allowed for rounding at the extremes. Shared by plas-orin and moe-batch1 so that both read
# the claim with one threshold.
MOE_DOMINANCE_SHARE = 0.95


def span(values: Any, fmt: str) -> str:
    """'lo-hi' of ``values`` in format ``fmt`` (e.g. ".2f", ".0%"), or one value when both
    ends print the same."""
    v = pd.Series(values, dtype=float)
    lo, hi = format(float(v.min()), fmt), format(float(v.max()), fmt)
    return lo if lo == hi else f"{lo}-{hi}"


@dataclass
class StudyResult:
    """Outcome of one study.

    Attributes:
        name / question: what was asked.
        setup: chips, models, workloads, seeds (one line each).
        answer: the measured answer, in numbers.
        supports: True / False / None (mixed or not applicable) for the claim examined.
        table: the results (written as results.csv).
        figures: {file name: matplotlib figure}.
        extra_tables: more CSVs {file name: DataFrame}.
        config: resolved inputs for config.json.
    """

    name: str
    question: str
    setup: list[str]
    answer: str
    supports: bool | None
    table: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict_word(self) -> str:
        return {True: "SUPPORTED", False: "NOT SUPPORTED", None: "MIXED"}[self.supports]

    def write(self, out_dir: str | Path, quick: bool, seed: int) -> Path:
        """Write results.csv, the extra tables, the figures, verdict.md and config.json."""
        return write_result(self, out_dir, quick, seed)

    def verdict_markdown(self) -> str:
        setup = "\n".join(f"- {s}" for s in self.setup)
        return (f"# {self.name}\n\n**Question.** {self.question}\n\n**Setup.**\n{setup}\n\n"
                f"**Answer.** {self.answer}\n\n**Verdict: {self.verdict_word}.**\n")


def write_result(result: StudyResult, out_dir: str | Path, quick: bool, seed: int) -> Path:
    """Write a study's files into ``out_dir`` (atomically, file by file)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_csv(out / "results.csv", result.table)
    for fname, frame in result.extra_tables.items():
        io.write_csv(out / fname, frame)
    for fname, fig in result.figures.items():
        io.save_figure(fig, out / fname)
    io.write_text(out / "verdict.md", result.verdict_markdown())
    io.write_json(out / "config.json", io.run_config(
        f"study run {result.name}", {"quick": quick, **result.config}, seed))
    return out
