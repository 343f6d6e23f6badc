"""Run stable-nalu's own `experiments/simple_function_static.py` until the first solve.

Research tool for the solved-at comparison (docs/results/2026-12-01-solved-at-gap.md). It runs
in a separate virtualenv with PyTorch (never the lab's environment, never in CI) and imports
nothing from the lab:

    /work/venvs/stable-nalu/bin/python workflows/research/stable_nalu_runner.py \
        --stable-nalu /work/ref/stable-nalu --stop-below 0.0497 --curve out.csv -- \
        --layer-type ReRegualizedLinearNAC --nac-mul mnac --operation mul --seed 0 \
        --interpolation-range '[0,1]' --extrapolation-range '[1,5]' --max-iterations 2000000

Everything after `--` goes to the experiment script unchanged; the script runs unmodified
(runpy) and logs through stable-nalu's SummaryWriter as usual. Three modules it imports are
replaced by stubs, because this task never uses them: `torchvision` (MNIST/SVHN datasets),
`tensorflow` (its TensorBoard *reader*) and `tensorboardX` (its writer's backend: replaced by a
recorder that keeps the interpolation and extrapolation MSE the script logs every 1,000
iterations, writes them to --curve, and stops the run at the first extrapolation MSE under
--stop-below: the paper's "solved at", export/function_task_static_mul_range.r,
first.solved.step). --stop-if-frozen N also stops a run whose extrapolation MSE stayed exactly
the same for N evaluations: its output no longer depends on its weights (every NMU weight
clamped at 0 gives the constant 1, and no gradient reaches the NAU), a state the sparsity
regulariser cannot leave (it pulls those weights to 0), so the run can never solve.

Controlled changes (all off by default; each swaps one ingredient for the lab's):
  --init-npz F     initial weights W1 [2, N], W2 [1, 2] (PyTorch layout) after reset_parameters
  --train-rows F   train on the rows of F (.npy float32 [n, N]) in the lab's batch order
                   (--batch-key, the lab's tasks.model.batches) with the lab's subset masks
                   (--masks F.npy [2, N]) instead of a fresh batch per iteration
  --adam-eps E     Adam's ε (PyTorch's default 1e-8)
"""

from __future__ import annotations

import argparse
import csv
import importlib.machinery
import os
import runpy
import sys
import time
import types
from typing import ClassVar

import numpy as np


class Solved(Exception):
    """Raised from the recorder at the first extrapolation MSE under the threshold."""


class Frozen(Exception):
    """Raised when the extrapolation MSE has not changed for --stop-if-frozen evaluations."""


class Recorder:
    """Stands in for tensorboardX.SummaryWriter: keeps the two metrics the script logs."""

    stop_below: float | None = None
    stop_on: str = "extrapolation"
    frozen_after: int = 0
    model = None
    rows: ClassVar[list[dict]] = []

    def __init__(self, *args, **kwargs):
        self._pending: dict = {}
        self._t0 = time.perf_counter()

    def add_scalar(self, tag, value, step=None):
        name = tag.lstrip("/")
        if name not in ("metric/valid/interpolation", "metric/test/extrapolation", "loss/train/critation"):
            return
        self._pending[name] = float(value)
        if name == "metric/test/extrapolation":
            row = {
                "step": int(step),
                "interpolation": self._pending.get("metric/valid/interpolation"),
                "extrapolation": self._pending[name],
                "seconds": round(time.perf_counter() - self._t0, 2),
            }
            Recorder.rows.append(row)
            if Recorder.stop_below is not None and row[Recorder.stop_on] < Recorder.stop_below:
                raise Solved(row["step"])
            last = [r["extrapolation"] for r in Recorder.rows[-Recorder.frozen_after :]]
            if Recorder.frozen_after and len(last) == Recorder.frozen_after and len(set(last)) == 1:
                raise Frozen(row["step"])

    def add_text(self, *args, **kwargs):
        pass

    def add_histogram(self, *args, **kwargs):
        pass

    def close(self):
        pass


def install_stubs() -> None:
    """Modules stable_nalu imports for other tasks (or for TensorBoard files), stubbed."""
    for name in ("tensorboardX", "torchvision", "tensorflow"):
        stub = types.ModuleType(name)
        stub.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo looks it up
        sys.modules[name] = stub
    sys.modules["tensorboardX"].SummaryWriter = Recorder


