"""The solved-at gap (issue 21, item 4): stable-nalu's own training code beside the lab's
NAU → NMU stack on the ICLR preset, per seed, until the first solve.

A research script: nothing in the lab or its tests imports it. Results and the commands that
produced them: docs/results/2026-12-01-solved-at-gap.md. Every sub-command writes one CSV per
run (step, interpolation, extrapolation: the MSE on the validation and extrapolation sets,
every 1,000 iterations) under OUT/<side>/<variant>/<pair>_s<seed>.csv; `summary` reads them all.

    python workflows/research/solved_at_gap.py thresholds
    python workflows/research/solved_at_gap.py reference --out OUT --seeds 0-2      # stable-nalu, own venv
    python workflows/research/solved_at_gap.py lab --out OUT --seeds 0-2            # workflows/run.py
    python workflows/research/solved_at_gap.py direct --out OUT --seeds 0-9 --data fresh
    python workflows/research/solved_at_gap.py summary --out OUT --figure docs/results/solved-at-gap.png

`direct` runs the lab's trainer (tasks.model.trainer.train_bundle) in this process on the
lab study's own datasets (written by `lab`), with one ingredient swapped for stable-nalu's:
  --data fresh     a new pool of 128,000 rows every 1,000 iterations (each row drawn about
                   once, as stable-nalu's fresh batch per iteration) instead of the fixed
                   10⁶-row training set
  --init torch     the exact initial weights stable-nalu draws for that seed (dumped by the
                   runner at iteration 0: `reference --init-only`)
  --masks torch    the subsets where stable-nalu places them for that seed (numpy's
                   RandomState(seed).randint(0, N − used + 1))
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "workflows" / "research" / "stable_nalu_runner.py"
PAIRS = {  # name: (interpolation range, extrapolation range), as stable-nalu's arguments take them
    "u01": ([0, 1], [1, 5]),
    "upm2": ([-2, 2], [[-6, -2], [2, 6]]),
}
PAIR_LABELS = {"u01": "U[0,1] → U[1,5]", "upm2": "U[−2,2] → U[−6,−2] ∪ U[2,6]"}
STEPS_CAP = 2_000_000
PRESET = "iclr2020_mul_range"
NMU_STACK = "{arch: stack, layers: [nau, nmu], sparsity_lambda: 10, sparsity_start: 1000000, sparsity_end: 2000000}"
LOG_EVERY = 1000


# ---- thresholds -----------------------------------------------------------------------------
def paper_threshold(
    lo: float, hi: float, mirror: bool, samples: int = 1_000_000, epsilon: float = 1e-5, seed: int = 0
) -> float:
    """stable-nalu's export/function_task_static_mse_expectation.r (simulate.mse), ported:
    the ideal first layer with 1 − ε on each subset and ε elsewhere against the exact one, on
    `samples` draws of U[lo, hi] (times a random sign where `mirror`). R's `W[a.start:a.end]`
    is inclusive, so its subsets are 26 wide and overlap in 13 (the task's are 25 and 12)."""
    n, size = 100, 25
    overlap = 12
    a_start, a_end = 1, 1 + size
    b_start = a_end - overlap
    b_end = b_start + size

    def weights(e: float) -> np.ndarray:
        w = np.full((n, 2), e)
        w[a_start - 1 : a_end, 0] = 1 - e
        w[b_start - 1 : b_end, 1] = 1 - e
        return w

    near, exact = weights(epsilon), weights(0.0)
    rng = np.random.default_rng(seed)
    total, done = 0.0, 0
    while done < samples:
        m = min(100_000, samples - done)
        x = rng.uniform(lo, hi, (m, n))
        if mirror:
            x *= rng.integers(0, 2, (m, n)) * 2 - 1
        zy, zt = x @ near, x @ exact
        total += float(((zy[:, 0] * zy[:, 1] - zt[:, 0] * zt[:, 1]) ** 2).sum())
        done += m
    return total / samples


def paper_thresholds() -> dict[str, float]:
    return {"u01": paper_threshold(1, 5, False), "upm2": paper_threshold(2, 6, True)}


def lab_thresholds() -> dict[str, float]:
    from tasks.core.ranges import Ranges
    from tasks.data.targets import parse_target
    from tasks.evaluation.success import REGISTRY, SuccessConfig

    target = parse_target({"name": "subset", "input_size": 100, "subset_ratio": 0.25, "overlap_ratio": 0.5}, "t")
    success = SuccessConfig("iclr2020", 1e-5, 1_000_000)
    out = {}
    for pair, (_, extra) in PAIRS.items():
        ranges = Ranges.of(*(extra if isinstance(extra[0], list) else [extra]))
        out[pair] = REGISTRY["iclr2020"].threshold(target, ranges, "uniform", success, None, None)
    return out


def cmd_thresholds(args) -> int:
    paper, lab = paper_thresholds(), lab_thresholds()
    print("| pair | stable-nalu (R port, 26-wide subsets) | lab (iclr2020 rule, 25-wide) | lab / paper |")
    print("| --- | --- | --- | --- |")
    for pair in PAIRS:
        print(f"| {PAIR_LABELS[pair]} | {paper[pair]:.5g} | {lab[pair]:.5g} | {lab[pair] / paper[pair]:.3f} |")
    check = paper_threshold(2, 6, False)
    print(f"\nR port on U[2,6]: {check:.5g} (the paper's sft-last.csv: 0.160010658743333)")
    return 0


# ---- stable-nalu ----------------------------------------------------------------------------
def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def reference_job(args, pair: str, seed: int, threshold: float) -> tuple[list[str], Path]:
    interp, extra = PAIRS[pair]
    folder = Path(args.out) / "reference" / args.variant
    curve = folder / f"{pair}_s{seed}.csv"
    cmd = [
        "nice",
        "-n",
        "5",
        args.python,
        str(RUNNER),
        "--stable-nalu",
        args.stable_nalu,
        "--curve",
        str(curve),
        "--stop-below",
        "inf" if args.init_only else repr(threshold),
        "--stop-if-frozen",
        str(args.stop_if_frozen),
    ]
    if args.variant in ("lab-init", "lab-both"):
        cmd += ["--init-npz", str(export_dir(args.out, pair, seed) / "init.npz")]
    if args.variant in ("lab-data", "lab-both"):
        d = export_dir(args.out, pair, seed)
        key = json.loads((d / "key.json").read_text())["batch_key"]
        cmd += ["--train-rows", str(d / "train.npy"), "--masks", str(d / "masks.npy"), "--batch-key", str(key)]
    cmd += [
        "--",
        "--layer-type",
        "ReRegualizedLinearNAC",
        "--nac-mul",
        "mnac",
        "--operation",
        "mul",
        "--seed",
        str(seed),
        "--interpolation-range",
        json.dumps(interp).replace(" ", ""),
        "--extrapolation-range",
        json.dumps(extra).replace(" ", ""),
        "--max-iterations",
        str(args.steps),
        "--no-cuda",
    ]
    return cmd, curve


def cmd_reference(args) -> int:
    thresholds = paper_thresholds()
    jobs = []
    for pair in args.pairs:
        for seed in seeds_arg(args.seeds):
            cmd, curve = reference_job(args, pair, seed, thresholds[pair])
            if not curve.exists():
                jobs.append((cmd, curve))
    running: list[tuple[subprocess.Popen, Path]] = []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            cmd, curve = jobs.pop(0)
            curve.parent.mkdir(parents=True, exist_ok=True)
            log = open(curve.with_suffix(".log"), "w")  # closed with the process
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), curve))
        time.sleep(2)
        for proc, curve in list(running):
            if proc.poll() is not None:
                running.remove((proc, curve))
                print(f"{curve.name}: {curve.with_suffix('.log').read_text().strip().splitlines()[-1]}", flush=True)
    return 0


