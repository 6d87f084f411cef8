"""Speed of the uncertainty layer, timed as a user waits for it.

1. ``chipdse estimate --uncertainty 1000`` end to end (a fresh process: import, load, 1000
   draws of the chip's uncertain numbers and of the prediction error, one vectorised
   evaluation, percentiles), against the same command without ``--uncertainty``. Target: the
   1000-draw command under 3 s.
2. The draws alone for two chips of different families (``chipdse.uncertainty.draw``), and
   one vectorised estimate over them: draws per second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

CMD = [sys.executable, "-m", "chipdse", "estimate", "--chip", "drive-thor-u", "--model",
       "qwen3-4b", "--weights", "int8", "--activations", "int8", "--format", "json"]


def _wall(cmd: list[str], runs: int = 3) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def bench_cli() -> None:
    plain = _wall(CMD)
    banded = _wall(CMD + ["--uncertainty", "1000"])
    print(f"estimate (point)              median {sorted(plain)[1]:.2f} s "
          f"(min {min(plain):.2f}, max {max(plain):.2f})")
    print(f"estimate --uncertainty 1000   median {sorted(banded)[1]:.2f} s "
          f"(min {min(banded):.2f}, max {max(banded):.2f}); target < 3 s")


def bench_draws() -> None:
    from chipdse import api
    from chipdse.uncertainty import draw

    chips = [api.load_chip("li-m100"), api.load_chip("drive-thor-u")]
    model = api.load_model("qwen3-1.7b")
    p = api.make_precision("int8", "int8")
    for n in (200, 1000):
        t0 = time.perf_counter()
        d = draw(chips, n, seed=0)
        t1 = time.perf_counter()
        for c in chips:
            api.estimate_samples(c, model, p, 1, 1024, 16, d)
        t2 = time.perf_counter()
        print(f"{n:5d} draws of 2 chips: draw {t1 - t0:.2f} s ({2 * n / (t1 - t0):,.0f} "
              f"chips/s), estimate both {t2 - t1:.2f} s")


def main() -> None:
    bench_cli()
    bench_draws()


if __name__ == "__main__":
    main()
