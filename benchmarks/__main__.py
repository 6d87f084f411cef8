"""Run every benchmark module and print its figures: ``python -m benchmarks [name ...]``."""

from __future__ import annotations

import importlib
import sys

MODULES = ["bench_cli", "bench_analytic", "bench_sim", "bench_search", "bench_dask",
           "bench_uncertainty"]


def main(argv: list[str]) -> int:
    names = argv or MODULES
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==", flush=True)
        mod.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