def lab_batch_indices(key: int, step: int, batch: int, n_rows: int) -> np.ndarray:
    """The lab's batch of one model at one step (tasks.model.batches.batch_indices_np, copied
    so this file imports nothing from the lab; solved_at_gap.py checks they agree)."""
    mask = np.uint64(0xFFFFFFFF)

    def mix(x):
        x = x.astype(np.uint64) & mask
        x ^= x >> np.uint64(16)
        x = (x * np.uint64(0x7FEB352D)) & mask
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(0x846CA68B)) & mask
        x ^= x >> np.uint64(16)
        return x

    run = 32
    n_runs = -(-batch // run)
    j = np.arange(n_runs, dtype=np.uint64) + np.uint64(step * n_runs)
    starts = mix(mix(j) ^ np.uint64(key)) % np.uint64(n_rows)
    idx = (starts.astype(np.int64)[:, None] + np.arange(run)[None, :]) % n_rows
    return idx.reshape(-1)[:batch]


def patch_training_stream(stable_nalu, rows_file: str, masks_file: str, key: int) -> None:
    """The training fork (the one without a seed) yields the lab's batches instead."""
    import torch

    rows = np.load(rows_file, mmap_mode="r")
    masks = torch.tensor(np.load(masks_file), dtype=torch.float32)  # [2, N]
    cls = stable_nalu.dataset.SimpleFunctionStaticDataset
    original = cls.fork

    class LabStream:
        def dataloader(self, batch_size=128):
            step = 0
            while True:
                x = torch.tensor(np.asarray(rows[lab_batch_indices(key, step, batch_size, len(rows))]))
                sums = x @ masks.T  # float32, as the lab's in-graph target
                yield x, (sums[:, 0] * sums[:, 1])[:, None]
                step += 1

    def fork(self, sample_range=(1, 2), seed=None, **kwargs):
        if seed is None:
            return LabStream()
        return original(self, sample_range=sample_range, seed=seed, **kwargs)

    cls.fork = fork


def keep_model(stable_nalu) -> None:
    """Remember the network the script builds, so its last weights can be saved."""
    cls = stable_nalu.network.SimpleFunctionStaticNetwork
    original = cls.reset_parameters

    def reset_parameters(self):
        original(self)
        Recorder.model = self

    cls.reset_parameters = reset_parameters


def patch_init(stable_nalu, init_file: str) -> None:
    import torch

    weights = np.load(init_file)
    cls = stable_nalu.network.SimpleFunctionStaticNetwork
    original = cls.reset_parameters

    def reset_parameters(self):
        original(self)
        with torch.no_grad():
            self.layer_1.layer.W.copy_(torch.tensor(weights["W1"]))
            self.layer_2.layer.W.copy_(torch.tensor(weights["W2"]))

    cls.reset_parameters = reset_parameters


def patch_adam_eps(eps: float) -> None:
    import torch

    original = torch.optim.Adam

    def adam(params, lr=1e-3, **kwargs):
        return original(params, lr=lr, eps=eps, **kwargs)

    torch.optim.Adam = adam


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, script_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stable-nalu", required=True, help="a checkout of AndreasMadsen/stable-nalu")
    p.add_argument("--stop-below", type=float, help="stop at the first extrapolation MSE under this")
    p.add_argument(
        "--stop-on",
        default="extrapolation",
        choices=["extrapolation", "interpolation"],
        help="the metric --stop-below watches (the paper's sft-last.csv also records interpolation.step.solved)",
    )
    p.add_argument("--curve", required=True, help="CSV of step, interpolation, extrapolation MSE")
    p.add_argument(
        "--stop-if-frozen",
        type=int,
        default=0,
        help="stop when this many evaluations in a row gave the same extrapolation MSE (0: never)",
    )
    p.add_argument("--init-npz")
    p.add_argument("--train-rows")
    p.add_argument("--masks")
    p.add_argument("--batch-key", type=int)
    p.add_argument("--adam-eps", type=float)
    args = p.parse_args(ours)

    os.environ.setdefault("LSB_DJOB_NUMPROC", "1")  # the script's own thread setting: one core
    os.environ["TENSORBOARD_DIR"] = os.environ["SAVE_DIR"] = os.path.dirname(os.path.abspath(args.curve))
    install_stubs()
    sys.path.insert(0, args.stable_nalu)
    import stable_nalu

    stable_nalu.writer.summary_writer.SummaryWriterRaw = Recorder
    Recorder.stop_below, Recorder.frozen_after, Recorder.stop_on = args.stop_below, args.stop_if_frozen, args.stop_on
    if args.init_npz:
        patch_init(stable_nalu, args.init_npz)
    if args.train_rows:
        patch_training_stream(stable_nalu, args.train_rows, args.masks, args.batch_key)
    if args.adam_eps is not None:
        patch_adam_eps(args.adam_eps)
    keep_model(stable_nalu)
    stable_nalu.writer.save_model = lambda name, model: None  # no .pth files
    sys.argv = ["simple_function_static.py", *script_args]
    solved = frozen = None
    try:
        runpy.run_path(os.path.join(args.stable_nalu, "experiments", "simple_function_static.py"), run_name="__main__")
    except Solved as s:
        solved = s.args[0]
    except Frozen as f:
        frozen = f.args[0]
    with open(args.curve, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "interpolation", "extrapolation", "seconds"])
        w.writeheader()
        w.writerows(Recorder.rows)
    model = Recorder.model
    np.savez(
        args.curve[: -len(".csv")] + "-last.npz",
        W1=model.layer_1.layer.W.detach().numpy(),
        W2=model.layer_2.layer.W.detach().numpy(),
    )
    print(f"solved_at={solved if solved is not None else 'NA'} frozen_at={frozen or 'NA'} rows={len(Recorder.rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
