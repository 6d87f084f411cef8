"""Reproducible experiments on chipdse's public API (``chipdse.api`` only).

Each study is a module of this package exposing ``NAME``, ``QUESTION`` and
``run(out_dir, quick, seed) -> StudyResult``; :data:`REGISTRY` lists them in reading order.
``chipdse study list`` / ``chipdse study run NAME|all -o DIR [--quick]`` drive them.
"""

from __future__ import annotations

import importlib

from studies.base import StudyResult, write_result

__all__ = ["REGISTRY", "get_study", "StudyResult", "write_result"]

# study name -> module (in the order a reader should take them)
REGISTRY: dict[str, str] = {
    "plas-orin": "studies.plas_orin",
    "moe-batch1": "studies.moe_batch1",
    "memory-vs-tops": "studies.memory_vs_tops",
    "phase-aware": "studies.phase_aware",
    "ffn-ratio": "studies.ffn_ratio",
    "int8-speedup": "studies.int8_speedup",
    "mach100-vs-thor": "studies.mach100_vs_thor",
    "scenario-chips": "studies.scenario_chips",
}


def get_study(name: str):
    """The study module called ``name``; KeyError lists the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown study {name!r} (known: {', '.join(REGISTRY)})")
    return importlib.import_module(REGISTRY[name])