# ---- the lab --------------------------------------------------------------------------------
def lab_study(out: str, pair: str, steps: int = STEPS_CAP) -> Path:
    return Path(out) / "lab-study" / (pair if steps == STEPS_CAP else f"{pair}-{steps}")


def cmd_lab(args) -> int:
    for pair in args.pairs:
        interp, extra = PAIRS[pair]
        study = lab_study(args.out, pair, args.steps)
        cmd = [
            "nice",
            "-n",
            "5",
            sys.executable,
            str(ROOT / "workflows" / "run.py"),
            "--config",
            PRESET,
            "--set",
            f"seeds={json.dumps(seeds_arg(args.seeds))}",
            "--set",
            f"train_ranges=[{{range: {json.dumps(interp)}, eval: [{json.dumps(extra)}]}}]",
            "--set",
            f"architectures=[{NMU_STACK}]",
            "--set",
            f"training.steps={args.steps}",
            "--num-cpus",
            str(args.parallel),
            "--out",
            str(study),
        ]
        print(" ".join(cmd), flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's tasks, not an installed copy
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        variant = "preset" if args.steps == STEPS_CAP else f"preset-{args.steps}"
        write_lab_curves(study, Path(args.out) / "lab" / variant, pair)
    return 0


def write_lab_curves(study: Path, folder: Path, pair: str) -> None:
    from tasks.api import open_study

    s = open_study(str(study))
    probes, curves = s.probes(), s.curves()
    extra = probes[probes["eval_range"] != probes["train_range"]]
    joined = extra.merge(curves[["model_id", "step", "val_mse"]], on=["model_id", "step"])
    folder.mkdir(parents=True, exist_ok=True)
    for seed, g in joined.groupby("seed"):
        g = g.sort_values("step")
        write_curve(folder / f"{pair}_s{seed}.csv", g["step"], g["val_mse"], g["mse"])


def write_curve(path: Path, steps, interp, extra) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "interpolation", "extrapolation"])
        w.writerows(zip(np.asarray(steps).tolist(), np.asarray(interp).tolist(), np.asarray(extra).tolist()))


