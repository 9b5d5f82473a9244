"""Outlier and near-duplicate checks at scale: labelnoise against cleanlab's Datalab on the
same features, N up to 1,000,000 x 256.

    flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/data_issues_scale.py \
        [--sizes 50000,200000,1000000] [--dim 256] [--cap 6] [--no-cleanlab] \
        [--variants hnsw:32:auto,ivf]

Writes ``benchmarks/results/data_issues_scale.md`` (one regenerated section). Every finished
(tool, N) run is kept as JSON under ``benchmarks/results/raw/data_issues_scale/`` (committed
with the table, so that it can be re-rendered on another machine) and an interrupted run
resumes where it stopped (``--recompute`` reruns them; ``--render-only`` writes the table
from the kept runs alone).

What it does (every RNG seeded):

1. Features: ``synthetic(N, D)`` of ``benchmarks/data_issues.py`` (a mixture of 100
   Gaussian clusters, float32), into which 100 near duplicates (a random row plus Gaussian
   noise of 0.05 per dimension, written over another random row) and 100 outliers (isotropic
   Gaussian rows with no cluster centre: cosine similarity near 0 to every cluster) are
   planted.
2. Each tool runs in its own child process (the features regenerated there, not timed), on
   both checks with its defaults, sharing one k = 10 neighbour graph: labelnoise
   ``nearest_neighbors`` (``backend="auto"``: exact faiss search up to 25,000^2 pairs,
   faiss's inverted file beyond) + ``outlier_scores`` / ``refine_outlier_scores`` (what
   ``find_outliers`` does) + ``find_near_duplicates``; cleanlab 2.9.0 ``Datalab.find_issues(features=...,
   issue_types={"outlier": {}, "near_duplicate": {}})`` (exact scikit-learn search, cosine
   metric above 3 dimensions). Wall time of those calls, peak resident memory of the child
   (psutil, sampled every 50 ms; the features alone take N x D x 4 bytes), recall of the
   planted pairs and outliers, and the numbers flagged.
3. cleanlab is stopped once it has run ``--cap`` times labelnoise's wall time at the same N
   (at least 120 s): a stopped run is reported as "> cap" and the speed ratio as a lower
   bound. labelnoise's neighbours are checked against exact search on 1,000 random rows
   (recall@10). ``--variants`` adds labelnoise rows with other indexes: ``exact`` (faiss
   exact search), ``hnsw:M:EF`` (faiss HNSW of degree M, search breadth EF or ``auto``
   for the recall rule) and ``ivf`` / ``ivf:NPROBE`` (faiss inverted file).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _tables import cpu_name, store_dir
from data_issues import exact_cosine_truth, ours_partners, recall_at_k, synthetic

from labelnoise._io import write_text

REPO = Path(__file__).resolve().parents[1]
CACHE = store_dir("data_issues_scale")
PLANTED = 100
K = 10


def features(n: int, d: int) -> tuple[np.ndarray, dict]:
    """The synthetic features with the planted near duplicates and outliers."""
    x = synthetic(n, d)
    rng = np.random.default_rng(1)
    rows = rng.choice(n, 3 * PLANTED, replace=False)
    src, dst, out = rows[:PLANTED], rows[PLANTED:2 * PLANTED], rows[2 * PLANTED:]
    x[dst] = x[src] + 0.05 * rng.normal(size=(PLANTED, d)).astype(np.float32)
    x[out] = rng.normal(size=(PLANTED, d)).astype(np.float32)
    return x, {"src": src, "dst": dst, "out": out}


def _evaluate(planted: dict, flags: np.ndarray, partner_sets) -> dict:
    """Recall of the planted pairs and outliers; ``partner_sets(i)`` -> set of i's found
    near duplicates."""
    pair_found = [int(s) in partner_sets(int(t)) for s, t in zip(planted["src"], planted["dst"])]
    return {"near_recall": float(np.mean(pair_found)),
            "outlier_recall": float(np.mean(flags[planted["out"]])),
            "outliers_flagged": int(flags.sum())}


def variant_kwargs(spec: str | None) -> dict:
    """``nearest_neighbors`` keyword arguments of a ``--variants`` entry (None: defaults)."""
    if not spec:
        return {}
    kind, *rest = spec.split(":")
    if kind == "hnsw" and len(rest) == 2:
        return {"backend": "faiss", "m": int(rest[0]),
                "ef": None if rest[1] == "auto" else int(rest[1])}
    if kind == "exact" and not rest:
        return {"backend": "faiss-exact"}
    if kind == "ivf" and len(rest) <= 1:
        return {"backend": "faiss-ivf", "nprobe": int(rest[0]) if rest and rest[0] != "auto" else None}
    raise SystemExit(f"--variants: bad entry {spec!r} (exact, hnsw:M:EF, ivf or ivf:NPROBE)")


def variant_name(spec: str) -> str:
    kw = variant_kwargs(spec)
    if kw["backend"] == "faiss-exact":
        return "labelnoise, exact search"
    if kw["backend"] == "faiss":
        return f"labelnoise, HNSW m={kw['m']}" + (f", ef={kw['ef']}" if kw["ef"] else "")
    return "labelnoise, IVF" + (f", nprobe={kw['nprobe']}" if kw["nprobe"] else "")


def worker_ours(n: int, d: int, spec: str | None = None) -> dict:
    from labelnoise import data_issues as di

    x, planted = features(n, d)
    t0 = time.perf_counter()
    dist, ind, info = di.nearest_neighbors(x, K, return_info=True, **variant_kwargs(spec))
    nbrs = (dist, ind)
    t1 = time.perf_counter()
    # find_outliers(x, neighbors=nbrs), its two steps apart to count the re-scored rows
    scores, threshold, exact = di.refine_outlier_scores(x, di.outlier_scores(neighbors=nbrs), k=K)
    flags = scores > threshold
    t2 = time.perf_counter()
    dups = di.find_near_duplicates(x, neighbors=nbrs)
    t3 = time.perf_counter()
    res = _evaluate(planted, flags, ours_partners(dups))
    res.update(seconds=t3 - t0, seconds_knn=t1 - t0, seconds_refine=t2 - t1,
               backend=info["backend"], ef=info["ef"], nprobe=info.get("nprobe"),
               estimated_recall=info["estimated_recall"],
               rescored=int(exact.sum()), near_flagged=int(sum(len(m) for m in dups.sets)))
    # recall@10 of the graph against exact cosine search on 1,000 random rows
    q = np.random.default_rng(2).choice(n, min(1000, n), replace=False)
    res["recall_at_10"] = recall_at_k(ind, q, exact_cosine_truth(x, q, K, chunk=100))
    return res


def worker_cleanlab(n: int, d: int) -> dict:
    import cleanlab
    from cleanlab import Datalab

    x, planted = features(n, d)
    labels = np.random.default_rng(3).integers(0, 10, n)
    t0 = time.perf_counter()
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    lab.find_issues(features=x, issue_types={"outlier": {}, "near_duplicate": {}})
    seconds = time.perf_counter() - t0
    issues = lab.get_issues()
    sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
    flags = issues["is_outlier_issue"].to_numpy()
    res = _evaluate(planted, flags, lambda i: set(np.asarray(sets[i]).tolist()))
    res.update(seconds=seconds, version=cleanlab.__version__,
               near_flagged=int(issues["is_near_duplicate_issue"].sum()))
    return res


def run_child(tool: str, n: int, d: int, timeout: float | None, extra: tuple = ()) -> dict:
    """Run one tool in a child process; wall time, peak RSS, or a stop at ``timeout``."""
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.Popen([sys.executable, __file__, "--worker", tool, "--n", str(n),
                                 "--dim", str(d), "--worker-out", str(out), *extra])
        ps = psutil.Process(proc.pid)
        peak, t0 = 0, time.perf_counter()
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.Error:
                pass
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                return {"stopped_after": time.perf_counter() - t0,
                        "peak_rss_mib": peak / 2**20}
            time.sleep(0.05)
        if proc.returncode != 0:
            raise SystemExit(f"{tool} at N = {n} failed (exit {proc.returncode})")
        res = json.loads(out.read_text())
    res["peak_rss_mib"] = peak / 2**20
    return res


def _variant_tag(spec) -> str:
    return "" if not spec else "-" + spec.replace(":", "-")


def cached_run(tool, n, d, timeout, recompute, spec=None, render_only=False) -> dict | None:
    """One (tool, N[, --variants entry]) run from the cache, else run now (``None`` when
    ``render_only`` and not cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{tool}{_variant_tag(spec)}-{n}x{d}.json"
    if path.exists() and not recompute:
        return json.loads(path.read_text())
    if render_only:
        return None
    extra = () if not spec else ("--variants", spec)
    res = run_child(tool, n, d, timeout, extra)
    write_text(path, json.dumps(res))
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="50000,200000,1000000")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--cap", type=float, default=6.0,
                    help="stop cleanlab after this many times labelnoise's wall time")
    ap.add_argument("--no-cleanlab", action="store_true")
    ap.add_argument("--recompute", action="store_true")
    ap.add_argument("--variants", default="",
                    help="extra labelnoise rows with other indexes: exact, hnsw:M:EF "
                         "(EF may be 'auto'), ivf, ivf:NPROBE; comma-separated")
    ap.add_argument("--variants-up-to", type=int, default=10**12,
                    help="run the --variants rows only up to this N")
    ap.add_argument("--render-only", action="store_true",
                    help="write the table from the cached runs only (missing runs: 'not run')")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data_issues_scale.md"))
    ap.add_argument("--worker", choices=("ours", "cleanlab"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.worker == "ours":
            res = worker_ours(args.n, args.dim, args.variants or None)
        else:
            res = worker_cleanlab(args.n, args.dim)
        write_text(Path(args.worker_out), json.dumps(res))
        return

    from labelnoise.data_issues import HNSW_M, _resolve_backend

    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        variant_kwargs(v)  # a bad entry stops here, before any run
    rows = []
    for n in sizes:
        ours = cached_run("ours", n, args.dim, None, args.recompute, render_only=args.render_only)
        if ours is None:
            continue
        print(f"N={n} ours {ours}", flush=True)
        cl = None
        if not args.no_cleanlab:
            cl = cached_run("cleanlab", n, args.dim, max(120.0, args.cap * ours["seconds"]),
                            args.recompute, render_only=args.render_only)
            print(f"N={n} cleanlab {cl}", flush=True)
        more = []
        default = _resolve_backend("auto", n, n)
        for v in variants if n <= args.variants_up_to else []:
            kw = variant_kwargs(v)
            if kw["backend"] == default and all(kw.get(a) is None for a in ("ef", "nprobe")) \
                    and kw.get("m", HNSW_M) == HNSW_M:
                continue  # the default row itself
            r = cached_run("ours", n, args.dim, None, args.recompute, v, args.render_only)
            print(f"N={n} ours {v} {r}", flush=True)
            more.append((v, r))
        rows.append((n, ours, cl, more))

    def f3(v):
        return f"{v:.3f}"

    L = ["## Data-issue checks at scale: labelnoise vs cleanlab Datalab (synthetic features)\n"]
    L.append(f"Command: `flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/data_issues_scale.py "
             f"--sizes {args.sizes} --dim {args.dim} --cap {args.cap:g}"
             f"{f' --variants {args.variants}' if args.variants else ''}"
             f"{f' --variants-up-to {args.variants_up_to}' if args.variants_up_to < 10**12 else ''}`. Machine: "
             f"{platform.machine()} ({cpu_name()}), {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, "
             f"numpy {np.__version__}. Date: {datetime.date.today().isoformat()}.\n")
    L.append(f"Features: a mixture of 100 Gaussian clusters in {args.dim} dimensions (float32), "
             f"with {PLANTED} near duplicates (a row plus noise of 0.05 per dimension) and "
             f"{PLANTED} outliers (rows with no cluster centre) planted. Both checks (outliers and "
             "near duplicates) with each tool's defaults on one shared k = 10 neighbour graph, each "
             "tool in its own child process: wall time of the calls (generating the features is "
             "not timed), peak resident memory of the process (the features alone: "
             f"{args.dim * 4} bytes per row). labelnoise: `backend='auto'` (exact faiss search "
             "up to 25,000^2 pairs, faiss's inverted file beyond; recall@10 against exact search "
             "on 1,000 random rows in the table); cleanlab: `Datalab.find_issues` (exact "
             f"scikit-learn search). cleanlab is stopped after {args.cap:g}x labelnoise's time at "
             "the same N (at least 120 s); a stopped run gives a lower bound on the ratio.\n")
    L.append("| N | tool | backend | search breadth | seconds in all (neighbour search + exact re-scoring) | "
             "cleanlab / labelnoise time | peak RSS (MiB) | recall@10 | near-duplicate recall | "
             "rows flagged as near duplicates | outlier recall | outliers flagged (planted: 100) | "
             "rows re-scored exactly |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    empty = " | ".join([""] * 11)
    for n, ours, cl, more in rows:
        for name, r in [("labelnoise", ours)] + [
                (variant_name(v), r) for v, r in more]:
            if r is None:
                continue
            b = (f"ef {r['ef']}" if r.get("ef") is not None else
                 f"nprobe {r['nprobe']}" if r.get("nprobe") is not None else None)
            ef = "" if b is None else (
                f"{b} (rule: sample recall {r['estimated_recall']:.3f})"
                if r.get("estimated_recall") == r.get("estimated_recall") else f"{b} (given)")
            L.append(f"| {n:,} | {name} | {r['backend']} | {ef} | {r['seconds']:.1f} "
                     f"({r['seconds_knn']:.1f} + {r['seconds_refine']:.1f}) | | "
                     f"{r['peak_rss_mib']:,.0f} | {f3(r['recall_at_10'])} | "
                     f"{f3(r['near_recall'])} | {r['near_flagged']:,} | "
                     f"{f3(r['outlier_recall'])} | {r['outliers_flagged']:,} | {r['rescored']:,} |")
        if cl is None:
            if not args.no_cleanlab:
                L.append(f"| {n:,} | cleanlab 2.9.0 Datalab | scikit-learn exact | | not run | {empty}")
            continue
        if "stopped_after" in cl:
            L.append(f"| {n:,} | cleanlab 2.9.0 Datalab | scikit-learn exact | | "
                     f"> {cl['stopped_after']:.0f} (stopped) | > {cl['stopped_after'] / ours['seconds']:.1f}x | "
                     f"{cl['peak_rss_mib']:,.0f} (when stopped) | | | | | | |")
        else:
            L.append(f"| {n:,} | cleanlab {cl['version']} Datalab | scikit-learn exact | | "
                     f"{cl['seconds']:.1f} | {cl['seconds'] / ours['seconds']:.1f}x | "
                     f"{cl['peak_rss_mib']:,.0f} | 1 (exact) | {f3(cl['near_recall'])} | "
                     f"{cl['near_flagged']:,} | {f3(cl['outlier_recall'])} | "
                     f"{cl['outliers_flagged']:,} | |")
    L.append("")
    L.append("labelnoise's search breadth (default rule, `nearest_neighbors`): the smallest of a "
             "doubling series (inverted file: nprobe 8, 16, ... up to every cell; HNSW: ef 64, "
             "128, ..., 1024) whose recall@10 on 512 sampled rows against exact search is at "
             "least 0.99 (the sample's estimate beside it). The outlier flags are made exact "
             "(`refine_outlier_scores`, called by `find_outliers`): an approximate search can "
             "only over-estimate a row's mean kNN distance, so only the rows above the threshold "
             "are searched again exactly, the threshold re-fitted, until no row above it has an "
             "approximate score; the last column counts them.")
    write_text(Path(args.out), "\n".join(L) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
