"""Detection on Dask arrays at scale: pred_probs stored as Zarr on disk, a local Dask cluster
of 1 and 2 workers, against the in-memory path where it fits.

Writes ``benchmarks/results/scale.md`` (one regenerated section). Run under the machine's
heavy-job lock::

    flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/scale.py \
        --sizes 2500000,5000000,20000000 --k 100

What it does:

1. writes a synthetic dataset to ``--store`` (outside the repository; removed at the end
   unless ``--keep``): ``pred_probs`` float32 (N_max, K), ``labels`` int64 (N_max,), both
   Zarr, uncompressed, chunked along N in blocks of ``--block-chunks`` in-memory chunks
   (``chunk_rows(K)`` rows each); each row is uniform noise plus 0.25 K on the true class,
   normalised (true class about 0.34, every other class below 0.014), and 15% of the
   labels are replaced by a uniform draw;
2. for each size N (the first N rows of the store): the in-memory path on the arrays read
   into memory (numpy, threads over chunks on both cores) when they fit, then
   ``find_label_issues`` with its defaults (``filter_by="adaptive"``, which is ``"pooled"``
   on these pred_probs, row entropy 0.77 < 0.8: validation pass with the noise-matrix
   counts, then the scores pass; on flatter ones it counts with ``"both"`` on a subsample) on ``dask.array.from_zarr`` inputs with a
   ``distributed.LocalCluster`` of 1 and of 2 worker processes (one thread each); time of
   the call plus the computation of the mask; peak resident memory of each worker process
   (psutil, sampled every 20 ms), the mask checked identical to the in-memory one;
3. fits ``time = a + b N`` for each worker count (least squares over the sizes).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from labelnoise import _io  # noqa: E402
from labelnoise._validation import chunk_rows  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "scale.md"
#: worker environment: glibc's heap for the chunk kernels' temporaries (distributed's default
#: sets MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's dynamic mmap threshold); the
#: benchmark also times distributed's default once, for comparison
WORKER_ENV = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1,
              "MALLOC_MMAP_THRESHOLD_": 1 << 26, "MALLOC_TRIM_THRESHOLD_": 1 << 27}


def make_store(store: Path, n: int, k: int, rows: int, seed: int) -> None:
    import zarr

    store.mkdir(parents=True, exist_ok=False)
    pp = zarr.create_array(store=str(store / "pred_probs.zarr"), shape=(n, k), chunks=(rows, k),
                           dtype="float32", compressors=None, fill_value=0.0)
    lab = zarr.create_array(store=str(store / "labels.zarr"), shape=(n,), chunks=(rows,),
                            dtype="int64", compressors=None, fill_value=0)
    rng = np.random.default_rng(seed)
    for start in range(0, n, rows):
        m = min(rows, n - start)
        true = rng.integers(0, k, m)
        block = rng.random((m, k), dtype=np.float32)
        block[np.arange(m), true] += np.float32(0.25 * k)
        block /= block.sum(axis=1, keepdims=True, dtype=np.float32)
        labels = true.copy()
        flip = rng.random(m) < 0.15
        labels[flip] = rng.integers(0, k, int(flip.sum()))
        pp[start:start + m] = block
        lab[start:start + m] = labels


class RssSampler:
    """Peak resident memory of a set of processes, sampled in a thread."""

    def __init__(self, pids, interval=0.02):
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.peak = [p.memory_info().rss for p in self.procs]
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                try:
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
                except Exception:  # noqa: BLE001 - a worker went away
                    pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _warm_worker():
    import zarr  # noqa: F401

    import labelnoise.dask_arrays  # noqa: F401

    return os.getpid()


def run_dask(store: Path, n: int, workers: int, memory_limit: str, tuned: bool = True):
    import dask
    import dask.array as da
    import distributed

    import labelnoise

    env = WORKER_ENV if tuned else dask.config.get("distributed.nanny.pre-spawn-environ")
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}), distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  memory_limit=memory_limit, dashboard_address=None,
                                  silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(_warm_worker).values())
        baseline = None
        import psutil

        baseline = [psutil.Process(p).memory_info().rss for p in pids]
        labels = da.from_zarr(str(store / "labels.zarr"))[:n]
        pred_probs = da.from_zarr(str(store / "pred_probs.zarr"))[:n]
        with RssSampler(pids) as sampler, dask.config.set(scheduler=client):
            t0 = time.perf_counter()
            mask = labelnoise.find_label_issues(labels, pred_probs).compute()
            seconds = time.perf_counter() - t0
    return seconds, mask, baseline, sampler.peak


def run_memory(store: Path, n: int):
    import zarr

    import labelnoise

    labels = np.asarray(zarr.open_array(str(store / "labels.zarr"), mode="r")[:n])
    pred_probs = np.asarray(zarr.open_array(str(store / "pred_probs.zarr"), mode="r")[:n])
    t0 = time.perf_counter()
    mask = labelnoise.find_label_issues(labels, pred_probs)
    seconds = time.perf_counter() - t0
    del pred_probs
    return seconds, mask


def main(argv=None) -> None:
    import psutil

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2500000,5000000,20000000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--block-chunks", type=int, default=40,
                    help="Zarr/Dask block = this many in-memory chunks (chunk_rows(K) rows)")
    ap.add_argument("--memory-limit", default="6GB", help="per Dask worker")
    ap.add_argument("--store", default="/tmp/labelnoise-scale")
    ap.add_argument("--keep", action="store_true", help="keep the Zarr store")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    k = args.k
    rows = chunk_rows(k) * args.block_chunks
    store = Path(args.store)
    n_max = max(sizes)
    if store.exists():
        shutil.rmtree(store)
    results = []
    load_start = os.getloadavg()[0]
    try:
        t0 = time.perf_counter()
        make_store(store, n_max, k, rows, args.seed)
        make_s = time.perf_counter() - t0
        print(f"store written: {n_max} x {k} float32 in {make_s:.1f} s", flush=True)
        for n in sizes:
            row = {"n": n}
            need = n * k * 4 * 1.4 + n * 40
            if psutil.virtual_memory().available > need + 3e9:
                row["memory_s"], ref = run_memory(store, n)
                print(f"N={n}: in-memory {row['memory_s']:.2f} s", flush=True)
            else:
                ref = None
            for w in worker_counts:
                seconds, mask, base, peak = run_dask(store, n, w, args.memory_limit)
                row[w] = {"s": seconds, "base": base, "peak": peak,
                          "identical": None if ref is None else bool(np.array_equal(mask, ref)),
                          "flagged": int(mask.sum())}
                print(f"N={n}: {w} worker(s) {seconds:.2f} s, peak RSS "
                      f"{[round(p / 2**20) for p in peak]} MiB, identical "
                      f"{row[w]['identical']}", flush=True)
                del mask
            if n == sizes[0]:
                row["default_env_s"] = run_dask(store, n, 1, args.memory_limit, tuned=False)[0]
                print(f"N={n}: 1 worker, distributed's default environment "
                      f"{row['default_env_s']:.2f} s", flush=True)
            del ref
            results.append(row)
            args.load = (load_start, os.getloadavg()[0])
            write_markdown(args, results, rows, make_s, worker_counts)  # partial, rewritten
    finally:
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)


def _fit(ns, ts):
    a, b = np.polyfit(np.asarray(ns, float), np.asarray(ts, float), 1)[::-1]
    pred = a + b * np.asarray(ns, float)
    return a, b, float(np.max(np.abs(pred - ts) / np.asarray(ts)))


def write_markdown(args, results, rows, make_s, worker_counts) -> None:
    k = args.k
    gib = lambda n: n * k * 4 / 2**30  # noqa: E731
    cmd = ("flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/scale.py "
           f"--sizes {args.sizes} --k {k} --workers {args.workers} --block-chunks {args.block_chunks}")
    import dask
    import zarr

    lines = [
        "## Scaling out: detection on Dask arrays (Zarr on disk, local Dask cluster)",
        "",
        f"Command: `{cmd}`. Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{round(__import__('psutil').virtual_memory().total / 2**30)} GB (1-minute load average "
        f"{args.load[0]:.1f} at the start, {args.load[1]:.1f} at the end: other jobs shared the "
        "cores), Python "
        f"{platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}, "
        f"zarr {zarr.__version__}. Date: {datetime.date.today().isoformat()}.",
        "",
        f"Input: K = {k} float32 pred_probs and int64 labels in uncompressed Zarr stores under "
        f"{args.store} (written in {make_s:.0f} s, deleted afterwards), blocks of {rows:,} rows "
        f"({rows * k * 4 / 2**20:.0f} MiB of pred_probs; {args.block_chunks} in-memory chunks), "
        "the first N rows read with `dask.array.from_zarr`. Call: `labelnoise.find_label_issues"
        "(labels, pred_probs)` with its defaults (`adaptive`, which is `pooled` on these pred_probs: a validation pass that also counts "
        "the noise matrix, then a scores pass) and the mask computed to the client; "
        "`distributed.LocalCluster` of 1 and 2 worker processes, one thread each, memory "
        f"limit {args.memory_limit} per worker. In-memory: the same call on numpy arrays "
        "(threads over chunks on both cores), read from the store beforehand (not timed). "
        "One run per cell, the store in the page cache (the in-memory read warms it). Peak "
        "memory: resident set of each worker process sampled every 20 ms (idle worker, "
        "labelnoise and zarr imported, in brackets). Worker environment: "
        f"`{ {k: v for k, v in WORKER_ENV.items() if k.startswith('MALLOC')} }`; with "
        "distributed's default environment (`MALLOC_TRIM_THRESHOLD_=65536`) 1 worker took "
        f"{results[0].get('default_env_s', float('nan')):.2f} s at N = {results[0]['n']:,} "
        f"instead of {results[0][worker_counts[0]]['s']:.2f} s.",
        "",
        "| N | pred_probs GiB | in-memory s | 1 worker s | 2 workers s | speed-up 2 vs 1 | "
        "2 workers / in-memory | peak RSS per worker MiB (1 w; 2 w) | flagged | identical to in-memory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        one, two = r.get(1), r.get(2)
        mem = r.get("memory_s")
        peak = "; ".join(
            ", ".join(f"{p / 2**20:.0f}" for p in r[w]["peak"]) + " (idle "
            + ", ".join(f"{b / 2**20:.0f}" for b in r[w]["base"]) + ")"
            for w in worker_counts)
        ident = {r[w]["identical"] for w in worker_counts}
        ratio = "-" if mem is None else f"{two['s'] / mem:.1f}x"
        lines.append(
            f"| {r['n']:,} | {gib(r['n']):.2f} | {'-' if mem is None else f'{mem:.2f}'} | "
            f"{one['s']:.2f} | {two['s']:.2f} | {one['s'] / two['s']:.2f}x | "
            f"{ratio} | {peak} | "
            f"{two['flagged']:,} | {'not run' if ident == {None} else ('yes' if ident == {True} else 'NO')} |")
    lines += ["", "Model `time = a + b N`, least squares over the sizes:", "",
              "| workers | a (s) | b (ns per row) | largest relative residual |", "|---|---|---|---|"]
    ns = [r["n"] for r in results]
    for w in worker_counts if len(ns) >= 2 else []:
        a, b, res = _fit(ns, [r[w]["s"] for r in results])
        lines.append(f"| {w} | {a:.2f} | {b * 1e9:.0f} | {res:.1%} |")
    mem_ns = [r["n"] for r in results if r.get("memory_s") is not None]
    if len(mem_ns) >= 2:
        a, b, res = _fit(mem_ns, [r["memory_s"] for r in results if r.get("memory_s") is not None])
        lines.append(f"| in-memory (2 threads) | {a:.2f} | {b * 1e9:.0f} | {res:.1%} |")
    _io.write_text(RESULT, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