# ---- the lab's inputs for stable-nalu, and the lab's trainer with stable-nalu's -------------
def export_dir(out: str, pair: str, seed: int) -> Path:
    return Path(out) / "lab-inputs" / f"{pair}_s{seed}"


def study_sets(study: Path):
    """The lab study's config, its NMU architecture, and (train, val, extrapolation) rows."""
    from tasks.api import open_study
    from tasks.store import catalog
    from tasks.study.plan import make_plan

    s = open_study(str(study))
    plan = make_plan(s.config)
    model = plan.models[0]
    specs = plan.datasets
    rows = [catalog.read_dataset(s.store, specs[d]) for d in (model.train_dataset, model.val_dataset)]
    rows.append(catalog.read_dataset(s.store, specs[model.evals[-1].dataset_id]))
    return s.config, plan.config.architectures[0], rows


def cmd_export(args) -> int:
    """The lab's training rows, masks, batch key and initial weights, for the runner."""
    from tasks.model import registry
    from tasks.model.batches import batch_indices_np, stream_key
    from tasks.model.trainer import init_weights

    sys.path.insert(0, str(RUNNER.parent))
    from stable_nalu_runner import lab_batch_indices  # the runner's copy must agree with the lab

    for pair in args.pairs:
        config, arch, (train, _, _) = study_sets(lab_study(args.out, pair))
        for seed in seeds_arg(args.seeds):
            d = export_dir(args.out, pair, seed)
            d.mkdir(parents=True, exist_ok=True)
            key = stream_key(seed)
            for step in (0, 1, 12345, 1_999_999):
                ours = batch_indices_np(np.array([key]), step, 128, len(train))[0]
                assert np.array_equal(ours, lab_batch_indices(key, step, 128, len(train))), "batch order differs"
            np.save(d / "train.npy", train)
            np.save(d / "masks.npy", config.target.layouts([seed])[0])
            w = init_weights(registry.get(arch.arch), arch.params, [seed], 100)
            np.savez(d / "init.npz", W1=w["0_W"][0].T, W2=w["1_W"][0].T)  # PyTorch's [out, in]
            (d / "key.json").write_text(json.dumps({"batch_key": key}))
    return 0


def torch_masks(seed: int) -> np.ndarray:
    """Where stable-nalu places the subsets: RandomState(seed)'s first draw."""
    offset = np.random.RandomState(seed).randint(0, 100 - 38 + 1)
    masks = np.zeros((2, 100), np.float32)
    masks[0, offset : offset + 25] = 1
    masks[1, offset + 13 : offset + 38] = 1
    return masks


