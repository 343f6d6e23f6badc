"""The peer of the scale figures: Ray Tune, what a user would pick for "many models", running
trials of a trivial function trainable (one report each) on the same machine, in a Ray of its
own; its wall time per trial beside the lab's per model.

    python -m tasks.bench.tune_peer --trials 100 [--reuse-actors]   # one JSON line

Tune is not a dependency of the lab: install it for the benchmark (`pip install
multiplication-lab[bench]`); without it the benchmark says so in one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

TRIALS = 100
MISSING = "Ray Tune is not installed (pip install 'multiplication-lab[bench]' or 'ray[tune]'): no Tune figures"


def tune_installed() -> bool:
    if importlib.util.find_spec("ray") is None:
        return False
    try:
        from ray import tune  # noqa: F401  (it imports its own optional dependencies)
    except ImportError:
        return False
    return True


def trivial(config: dict[str, Any]) -> None:
    """The cheapest trial Tune can run: one report."""
    from ray import tune

    tune.report({"score": config["x"]})


def run_trials(trials: int, reuse_actors: bool) -> dict[str, Any]:
    """`trials` trials with Tune's defaults (one CPU each, every CPU of this machine), or with
    its actors reused; seconds of `Tuner.fit`, per trial."""
    import ray
    from ray import tune

    ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="mlab-tune-") as storage:
            tuner = tune.Tuner(
                trivial,
                param_space={"x": tune.grid_search(list(range(trials)))},
                tune_config=tune.TuneConfig(reuse_actors=reuse_actors),
                run_config=tune.RunConfig(storage_path=storage, verbose=0),
            )
            started = time.perf_counter()
            results = tuner.fit()
            seconds = time.perf_counter() - started
        errors = results.num_errors
    finally:
        ray.shutdown()
    return {
        "trials": trials,
        "reuse_actors": reuse_actors,
        "seconds": seconds,
        "seconds_per_trial": seconds / trials,
        "errors": errors,
    }


def measure(trials: int = TRIALS) -> dict[str, Any] | None:
    """Tune's defaults and reused actors, each in a process of its own; None without Tune."""
    if not tune_installed():
        return None
    out = {}
    for name, flag in (("defaults", []), ("reuse_actors", ["--reuse-actors"])):
        cmd = [sys.executable, "-m", "tasks.bench.tune_peer", "--trials", str(trials), *flag]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"Ray Tune ({name}) failed:\n{proc.stderr[-3000:]}")
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Ray Tune's time per trivial trial (see module docstring).")
    p.add_argument("--trials", type=int, default=TRIALS)
    p.add_argument("--reuse-actors", action="store_true")
    args = p.parse_args(argv)
    print(json.dumps(run_trials(args.trials, args.reuse_actors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
