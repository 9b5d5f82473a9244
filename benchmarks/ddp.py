"""Time per epoch of one process against two DDP processes (gloo) on this machine's CPU cores.

Writes ``benchmarks/results/ddp.md``. Run under the machine's heavy-job lock::

    flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/ddp.py

For each setting, the same run (same seed, same global batch) is timed as one process with
``--threads`` torch threads (default: every usable core), as one process with ``threads /
nproc`` threads, and as ``--nproc`` processes (:func:`labelnoise.training.distributed.launch`,
gloo) with ``threads / nproc`` threads each, so that the DDP run uses the cores of the first.
The time per epoch is the median of the engine's per-epoch ``seconds`` (rank 0's) over the
epochs after the first (the first pays one-off costs); the ratios are taken in the same run.
The largest relative weight difference between the DDP run and one process with the same
threads per process is reported as a check that they trained the same networks.

Settings (synthetic data, so that nothing needs downloading):

* ``resnet8-ce``: cross entropy, ResNet-8, 2,000 images 32x32 (a coloured square on noise,
  4 classes), batch 256, 3 epochs, augmentation;
* ``mlp-dividemix``: DivideMix (1 warm-up epoch, then 2 epochs of co-divide + MixMatch), MLP
  512-512 on 8,000 x 64 features (4 Gaussian classes, 30% of labels shifted), batch 128.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from labelnoise import _io  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "ddp.md"


def blob_images(n: int, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]])
    y = rng.integers(0, 4, n)
    x = rng.normal(120, 50, (n, size, size, 3))
    for i in range(n):
        r, c = rng.integers(0, size - 8, 2)
        x[i, r:r + 8, c:c + 8] += colours[y[i]] - 120
    return x.clip(0, 255).astype(np.uint8), y


def gaussian_features(n: int, d: int = 64, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (k, d))
    y = rng.integers(0, k, n)
    x = (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    return x, np.where(rng.random(n) < 0.3, (y + 1) % k, y)


def run_setting(name: str, perturb: bool = False) -> dict:
    """Train ``name`` (in this process, or on every rank of a launch); rank 0's timings.
    ``perturb``: multiply every initial weight by ``1 + 1e-7 * N(0, 1)`` (seeded), to show how
    much float-rounding-sized differences grow over the run."""
    import torch

    from labelnoise.training import dividemix, engine, standard

    if perturb:
        real = engine.make_model

        def make(*a, **k):
            net = real(*a, **k)
            gen = torch.Generator().manual_seed(5)
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(1 + 1e-7 * torch.randn(p.shape, generator=gen).to(p.device))
            return net

        engine.make_model = make
        try:
            return run_setting(name)
        finally:
            engine.make_model = real

    if name == "resnet8-ce":
        x, y = blob_images(2000)
        res = standard.fit(x, y, model="resnet8", epochs=3, batch_size=256, lr=0.1,
                           progress=False, seed=0)
    elif name == "mlp-dividemix":
        x, y = gaussian_features(8000)
        res = dividemix.fit(x, y, model="mlp", epochs=3, warmup_epochs=1, batch_size=128,
                            lr=0.02, progress=False, seed=0)
    else:
        raise ValueError(f"unknown setting {name!r}")
    weights = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in res.models]
    return {"seconds": [r["seconds"] for r in res.history], "weights": weights,
            "threads": torch.get_num_threads()}


def relative_difference(a, b) -> float:
    """Largest over the parameters (not the BatchNorm statistics) of max |a - b| / max |a|."""
    worst = 0.0
    for sa, sb in zip(a, b):
        for k in sa:
            if "running_" in k or "num_batches" in k:
                continue
            scale = float(sa[k].double().abs().max()) or 1.0
            worst = max(worst, float((sa[k].double() - sb[k].double()).abs().max()) / scale)
    return worst


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", default="resnet8-ce,mlp-dividemix")
    ap.add_argument("--nproc", type=int, default=2)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ap.add_argument("--threads", type=int, default=cores)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from labelnoise.training import distributed

    load = os.getloadavg()
    share = max(1, args.threads // args.nproc)
    rows = []
    for name in args.settings.split(","):
        times = {}
        for label, threads in (("all", args.threads), ("share", share)):
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            out = run_setting(name)
            times[label] = (statistics.median(out["seconds"][1:]), time.perf_counter() - t0, out)
        t0 = time.perf_counter()
        many = distributed.launch(run_setting, args.nproc, args=(name,), threads=share,
                                  backend="gloo")
        times["ddp"] = (statistics.median(many["seconds"][1:]), time.perf_counter() - t0, many)
        e_all, e_share, e_ddp = (times[k][0] for k in ("all", "share", "ddp"))
        ref = times["share"][2]["weights"]
        diff = relative_difference(ref, many["weights"])
        torch.set_num_threads(share)
        jitter = relative_difference(ref, run_setting(name, perturb=True)["weights"])
        rows.append((name, e_all, e_share, e_ddp, diff, jitter, times["share"][1],
                     times["ddp"][1]))
        print(f"{name}: 1 process {e_all:.2f} s/epoch ({args.threads} threads), "
              f"{e_share:.2f} ({share}), {args.nproc} processes {e_ddp:.2f}; "
              f"relative weight difference {diff:.1e} (perturbed start {jitter:.1e})", flush=True)

    cmd = "flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/ddp.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    t = "thread" if share == 1 else "threads"
    lines = [
        "# Training with DDP: one process against two (CPU)",
        "",
        f"Command: `{cmd.strip()}`. Machine: {platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other jobs; load average {load[0]:.2f} at the start), "
        f"Python {platform.python_version()}, torch {torch.__version__}, gloo. "
        f"Date: {datetime.date.today().isoformat()}.",
        "",
        "The same run (same seed, same global batch) as one process with every core's thread "
        f"({args.threads}), as one process with {share} {t}, and as {args.nproc} DDP "
        f"processes with {share} {t} each. Seconds per epoch: median over the epochs after "
        "the first, rank 0's clock. Ratios in the same run (below 1: DDP faster). Wall: the "
        "whole call, with process start-up (importing torch in each new process). Weight "
        f"difference: largest relative difference of a parameter after the run, {args.nproc} "
        f"processes against one process with {share} {t}; beside it, the same for one "
        "process whose initial weights were multiplied by 1 + 1e-7 N(0, 1): how much a "
        "float-rounding-sized difference grows over these runs.",
        "",
        f"| setting | 1 process, {args.threads} threads | 1 process, {share} {t} | "
        f"{args.nproc} processes, {share} {t} each | ratio to {args.threads} threads | "
        f"ratio to {share} {t} | weight difference, DDP / perturbed start | "
        f"wall 1 / {args.nproc} (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e_all, e_share, e_ddp, diff, jitter, w1, wn in rows:
        lines.append(f"| {name} | {e_all:.2f} | {e_share:.2f} | {e_ddp:.2f} | "
                     f"{e_ddp / e_all:.2f} | {e_ddp / e_share:.2f} | {diff:.1e} / "
                     f"{jitter:.1e} | {w1:.1f} / {wn:.1f} |")
    slower = [r[0] for r in rows if r[3] > r[2]]
    lines += ["", "Reading: with two processes the ideal is a ratio of 0.5 to one process with "
              "the same threads each. " + (
                  f"Here {args.nproc} processes are slower than one process with {share} {t} "
                  f"for {', '.join(slower)}: the collectives of every step (gradient "
                  "all-reduce, the BatchNorm statistics of the global batch, the gathers) cost "
                  "more than the halved work on these shared cores. " if slower else
                  f"Here {args.nproc} processes are faster than one with {share} {t}. ") +
              f"One process with {args.threads} threads suffers most from the other jobs on "
              "the cores (its threads wait for each other), so the first ratio flatters DDP. "
              "The times vary with the machine's load; DDP is meant for several GPUs or "
              "machines.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        _io.write_text(RESULT, text)


if __name__ == "__main__":
    main()