def training_windows(data: str, train: np.ndarray, interp: list[float], steps: int, batch: int):
    """(window_rows, load_window) for the trainer: the fixed set as one window, or a fresh pool
    of LOG_EVERY batches' rows per LOG_EVERY steps (rows drawn with replacement: each used about once)."""
    if data == "fixed":
        return [len(train)], lambda w: train[None]
    pool = LOG_EVERY * batch

    def load_window(w: int) -> np.ndarray:
        rng = np.random.default_rng([2026, w])
        return rng.uniform(interp[0], interp[1], (1, pool, 100)).astype(np.float32)

    return [pool] * -(-steps // LOG_EVERY), load_window


def cmd_direct(args) -> int:
    from tasks.model import registry
    from tasks.model.trainer import BundleData, init_weights, train_bundle

    variant = "+".join(f"{k}-{v}" for k, v in (("data", args.data), ("init", args.init), ("masks", args.masks)))
    for pair in args.pairs:
        config, arch, (train, val, extra) = study_sets(lab_study(args.out, pair))
        seeds = seeds_arg(args.seeds)
        training = arch.training_or(config.training)
        training = dataclasses.replace(training, steps=args.steps)
        unit = registry.get(arch.arch)
        weights = init_weights(unit, arch.params, seeds, 100)
        if args.init == "torch":
            dumps = [np.load(Path(args.out) / "reference" / "init" / f"{pair}_s{s}-last.npz") for s in seeds]
            weights = {"0_W": np.stack([d["W1"].T for d in dumps]), "1_W": np.stack([d["W2"].T for d in dumps])}
        masks = config.target.layouts(seeds)
        if args.masks == "torch":
            masks = np.stack([torch_masks(s) for s in seeds])
        window_rows, load_window = training_windows(args.data, train, PAIRS[pair][0], args.steps, training.batch_size)
        data = BundleData(
            dataset_index=[0] * len(seeds),
            window_rows=window_rows,
            load_window=load_window,
            val=val[None],
            probes=extra[None],
            probe_index=np.zeros((len(seeds), 1), np.int64),
            target=config.target,
            layouts=masks,
        )
        started = time.time()
        out = train_bundle(unit, arch.params, training, seeds, data, initial_weights=weights)
        folder = Path(args.out) / "direct" / variant
        folder.mkdir(parents=True, exist_ok=True)
        for k, seed in enumerate(seeds):
            write_curve(folder / f"{pair}_s{seed}.csv", out.log_steps, out.val_mse[:, k], out.probe_mse[:, k, 0])
        print(f"{variant} {pair}: {len(seeds)} seeds × {args.steps} steps in {time.time() - started:.0f}s", flush=True)
    return 0


# ---- the paper's own per-seed rows ------------------------------------------------------------
def cmd_paper_rows(args) -> int:
    """Runs in the paper's paper/results/sft-last.csv whose "first solved" step comes after a
    logged step that is already solved: impossible if the export read each run in step order
    (a run's 5,001 rows are steps 0, 1,000, …, 5·10⁶, so row i is step 1,000·(i − 1))."""
    import pandas as pd

    d = pd.read_csv(Path(args.stable_nalu) / "paper" / "results" / "sft-last.csv")
    d = d[(d["size"] == 5001) & d["solved"] & d["extrapolation.step.solved"].notna()].copy()
    d["model"] = d["name"].str.split("_").str[0]
    d["op"] = d["name"].str.split("_").str[1]
    d["seed"] = d["name"].str.extract(r"_s(\d+)_", expand=False).astype(int)
    d["best_step"] = (d["best.model.step"] - 1) * 1000  # the selected row's step, were rows in order
    d["impossible"] = d["extrapolation.step.solved"] > d["best_step"]
    bad = d[d["impossible"]]
    print(f"{len(bad)} of {len(d)} solved runs: first solved after the selected (solved) row's step\n")
    print("| model | op | seed | best row | its step if in order | published first solved |")
    print("| --- | --- | --- | --- | --- | --- |")
    for _, r in bad.sort_values(["model", "op", "seed"]).iterrows():
        print(
            f"| {r['model']} | {r['op']} | {r['seed']} | {r['best.model.step']} | {r['best_step']:,} | "
            f"{int(r['extrapolation.step.solved']):,} |"
        )
    return 0


# ---- summary --------------------------------------------------------------------------------
def solved_at(curve: Path, threshold: float) -> int | None:
    with open(curve) as f:
        for row in csv.DictReader(f):
            if row["extrapolation"] not in ("", "nan") and float(row["extrapolation"]) < threshold:
                return int(row["step"])
    return None


def last_step(curve: Path) -> int:
    with open(curve) as f:
        rows = list(csv.DictReader(f))
    return int(rows[-1]["step"]) if rows else 0


def collect(out: Path) -> dict[tuple[str, str, str], dict[int, Path]]:
    """(side, variant, pair) → {seed: curve}."""
    runs: dict[tuple[str, str, str], dict[int, Path]] = {}
    for curve in sorted(out.glob("*/*/*_s*.csv")):
        side, variant = curve.parts[-3], curve.parts[-2]
        pair, seed = curve.stem.rsplit("_s", 1)
        if variant == "init" or pair not in PAIRS:
            continue
        runs.setdefault((side, variant, pair), {})[int(seed)] = curve
    return runs


def cmd_summary(args) -> int:
    out = Path(args.out)
    thresholds = {"paper": paper_thresholds(), "lab": lab_thresholds()}
    runs = collect(out)
    print("| side | variant | pair | seed | solved at (paper's threshold) | solved at (lab's) | steps run |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (side, variant, pair), curves in sorted(runs.items()):
        for seed, curve in sorted(curves.items()):
            a = solved_at(curve, thresholds["paper"][pair])
            b = solved_at(curve, thresholds["lab"][pair])
            print(
                f"| {side} | {variant} | {pair} | {seed} | {a if a is not None else '–'} | "
                f"{b if b is not None else '–'} | {last_step(curve)} |"
            )
    if args.figure:
        merge_order = out / "merge_order.csv"
        figure(runs, thresholds["paper"], merge_order if merge_order.exists() else None, Path(args.figure))
    return 0


PAPER_FIGURE = {  # NMU's "solved at" in paper/results/simple_function_static_mul_range.pdf: mean [95%]
    "u01": (6.25e5, 5.46e5, 7.35e5),
    "upm2": (8.5e4, 7.2e4, 9.9e4),
}
EXPORT_TICK = "stable-nalu's export\non lab curves\n(mean, per CSV order)"
EXPORT_LABELS = {"u01": "U[0,1]", "upm2": "U[-2,2]"}  # the `parameter` column of the R script's output


def figure(runs, thresholds: dict[str, float], merge_order: Path | None, path: Path) -> None:
    """Per pair: each seed's first solve (stable-nalu's code, the lab), the paper's figure value,
    and what stable-nalu's export computes from the lab's curves over random CSV orders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exported: list[dict[str, str]] = []
    if merge_order is not None and merge_order.exists():
        with open(merge_order, newline="") as f:  # R's write_csv quotes labels with commas ("U[-2,-1]")
            exported = list(csv.DictReader(f))
    columns = [
        ("reference", "base", "stable-nalu\n(first solve)", "tab:red"),
        ("lab", "preset", "lab\n(first solve)", "tab:blue"),
    ]
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(11, 4.4))
    for ax, pair in zip(axes, PAIRS):
        for x, (side, variant, _label, colour) in enumerate(columns):
            values = [solved_at(c, thresholds[pair]) for c in runs.get((side, variant, pair), {}).values()]
            values = [v for v in values if v is not None]
            jitter = np.linspace(-0.15, 0.15, max(len(values), 1))[: len(values)]
            ax.scatter(x + jitter, values, color=colour, s=18, alpha=0.8)
            if values:
                ax.hlines(np.mean(values), x - 0.25, x + 0.25, color=colour)
        means = [float(r["export.mean"]) for r in exported if r["parameter"] == EXPORT_LABELS[pair]]
        ax.scatter(np.full(len(means), 2.0), means, color="tab:grey", marker="D", s=22)
        mean, lo, hi = PAPER_FIGURE[pair]
        ax.errorbar([3], [mean], yerr=[[mean - lo], [hi - mean]], fmt="^", color="k", capsize=4)
        ax.set_xticks(
            range(4),
            [c[2] for c in columns] + [EXPORT_TICK, "paper's figure\n(mean, 95%)"],
            fontsize=8,
        )
        ax.set(yscale="log", title=PAIR_LABELS[pair], ylabel="solved at (iteration)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("thresholds")
    sub.add_parser("paper-rows").add_argument("--stable-nalu", default="/work/ref/stable-nalu")
    for name in ("reference", "lab", "export", "direct", "summary"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--seeds", default="0-2")
        s.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
        s.add_argument("--steps", type=int, default=STEPS_CAP)
        s.add_argument("--parallel", type=int, default=2)
        if name == "reference":
            s.add_argument("--python", default="/work/venvs/stable-nalu/bin/python")
            s.add_argument("--stable-nalu", default="/work/ref/stable-nalu")
            s.add_argument("--variant", default="base", choices=["base", "init", "lab-init", "lab-data", "lab-both"])
            s.add_argument("--stop-if-frozen", type=int, default=20)
            s.add_argument("--init-only", action="store_true", help="stop at iteration 0: dump the initial weights")
        if name == "direct":
            s.add_argument("--data", default="fixed", choices=["fixed", "fresh"])
            s.add_argument("--init", default="lab", choices=["lab", "torch"])
            s.add_argument("--masks", default="lab", choices=["lab", "torch"])
        if name == "summary":
            s.add_argument("--figure")
    args = p.parse_args(argv)
    if getattr(args, "init_only", False):
        args.variant = "init"
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    return {
        "thresholds": cmd_thresholds,
        "paper-rows": cmd_paper_rows,
        "reference": cmd_reference,
        "lab": cmd_lab,
        "export": cmd_export,
        "direct": cmd_direct,
        "summary": cmd_summary,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
