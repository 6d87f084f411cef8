"""What every study writes: results.csv, its figures, verdict.md and config.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from chipdse import io

__all__ = ["StudyResult", "write_result"]


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
