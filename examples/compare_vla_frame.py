"""Compare Jetson AGX Orin, AGX Thor, DRIVE Thor-U and the Li Auto M100 on one driving VLA
frame (vision encoder, prefill, action decode), with 5-95 % bands from seeded draws of each
chip's uncertain numbers and of the cost model's prediction error.

    python examples/compare_vla_frame.py [--draws N]
"""

import argparse

import numpy as np

from chipdse import api

CHIPS = ["jetson-agx-orin-64gb", "jetson-agx-thor", "drive-thor-u", "li-m100"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--model", default="qwen2.5-0.5b")
    args = ap.parse_args()
    precision = api.make_precision("int8", "int8", "fp16")
    draws = api.draw(CHIPS, args.draws, seed=0)
    print(f"vla-drive-10hz with {args.model}, {precision.label()} ({args.draws} draws)")
    print(f"{'chip':<22}{'encode ms':>10}{'prefill ms':>11}{'decode ms':>10}{'frame ms':>10}"
          f"{'  frame 5-95 %':>18}{'energy J':>10}")
    for chip in CHIPS:
        e = api.frame_estimate(chip, args.model, precision=precision)
        s = api.frame_estimate_samples(chip, draws, model=args.model, precision=precision)
        lo, hi = (float(x) * 1e3 for x in np.percentile(s["total_s"], (5, 95)))
        print(f"{chip:<22}{e.encode_s * 1e3:>10.1f}{e.prefill_s * 1e3:>11.1f}"
              f"{e.decode_s * 1e3:>10.1f}{e.total_s * 1e3:>10.1f}{lo:>9.1f} -{hi:>7.1f}"
              f"{e.energy_j:>10.2f}")


if __name__ == "__main__":
    main()
