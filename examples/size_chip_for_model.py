"""Size a chip for one model: the smallest parametric chip (microarch.template) that runs the
driving request of Qwen2.5-0.5B within its 100 ms budget, from the area-latency-energy front
of a chip-sizing search.

    python examples/size_chip_for_model.py [--model M] [--generations G]
"""

import argparse

from chipdse import api


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-0.5b")
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--pop-size", type=int, default=60)
    args = ap.parse_args()
    r = api.codesign(model=args.model, workload="driving", pop_size=args.pop_size,
                     generations=args.generations, seed=0, simulator=None, polish=False)
    front = r.front
    print(f"{len(front)} Pareto-optimal chips for {args.model} (latency, energy, area); "
          f"{r.n_evaluated} designs evaluated")
    cols = ["area_mm2", "accel_area_mm2", "latency_s", "energy_j", "int8_tops",
            "dram_gb_per_s", "matrix_units", "clock_ghz", "dram_bus_bits", "sram_mib",
            "kv_sram_mib", "node_nm"]
    cols = [c for c in cols if c in front.columns]
    smallest = front.sort_values("area_mm2").iloc[0]
    print(f"smallest chip within the budget: {smallest.area_mm2:.0f} mm^2 "
          f"({smallest.accel_area_mm2:.0f} mm^2 of accelerator beside the fixed CPU and "
          f"uncore), {smallest.latency_s * 1e3:.1f} ms, {smallest.int8_tops:.0f} INT8 TOPS, "
          f"{smallest.dram_gb_per_s:.0f} GB/s")
    print(front[cols].sort_values("area_mm2").head(8).to_string(
        index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
