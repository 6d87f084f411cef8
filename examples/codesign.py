"""Co-design chip and model together: NSGA-II over the PLAS architecture grid and the
parametric chip, minimising loss, driving-request latency and die area, then the designs
of the front that meet the 100 ms budget with the least area at each loss.

    python examples/codesign.py [--generations G] [--pop-size P]
"""

import argparse

from chipdse import api


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=int, default=40)
    ap.add_argument("--pop-size", type=int, default=100)
    args = ap.parse_args()
    r = api.codesign(workload="driving", pop_size=args.pop_size,
                     generations=args.generations, seed=0, simulator=None, polish=False)
    front = r.front
    print(f"{len(front)} Pareto-optimal (loss, latency, area) designs; {r.n_evaluated} "
          f"evaluated in {r.elapsed_s:.1f} s")
    arch = [c for c in ("n_layers", "d_model", "ffn_ratio", "n_experts", "top_k")
            if c in front.columns]
    cols = ["loss", "latency_s", "area_mm2"] + arch + ["matrix_units", "dram_bus_bits",
                                                        "sram_mib", "node_nm"]
    cols = [c for c in cols if c in front.columns]
    best = front.sort_values(["loss", "area_mm2"]).drop_duplicates("loss").head(10)
    print(best[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
