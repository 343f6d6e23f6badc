"""Side-by-side benchmark of the project's hot paths, in one run on one machine.

    python workflows/bench.py [--quick] [--num-cpus N] [--out DIR]

(a) per-model Keras `fit` of the article's model (steps/s, TF's default threads), and its
    peers on one core each: Keras tuned (jit_compile, steps_per_execution), the project's
    trainer at K=1, at the bundle size its calibration picks, and across a sweep of sizes;
    and the ICLR preset's NAU → NMU stack on 100 inputs at its calibrated size;
(b) the project's trainer on the same model as Ray tasks, at the calibrated bundle size;
(c) the ratio (b)/(a), and per core against tuned Keras;
(d) dataset generation (sample + Parquet + checksum + atomic rename) against raw pyarrow
    writing the same table with the same settings (and with its defaults), one core, and
    the generation's Ray throughput on all CPUs;
(e) Ray scaling: the same training bundles on 1 slot (one after another) and on 2 slots;
(f) the peak RSS of a training task's worker.
With --scale 1.2k,12k,100k,1m: each size's phase times, driver peak RSS and unchanged rerun.
GPU figures are added when the Ray cluster has GPUs. The last line is one JSON object.
--out must be empty or new: a reused one would time cached work.
"""

from __future__ import annotations

import argparse
import os
import sys

from tasks.bench.harness import run_bench


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Side-by-side benchmark (see module docstring).")
    p.add_argument("--quick", action="store_true", help="smaller sizes: finishes in about 3 minutes on 2 cores")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the test-suite's smoke run
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2, help="CPUs for the local Ray instance")
    p.add_argument("--out", help="empty scratch directory, kept (default: a temporary one, removed afterwards)")
    p.add_argument(
        "--scale",
        metavar="SIZES",
        help="instead: the scale figures for these study sizes, e.g. 1.2k,12k,100k,1m (tasks/bench/scale.py)",
    )
    p.add_argument("--nodes", type=int, default=4, help="simulated cluster nodes for the 1m scale study (default 4)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
