"""Model-annotated CIFAR-10: noisy partial labels from several small models, and a reduced
CPU comparison of Co-Reg, PRODEN, CE on one annotator's labels and DivideMix on the
majority vote.

Recipe (regenerates exactly from the seed; no internet needed):

1. a seeded random training subset (``--n-train``) and test subset (``--n-test``);
2. annotators: a table of ANNOTATOR_SETS below (``--annotators weak|strong``), each a small
   network (architecture, width, seed) trained with cross entropy on its own clean subset
   of the CIFAR-10 training images *outside* the training subset (sizes in the table), for
   ``epochs`` epochs;
3. each annotator predicts the training subset; the union of their top-1 classes is the
   candidate set (:func:`labelnoise.partial.candidates_from_annotations`); we record
   the average candidate-set size and the fraction of sets that miss the true label;
4. methods (all ResNet-8 here, reduced schedules): CE on annotator 0's labels, DivideMix
   on the annotators' majority vote (ties to the smallest class), PRODEN and Co-Reg on
   the candidate sets, ILL (``ill.fit_partial``: EM with the candidate sets as the
   likelihood, a weak and a strong view) on them too, and (``--methods ill-u3``, not in the
   default list) ILL with the official code's unlabelled term; clean test accuracy after
   the last epoch. The two semi-supervised methods and ILL use batch 64 (DivideMix's and ILL's
   official size; Co-Reg's official 256 scaled down to the 10x smaller training set).

Usage:
    flock /tmp/labelnoise-heavy.lock python benchmarks/partial_labels.py \
        --data-root ~/.cache/labelnoise-test-data --build-only
    flock /tmp/labelnoise-heavy.lock python benchmarks/partial_labels.py --data-root DIR \
        --methods ce,proden,coreg,dividemix --epochs 10
    # simulated noisy partial labels instead of annotators (uniform sets, q = 0.3, with the
    # true label swapped out of 30% of them), the standard noisy-partial-label benchmark:
    flock /tmp/labelnoise-heavy.lock python benchmarks/partial_labels.py --data-root DIR \
        --simulate 0.3,0.3 --epochs 20
    # the long regime of the training issue (ResNet-20, the image track's 4,000 / 2,000
    # class-balanced images, 150 epochs; each run checkpointed and resumed: run one method
    # per call in a background chain)
    flock /tmp/labelnoise-heavy.lock python benchmarks/partial_labels.py --data-root DIR \
        --profile memorise --simulate 0.3,0.3 --methods coreg --work-dir /path/kept

Writes ``benchmarks/results/partial.md``: one section per question (weak annotators, strong
annotators, each simulated ``q, eta``), regenerated in place by every run of that question
with one table of the latest result of each method (its epochs and the run's command and
date beside it; a run of some methods keeps the other methods' rows of the same subset
sizes and seed). Hand-written sections (``### Reading ...``) are left as they are.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import time
from pathlib import Path

import numpy as np

# name, architecture, widths (None = default), clean subset size, epochs, seed
ANNOTATOR_SETS = {
    # weak: 36-42% accurate; candidate sets miss the true class about 40% of the time
    "weak": [
        ("a0-resnet8-1k", "resnet8", None, 1000, 8, 0),
        ("a1-resnet8w-2k", "resnet8", (32, 64, 128), 2000, 6, 1),
        ("a2-resnet20-1.5k", "resnet20", None, 1500, 6, 2),
    ],
    # strong: more clean images and epochs per annotator, closer to the accurate (but
    # still imperfect) vision-language-model annotators Co-Reg is designed for
    "strong": [
        ("s0-resnet8-12k", "resnet8", None, 12000, 12, 0),
        ("s1-resnet8w-14k", "resnet8", (32, 64, 128), 14000, 10, 1),
        ("s2-resnet20-10k", "resnet20", None, 10000, 10, 2),
    ],
}
ANNOTATORS = ANNOTATOR_SETS["weak"]

#: ``--profile``: ``reduced`` (ResNet-8, the sizes and epochs given on the command line) or
#: ``memorise``, the long regime of the training issue's image track
#: (``benchmarks/train_cifar.py --profile memorise``): ResNet-20, its class-balanced 4,000
#: training and 2,000 test images (seed 0), 150 epochs, each run checkpointed every epoch
#: under ``--work-dir/partial-ckpt`` and resumed, so that a run of hours survives restarts
PROFILES = {
    "reduced": dict(model="resnet8", n_train=None, n_test=None, epochs=None),
    "memorise": dict(model="resnet20", n_train=4000, n_test=2000, epochs=150),
}
#: the Co-Reg ablations (the training issue: "if it stays below, find out why by
#: ablation"): ``coreg-ls`` drops the feature-space terms (prototype loss and supervised
#: contrastive loss, weights 0), ``coreg-nou`` the unlabeled split's squared-error term
#: (lambda_u 0); everything else as ``coreg``
COREG_ABLATIONS = {"coreg-ls": dict(proto_weight=0.0, supcon_weight=0.0),
                   "coreg-nou": dict(lambda_u=0.0)}

#: each method's settings in the ``memorise`` profile (the ``reduced`` one uses the fit
#: defaults and the batch sizes noted in :func:`run_method`): CE and PRODEN in the image
#: track's CE loop (batch 128, SGD lr 0.1, weight decay 5e-4, step schedule x0.1 at 50% and
#: 75%: only the loss differs, as for the robust losses there); Co-Reg its official 50
#: warm-up epochs (of 800; here a third of the run, the reduced runs' rule) and the reduced
#: runs' batch 64 / lr 0.05 (its batch 256 is for 50,000 images); DivideMix the image
#: track's settings (warm-up 30, batch 64, lr 0.02 x0.1 at 50%); ILL its official
#: partial-label settings (batch 64, lr 0.02, weight decay 1e-3, cosine, RandAugment view)
MEMORISE_METHODS = {
    "ce": dict(batch_size=128, lr=0.1, weight_decay=5e-4, schedule="step"),
    "proden": dict(batch_size=128, lr=0.1, weight_decay=5e-4, schedule="step"),
    "coreg": dict(warmup_epochs=50, start_contrastive=0, lr=0.05, batch_size=64),
    **{name: dict(warmup_epochs=50, start_contrastive=0, lr=0.05, batch_size=64, **kw)
       for name, kw in COREG_ABLATIONS.items()},
    "dividemix": dict(warmup_epochs=30, batch_size=64, lr=0.02, lr_decay_epoch=75.0),
    "ill": dict(batch_size=64, lr=0.02, weight_decay=1e-3, schedule="cosine",
                strong_augment="randaugment"),
    "ill-u3": dict(batch_size=64, lr=0.02, weight_decay=1e-3, schedule="cosine",
                   strong_augment="randaugment", unlabeled_ratio=3),
}
RESULTS = Path(__file__).parent / "results" / "partial.md"
MACHINE = "2-core CPU, 24 GB, torch 2.13.0+cpu"


def subsets(data_root, *, n_train: int, n_test: int, seed: int, balanced: bool = False):
    """(CIFAR-10 train set, indices of the training subset, of the annotators' pool, test
    subset images, test subset labels), all from ``seed``; ``balanced``: the image track's
    class-balanced subsets (:func:`train_cifar.balanced_subset`, seed 0, the same images as
    ``train_cifar.py --profile memorise``), the pool the other training images in a
    ``seed``-shuffled order."""
    from labelnoise import datasets

    train = datasets.load_cifar10("train", data_root=data_root)
    test = datasets.load_cifar10("test", data_root=data_root)
    rng = np.random.default_rng(seed)
    if balanced:
        from train_cifar import balanced_subset

        tr = balanced_subset(train.labels, n_train, seed=0)
        pool = rng.permutation(np.setdiff1d(np.arange(len(train.labels)), tr))
        te = balanced_subset(test.labels, n_test, seed=0)
        return train, tr, pool, test.inputs[te], test.labels[te]
    order = rng.permutation(len(train.labels))
    tr, pool = np.sort(order[:n_train]), order[n_train:]
    te = np.sort(rng.choice(len(test.labels), size=min(n_test, len(test.labels)), replace=False))
    return train, tr, pool, test.inputs[te], test.labels[te]


def build(data_root, *, n_train: int, n_test: int, seed: int, progress: bool,
          annotators=ANNOTATORS, balanced: bool = False):
    """(x_train, y_train, x_test, y_test, annotations (N, M), candidates, stats)."""
    from labelnoise.partial import candidate_set_stats, candidates_from_annotations
    from labelnoise.training import engine, standard

    train, tr, pool, x_test, y_test = subsets(data_root, n_train=n_train, n_test=n_test,
                                              seed=seed, balanced=balanced)
    x, y = train.inputs[tr], train.labels[tr]
    cols, start = [], 0
    for name, arch, widths, size, epochs, s in annotators:
        idx = pool[start:start + size]
        start += size
        res = standard.fit(train.inputs[idx], train.labels[idx], model=arch, epochs=epochs,
                           batch_size=128, lr=0.1, seed=s, num_classes=10, progress=progress,
                           model_kwargs=None if widths is None else {"widths": widths})
        pred = engine.predict_proba(res.model, x).argmax(1)
        cols.append(pred)
        print(f"{name}: accuracy on the training subset {np.mean(pred == y):.3f}")
    ann = np.stack(cols, axis=1)
    cand = candidates_from_annotations(ann, num_classes=10)
    stats = candidate_set_stats(cand, y)
    stats["annotator_acc"] = [float(np.mean(ann[:, m] == y)) for m in range(ann.shape[1])]
    return x, y, x_test, y_test, ann, cand, stats


def simulate(data_root, *, q: float, noise_rate: float, n_train: int, n_test: int, seed: int,
             balanced: bool = False):
    """Like :func:`build`, with simulated noisy partial labels instead of annotators:
    uniform candidate sets (``q``) that miss the true label with probability
    ``noise_rate`` (:func:`labelnoise.noise.partial_labels`, ALIM's generation); the one
    "annotation" per example, for CE and DivideMix, is a class drawn uniformly from its
    candidate set."""
    from labelnoise.noise import _uniform_member, partial_labels
    from labelnoise.partial import candidate_set_stats

    train, tr, _, x_test, y_test = subsets(data_root, n_train=n_train, n_test=n_test, seed=seed,
                                           balanced=balanced)
    x, y = train.inputs[tr], train.labels[tr]
    cand = partial_labels(y, q=q, num_classes=10, noise_rate=noise_rate, seed=seed)
    rng = np.random.default_rng(seed + 1)
    ann = _uniform_member(cand, rng.random(len(y)))[:, None]
    stats = candidate_set_stats(cand, y)
    stats["annotator_acc"] = [float(np.mean(ann[:, 0] == y))]
    return x, y, x_test, y_test, ann, cand, stats


def majority_vote(ann: np.ndarray, k: int) -> np.ndarray:
    """Most frequent class per row (ties to the smallest class index)."""
    counts = np.zeros((ann.shape[0], k), dtype=np.int64)
    for m in range(ann.shape[1]):
        counts[np.arange(ann.shape[0]), ann[:, m]] += 1
    return counts.argmax(1)


# ------------------------------------------------------------------------------ results file
ROWS_TAG = "<!-- partial_labels.py rows: "
METHOD_LABELS = {
    "ce": ("CE on annotator 0's labels", "CE on one candidate drawn per example"),
    "proden": ("PRODEN on candidate sets", "PRODEN on candidate sets"),
    "coreg": ("Co-Reg on candidate sets", "Co-Reg on candidate sets"),
    "coreg-ls": ("Co-Reg, label-space terms only (ablation)",
                 "Co-Reg, label-space terms only (ablation)"),
    "coreg-nou": ("Co-Reg without the unlabeled term (ablation)",
                  "Co-Reg without the unlabeled term (ablation)"),
    "dividemix": ("DivideMix on majority vote", "DivideMix on the drawn candidate"),
    "ill": ("ILL on candidate sets", "ILL on candidate sets"),
    "ill-u3": ("ILL on candidate sets + unlabelled term (ratio 3)",
               "ILL on candidate sets + unlabelled term (ratio 3)"),
}


def question_title(annotators: str, simulate: tuple[float, float] | None,
                   profile: str = "reduced") -> str:
    """The heading of a question's section (no date: a rerun replaces the section); the
    ``memorise`` profile's runs are a question of their own."""
    if simulate:
        q, eta = simulate
        title = f"Simulated CIFAR-10 (noisy partial labels, q = {q:g}, eta = {eta:g})"
    else:
        title = f"Model-annotated CIFAR-10 (noisy partial labels, {annotators} annotators)"
    return title if profile == "reduced" else f"{title}: the long regime ({profile} profile)"


def run_method(method: str, x, y, ann, cand, *, profile: str, epochs: int, seed: int,
               x_test, y_test, checkpoint_dir=None, progress: bool = False, model=None):
    """One method's run (an ``engine.FitResult``): ``ann`` (N, M) annotations (CE trains on
    column 0, DivideMix on their majority vote), ``cand`` bool (N, K) candidate sets (PRODEN,
    Co-Reg, ILL), ``y`` the clean labels (the memorisation diagnostics). With
    ``checkpoint_dir`` every epoch is checkpointed there and a run whose checkpoint exists
    resumes from it (a finished one returns at once). ``model``: overrides the profile's."""
    from labelnoise.training import coreg, dividemix, ill, proden, standard

    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    resume = ckpt is not None and (ckpt / "checkpoint.pt").exists()
    common = dict(model=model or PROFILES[profile]["model"], epochs=epochs, seed=seed,
                  test_images=x_test, test_labels=y_test, progress=progress,
                  checkpoint_dir=ckpt, resume=resume)
    long = MEMORISE_METHODS.get(method, {}) if profile == "memorise" else {}
    if method not in METHOD_LABELS:
        raise SystemExit(f"unknown method {method}")
    if method == "ce":
        return standard.fit(x, ann[:, 0], num_classes=10, **long, **common)
    if method == "proden":
        return proden.fit(x, cand, true_labels=y, **long, **common)
    if method == "coreg" or method in COREG_ABLATIONS:
        # reduced: batch 64 (warm-up 128): the official 256 (512) is for 50,000 images; on a
        # 10x smaller set it left 10 warm-up steps an epoch (weak annotators, 20 epochs:
        # 32.55% at 256 vs 38.25% at 64)
        kw = long or dict(warmup_epochs=max(1, epochs // 3), start_contrastive=0, lr=0.05,
                          batch_size=64, **COREG_ABLATIONS.get(method, {}))
        return coreg.fit(x, cand, true_labels=y, **kw, **common)
    if method == "dividemix":
        kw = long or dict(warmup_epochs=max(1, epochs // 3))  # batch 64 (official)
        return dividemix.fit(x, majority_vote(ann, 10), num_classes=10, true_labels=y, **kw,
                             **common)
    # ILL's partial-label defaults (official code: batch 64, SGD lr 0.02, wd 1e-3, cosine; a
    # weak crop + flip view and a RandAugment strong view); ill-u3 adds the official code's
    # unlabelled term (3 unlabelled examples per labelled one, distribution-aligned
    # pseudo-labels; about 4x the cost per step)
    kw = long or ({"unlabeled_ratio": 3} if method == "ill-u3" else {})
    return ill.fit_partial(x, cand, true_labels=y, **kw, **common)


def _title_question(heading: str) -> str:
    """The question a ``## `` heading belongs to; headings written before sections were
    regenerated end in ", <date>", and the first ones did not name the annotator set."""
    title = re.sub(r", \d{4}-\d{2}-\d{2}$", "", heading[3:].strip())
    return {"Model-annotated CIFAR-10 (noisy partial labels)":
            question_title("weak", None)}.get(title, title)


def split_blocks(text: str) -> list[str]:
    """``text`` cut before every ``## `` or ``### `` heading line (the first block may have
    no heading)."""
    blocks, cur = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith(("## ", "### ")) and cur:
            blocks.append("".join(cur))
            cur = []
        cur.append(line)
    if cur:
        blocks.append("".join(cur))
    return blocks


def rows_of(block: str) -> list[dict]:
    """The result rows a generated section keeps in its trailing comment ([] for others)."""
    for line in block.splitlines():
        if line.startswith(ROWS_TAG) and line.rstrip().endswith("-->"):
            return json.loads(line.rstrip()[len(ROWS_TAG):-3])
    return []


def render_section(title: str, setup: list[str], rows: list[dict], command: str,
                   date: str) -> str:
    """A question's section: machine, latest command, set-up lines, one table (one row per
    method, each with its own epochs and run), the runs' commands, the rows as JSON."""
    runs = list(dict.fromkeys((r["command"], r["date"]) for r in rows))
    lines = [f"## {title}", "",
             f"Machine: {MACHINE}. Latest run: `{command}` ({date}).", "", *setup]
    if rows:
        lines += ["| method | last test acc | best test acc | seconds | epochs | run |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['label']} | {r['last']:.4f} | {r['best']:.4f} | {r['seconds']:.0f} | "
                  f"{r['epochs']} | {runs.index((r['command'], r['date'])) + 1} |" for r in rows]
        lines += ["", "Runs: " + "; ".join(f"({i}) `{c}`, {d}" for i, (c, d) in
                                            enumerate(runs, 1)) + "."]
        lines += _build_notes(rows, runs, (command, date))
    lines += [ROWS_TAG + json.dumps(rows) + " -->", ""]
    return "\n".join(lines) + "\n"


def _build_notes(rows: list[dict], runs: list[tuple], latest: tuple) -> list[str]:
    """Lines naming the runs whose candidate sets differ from the latest run's (the set-up
    above describes the latest build; the annotators' CPU training is not bit-for-bit
    reproducible, so a rebuild can differ slightly)."""
    def build_of(run):
        return next((r.get("candidates") for r in rows if (r["command"], r["date"]) == run), None)

    now = build_of(latest)
    notes = []
    for i, run in enumerate(runs, 1):
        b = build_of(run)
        if run == latest or b == now:
            continue
        if b is None:
            notes.append(f"Run ({i}): its candidate sets were not recorded.")
            continue
        acc = " / ".join(f"{a:.3f}" for a in b["annotator_acc"])
        notes.append(f"Run ({i}) trained on another build of the candidate sets (a rebuild of the "
                     f"annotators is not bit-for-bit reproducible on CPU): average size "
                     f"{b['mean_size']:.3f}, missing the true label {b['missing_true_fraction']:.3f}, "
                     f"annotator accuracy {acc}.")
    return ["", *notes] if notes else []


def write_section(path: Path, title: str, setup: list[str], new_rows: list[dict],
                  command: str, date: str) -> str:
    """Regenerate ``title``'s section of ``path`` in place: the latest row of each method
    (rows of the previous section with the same subset sizes and seed are kept for the
    methods not run now); other sections and hand-written blocks stay. Returns the section."""
    blocks = split_blocks(path.read_text()) if path.exists() else []
    mine = [i for i, b in enumerate(blocks)
            if b.startswith("## ") and _title_question(b.splitlines()[0]) == title]
    setting = {k: new_rows[0][k] for k in ("n_train", "n_test", "seed")} if new_rows else None
    old = [r for i in mine for r in rows_of(blocks[i])
           if setting is None or all(r.get(k) == v for k, v in setting.items())]
    rows = {r["method"]: r for r in old}
    rows.update({r["method"]: r for r in new_rows})
    order = list(METHOD_LABELS)
    rows = sorted(rows.values(), key=lambda r: order.index(r["method"]))
    section = render_section(title, setup, rows, command, date)
    if mine:
        blocks[mine[0]] = section
        blocks = [b for i, b in enumerate(blocks) if i not in mine[1:]]
    else:
        if blocks and not blocks[-1].endswith("\n\n"):
            blocks[-1] = blocks[-1].rstrip("\n") + "\n\n"
        blocks.append(section)
    path.parent.mkdir(parents=True, exist_ok=True)
    from labelnoise._io import write_text

    write_text(path, "".join(blocks))
    return section


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="reduced",
                    help="reduced (ResNet-8, the sizes and epochs below) or memorise (the image "
                         "track's long regime: ResNet-20, its 4,000 / 2,000 class-balanced "
                         "images, 150 epochs, checkpointed and resumed under --work-dir)")
    ap.add_argument("--n-train", type=int, default=None, help="default 5000 (memorise: 4000)")
    ap.add_argument("--n-test", type=int, default=None, help="default 2000")
    ap.add_argument("--epochs", type=int, default=None, help="default 10 (memorise: 150)")
    ap.add_argument("--methods", default="ce,proden,coreg,dividemix")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--annotators", choices=sorted(ANNOTATOR_SETS), default="weak",
                    help="which annotator table (ANNOTATOR_SETS) builds the candidate sets")
    ap.add_argument("--simulate", metavar="Q,ETA", default=None,
                    help="instead of annotators: uniform candidate sets (q) missing the true "
                         "label with probability eta (noisy partial labels, ALIM's generation)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/labelnoise-partial-bench"),
                    help="cache of the annotators' build (reused when present)")
    args = ap.parse_args()
    prof = PROFILES[args.profile]
    args.n_train = args.n_train or prof["n_train"] or 5000
    args.n_test = args.n_test or prof["n_test"] or 2000
    args.epochs = args.epochs or prof["epochs"] or 10
    balanced = args.profile == "memorise"

    import torch

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    annotators = ANNOTATOR_SETS[args.annotators]
    tag = "" if args.annotators == "weak" else f"-{args.annotators}"
    if args.simulate:
        q, eta = (float(v) for v in args.simulate.split(","))
        tag = f"-sim-q{q:g}-eta{eta:g}"
    if balanced:
        tag += "-balanced"
    args.work_dir.mkdir(parents=True, exist_ok=True)
    cache = args.work_dir / f"build{tag}-n{args.n_train}-t{args.n_test}-s{args.seed}.npz"
    if args.simulate:
        x, y, x_test, y_test, ann, cand, stats = simulate(
            args.data_root, q=q, noise_rate=eta, n_train=args.n_train, n_test=args.n_test,
            seed=args.seed, balanced=balanced)
        build_s = time.perf_counter() - t0
    elif cache.exists():  # the build is deterministic under the seed; reuse it
        z = np.load(cache, allow_pickle=False)
        x, y, x_test, y_test, ann, cand = (z[k] for k in ("x", "y", "x_test", "y_test",
                                                          "ann", "cand"))
        stats, build_s = json.loads(str(z["stats"])), float(z["build_s"])
        print(f"reusing the annotators' build from {cache}")
    else:
        x, y, x_test, y_test, ann, cand, stats = build(args.data_root, n_train=args.n_train,
                                                       n_test=args.n_test, seed=args.seed,
                                                       progress=args.progress,
                                                       annotators=annotators, balanced=balanced)
        build_s = time.perf_counter() - t0
        np.savez(cache, x=x, y=y, x_test=x_test, y_test=y_test, ann=ann, cand=cand,
                 stats=json.dumps(stats), build_s=build_s)
    print(json.dumps(stats))
    rows = []
    if not args.build_only:
        for method in args.methods.split(","):
            t = time.perf_counter()
            run_tag = f"{args.profile}{tag}-{method}-e{args.epochs}-n{args.n_train}-s{args.seed}"
            # the long regime's runs are checkpointed and resumed (hours each); the reduced
            # ones retrain every time
            ckpt = (args.work_dir / "partial-ckpt" / run_tag if args.profile == "memorise"
                    else None)
            res = run_method(method, x, y, ann, cand, profile=args.profile, epochs=args.epochs,
                             seed=args.seed, x_test=x_test, y_test=y_test, checkpoint_dir=ckpt,
                             progress=args.progress)
            rows.append(dict(method=method, label=METHOD_LABELS[method][bool(args.simulate)],
                             last=res.last_test_acc, best=res.best_test_acc,
                             # memorise: the training time over every session of a resumed
                             # run; reduced: this call's wall time
                             seconds=(float(sum(h.get("seconds", 0.0) for h in res.history))
                                      if ckpt is not None else time.perf_counter() - t),
                             epochs=args.epochs,
                             n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                             profile=args.profile))
            print(rows[-1])
            hist_name = (f"history-{run_tag}.json" if args.profile == "memorise" else
                         f"history{tag}-{method}-e{args.epochs}-n{args.n_train}.json")
            (args.work_dir / hist_name).write_text(
                json.dumps(res.history, default=float))

    setup = ([f"REDUCED CPU schedule (ResNet-8, {args.n_train:,} training and {args.n_test:,} "
              "test images, few epochs), not the papers' settings.", ""]
             if args.profile == "reduced" else
             [f"The image track's long regime (`train_cifar.py --profile memorise`): ResNet-20, "
              f"its class-balanced {args.n_train:,} training and {args.n_test:,} test images "
              f"(seed 0), {args.epochs} epochs; each method's settings: "
              "`partial_labels.MEMORISE_METHODS` (CE and PRODEN in CE's step-schedule loop, "
              "Co-Reg 50 warm-up epochs, DivideMix and ILL as in the image track). Each run "
              "is checkpointed every epoch and resumed; seconds: the training time summed "
              "over its epochs.", ""])
    if args.simulate:
        setup += [f"Candidate sets: uniform (each wrong class with probability q), the true "
                 f"label swapped for an outside class with probability eta "
                 f"(`labelnoise.noise.partial_labels(..., noise_rate=eta)`): average size "
                 f"{stats['mean_size']:.3f}, fraction missing the true label "
                 f"{stats['missing_true_fraction']:.3f}; the drawn candidate is correct for "
                 f"{stats['annotator_acc'][0]:.3f} of the examples.", ""]
    else:
        setup += ["| annotator | architecture | clean images | epochs | accuracy on train subset |",
                 "|---|---|---|---|---|"]
        for (name, arch, widths, size, epochs, _), acc in zip(annotators, stats["annotator_acc"]):
            w = "" if widths is None else f" widths {widths}"
            setup.append(f"| {name} | {arch}{w} | {size} | {epochs} | {acc:.3f} |")
        setup += ["", f"Candidate sets (union of the {len(annotators)} annotators' top-1): "
                  f"average size {stats['mean_size']:.3f}, fraction missing the true label "
                  f"{stats['missing_true_fraction']:.3f} (n = {stats['n']}); built in {build_s:.0f} s.",
                  ""]
    date = datetime.date.today().isoformat()
    command = ("python benchmarks/partial_labels.py "
               + (f"--profile {args.profile} " if args.profile != "reduced" else "")
               + f"--n-train {args.n_train} --n-test "
               f"{args.n_test} --epochs {args.epochs} --methods {args.methods} "
               + (f"--simulate {args.simulate}" if args.simulate else f"--annotators {args.annotators}")
               + (f" --seed {args.seed}" if args.seed else "")
               + (" --build-only" if args.build_only else ""))
    candidates = {"mean_size": round(stats["mean_size"], 4),
                  "missing_true_fraction": round(stats["missing_true_fraction"], 4),
                  "annotator_acc": [round(a, 4) for a in stats["annotator_acc"]]}
    for row in rows:
        row.update(command=command, date=date, candidates=candidates)
    title = question_title(args.annotators, (q, eta) if args.simulate else None, args.profile)
    print(write_section(RESULTS, title, setup, rows, command, date))


if __name__ == "__main__":
    main()
