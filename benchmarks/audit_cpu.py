"""Benchmark of `labelnoise audit` on this machine: wall time and detection quality.

Parts (each saves its result as ``benchmarks/results/raw/audit_cpu/<part>.json``, committed, so
that a fresh machine re-renders the tables instead of losing them; the audits' own output
folders stay under runs/audit-bench/; the markdown is rebuilt from all saved parts):

* ``full``: the default audit (CIFAR-10 train images + CIFAR-10N ``worse`` labels,
  default model and folds), timed end to end (loading, cross-validation, noise
  estimation, report); AUPRC, precision, recall, F1 against the clean labels.
* ``quick``: the same with ``--quick``.
* ``proxy``: candidates for the main job's training on CPU (study 50, not kept): an
  airbench net on 10,000 of 20,000 random CIFAR-10N ``worse`` images, held-out AUPRC and
  clean accuracy of each arm of PROXY_ARMS without and with flip TTA (about 20 minutes).
* ``pred-probs``: ``audit --pred-probs`` on every file of
  ../shared/data/label-error-benchmarks (seconds each), with its AUPRC.
* ``rescore``: recompute the detection figures of the saved ``full`` and ``quick`` runs
  from their pred_probs.npy with the current detection defaults (after a default
  changes), keeping the recorded wall time; the table says when it was rescored.
* ``data-issues``: re-run the saved ``full`` and ``quick`` audits from their cached folds
  (``resume``: no training) so that the data-issue checks follow the current code,
  keeping the recorded training time; the label checks' figures of the run before are
  kept beside the new ones when their features changed. Then ``label-view``: the
  neighbour-label checks' view (the images' patch view of the full audit, read from its
  cache) with the pred_probs of the label-error benchmark, which took no part in choosing
  it: AUPRC of pred_probs alone, the vote alone and the combination.

Run heavy parts one at a time:

    flock /tmp/labelnoise-heavy.lock python benchmarks/audit_cpu.py --parts full
    flock /tmp/labelnoise-heavy.lock python benchmarks/audit_cpu.py --parts quick,pred-probs

Writes benchmarks/results/audit.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

from labelnoise import _io  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: the audits' output folders (pred_probs.npy, issues.csv, report.html: not committed)
WORK = REPO / "runs" / "audit-bench"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import store_dir  # noqa: E402

#: one JSON file per part (committed beside the tables)
STORE = store_dir("audit_cpu")
SHARED = REPO.parent / "shared" / "data"
MACHINE = "2-core CPU, 24 GB, torch 2.13.0+cpu"
#: the rendered page
OUT = REPO / "benchmarks" / "results" / "audit.md"


def _run_audit(out: Path, **kwargs) -> dict:
    from labelnoise.audit import audit

    if out.exists():
        shutil.rmtree(out)
    t = time.perf_counter()
    res = audit(out_dir=out, progress=False, **kwargs)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "settings": res.settings, "metrics": res.metrics,
            "noise_rate_estimated": float(res.noise.noise_rate),
            "num_flagged": int(res.is_issue.sum()), "num_examples": int(len(res.labels)),
            "date": str(datetime.date.today()), "pred_probs": str(out / "pred_probs.npy"),
            "features": feature_label_issues(out, res)}


def feature_label_issues(out: Path, res=None) -> dict | None:
    """Label issues from the audit's own features, read from its ``issues.csv`` (columns
    ``knn_label_quality`` / ``is_knn_label_issue``: the vote of the 10 nearest neighbours;
    ``combined_label_quality`` / ``is_combined_label_issue``: the mixture with the model's
    pred_probs at the maximum-likelihood weight) against the true labels: AUPRC and F1 of
    kNN alone, the model's pred_probs alone (from ``res.model_pred_probs``, the audit's
    result, when given: since 2026-12-05 the ranking of an image audit is the combination,
    so the ranking's columns are not the model's alone) and the combination, and the
    weight (``data_issues.json``). None when the run has no true labels or no feature
    checks."""
    import pandas as pd

    from labelnoise.audit import detection_metrics

    frame = pd.read_csv(out / "issues.csv")
    needed = {"true_label", "knn_label_quality", "combined_label_quality"}
    if not needed <= set(frame.columns):
        return None
    result = {}
    for name, score, flag in (("pred_probs", "label_quality_score", "is_label_issue"),
                              ("knn", "knn_label_quality", "is_knn_label_issue"),
                              ("combined", "combined_label_quality", "is_combined_label_issue")):
        m = detection_metrics(frame["given_label"], frame["true_label"], frame[flag],
                              frame[score])
        result[name] = {"auprc": m["auprc"], "f1": m["f1"]}
    if res is not None and res.model_pred_probs is not None:
        from labelnoise.issues import find_issues

        alone = find_issues(res.labels, res.model_pred_probs)
        m = detection_metrics(res.labels, res.true_labels, alone.is_label_issue,
                              alone.label_quality_scores)
        result["pred_probs"] = {"auprc": m["auprc"], "f1": m["f1"]}
    issues = json.loads((out / "data_issues.json").read_text())
    result["knn_weight"] = issues["checks"]["combined_label_issues"].get("knn_weight")
    result["source"] = (issues.get("label_features") or issues["features"])["source"]
    return result


def part_rescore(data_root):
    """Rescore the saved full/quick runs with the current defaults (no training)."""
    import numpy as np

    from labelnoise.audit import detection_metrics
    from labelnoise.datasets import load_cifar10n
    from labelnoise.issues import find_issues

    d = load_cifar10n("worse", data_root=data_root, load_images=False)
    for part in ("full", "quick"):
        f = STORE / f"{part}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        pp = np.load(r.get("pred_probs", str(WORK / part / "pred_probs.npy")), allow_pickle=False)
        res = find_issues(d.labels, pp)
        r.update(metrics=detection_metrics(d.labels, d.true_labels, res.is_label_issue,
                                           res.label_quality_scores),
                 noise_rate_estimated=float(res.noise.noise_rate),
                 num_flagged=res.num_issues, rescored=str(datetime.date.today()))
        _io.write_text(f, json.dumps(r, indent=1))
    return None


def part_data_issues(data_root):
    """Re-run the saved full / quick audits from their cached folds (no training), then
    the label-view confirmation on the label-error benchmark (saved as label-view.json)."""
    from labelnoise.audit import audit

    for part, quick in (("full", False), ("quick", True)):
        f = STORE / f"{part}.json"
        if not f.exists() or not (WORK / part / "cache").is_dir():
            print(f"{part}: no saved run with its cache; run --parts {part} first")
            continue
        r = json.loads(f.read_text())
        cached = set((WORK / part / "cache").glob("patch_features_*"))
        res = audit("cifar10", out_dir=WORK / part, label_set="worse", data_root=data_root,
                    quick=quick, resume=True, progress=False)
        # whether the images' patch view was computed in this re-run (and timed with it)
        view_computed = bool(set((WORK / part / "cache").glob("patch_features_*")) - cached)
        before = r.get("features")
        features = feature_label_issues(WORK / part, res)
        if before and features and before.get("source") != features.get("source"):
            r["features_before"] = {**before, "date": r.get("rescored", r.get("date"))}
        r.update(metrics=res.metrics, noise_rate_estimated=float(res.noise.noise_rate),
                 num_flagged=int(res.is_issue.sum()), features=features,
                 data_issues_rerun=str(datetime.date.today()), view_computed=view_computed)
        r["settings"].update({k: res.settings[k] for k in ("features", "data-issue checks",
                                                           "neighbour vote")
                              if k in res.settings})
        _io.write_text(f, json.dumps(r, indent=1))
        print(part, json.dumps(features), flush=True)
    _io.write_text(STORE / "label-view.json", json.dumps(label_view(data_root), indent=1))
    return None


def label_view(data_root) -> dict:
    """The images' patch view of the full audit (its cached patch features, standardised
    and projected as the audit does) with each label-error-benchmark model's pred_probs:
    AUPRC / F1 of pred_probs alone, the neighbours' vote alone and the combination at the
    maximum-likelihood weight, per model."""
    import tempfile

    import numpy as np

    from labelnoise.audit import _image_view_features, detection_metrics
    from labelnoise.data_issues import knn_label_quality, nearest_neighbors
    from labelnoise.datasets import load_cifar10
    from labelnoise.issues import find_issues

    t = time.perf_counter()
    images = load_cifar10(data_root=data_root).inputs  # the CIFAR-10 train order
    view, source = _image_view_features(images, WORK / "full" / "cache", seed=0, resume=True,
                                        progress=False, console=None)
    with tempfile.TemporaryDirectory() as tmp:  # what computing the view costs, afresh
        t_view = time.perf_counter()
        fresh, _ = _image_view_features(images, Path(tmp), seed=0, resume=False,
                                        progress=False, console=None)
        view_seconds = time.perf_counter() - t_view
    if not np.array_equal(fresh, view):
        raise RuntimeError("the patch view computed afresh differs from the audit's cached one")
    rows = []
    bench = SHARED / "label-error-benchmarks"
    for ds in sorted(p for p in bench.iterdir() if p.is_dir()):
        r2i = np.load(ds / "row_to_cifar10_train_index.npy", allow_pickle=False)
        neighbors = nearest_neighbors(view[r2i], 10)
        for model in sorted(p for p in ds.iterdir() if p.is_dir()):
            y, true, pp = (np.load(model / f"{n}.npy", allow_pickle=False)
                           for n in ("noisy_labels", "true_labels", "pred_probs"))
            alone = find_issues(y, pp)
            vote = knn_label_quality(None, y, 10, neighbors=neighbors)
            comb = knn_label_quality(None, y, 10, pred_probs=pp, neighbors=neighbors)
            row = {"dataset": ds.name, "model": model.name, "knn_weight": comb.knn_weight}
            for key, scores, flags in (
                    ("pred_probs", alone.label_quality_scores, alone.is_label_issue),
                    ("knn", vote.label_quality_scores, vote.is_label_issue),
                    ("combined", comb.label_quality_scores, comb.is_label_issue)):
                m = detection_metrics(y, true, flags, scores)
                row[key] = {"auprc": m["auprc"], "f1": m["f1"]}
            rows.append(row)
    return {"date": str(datetime.date.today()), "source": source, "rows": rows,
            "cases": view_cases(data_root),
            "seconds": time.perf_counter() - t, "view_seconds": view_seconds,
            "num_images": int(len(images))}


#: the rule for making the combination the audit's ranking, written down before the case
#: table below was first computed (2026-12-05)
CASE_RULE = ("adopt the combination as the ranking and flags of image audits if, on the "
             "select half of the CIFAR-10 development cases, the mean AUPRC gain is > 0 and the "
             "mean F1 gain >= 0 (default score and filter on each), and on the confirm half "
             "the mean AUPRC gain is >= 0")


def view_cases(data_root) -> list[dict]:
    """The CIFAR-10 cases of ``benchmarks/detection_cases.py`` (built under
    ``data_root/detection-cases``; select / confirm halves fixed by that script): each
    case's pred_probs alone against their combination with the images' patch-view vote
    (the view fitted on the case's own images, as the audit does; the ML weight), default
    score and filter on each. [] when no case is built."""
    import tempfile

    import detection_cases as dc
    import numpy as np
    from sklearn.metrics import average_precision_score, f1_score

    from labelnoise.audit import _image_view_features
    from labelnoise.data_issues import knn_label_quality, nearest_neighbors
    from labelnoise.issues import find_issues

    base = Path(data_root or ".") / dc.SUBDIR
    neighbours: dict = {}
    rows = []
    for spec in dc.planned_specs():
        d = base / spec.name
        if not (d / "meta.json").is_file():
            continue
        meta = json.loads((d / "meta.json").read_text())
        y, true, pp = (np.load(d / f"{n}.npy", allow_pickle=False)
                       for n in ("noisy_labels", "true_labels", "pred_probs"))
        if spec.data.startswith("cifar10"):  # images: the audit's patch view of them
            group = "images"
            idx = (np.load(d / "indices.npy", allow_pickle=False)
                   if (d / "indices.npy").is_file() else None)
            split = "test" if spec.data == "cifar10-test" else "train"
            key = (split, None if idx is None else idx.tobytes())
            if key not in neighbours:
                images, _ = dc._cifar(split, str(data_root))
                with tempfile.TemporaryDirectory() as tmp:
                    view, _ = _image_view_features(images if idx is None else images[idx],
                                                   Path(tmp), seed=0, resume=False,
                                                   progress=False, console=None)
                neighbours[key] = nearest_neighbors(view, 10)
        else:  # a table: its standardised columns, as a table audit reads them
            group, key = "tables", spec.data
            if key not in neighbours:
                x = dc._load_sklearn(spec.data).X
                neighbours[key] = nearest_neighbors((x - x.mean(0)) / (x.std(0) + 1e-12), 10)
        errors = y != true
        alone = find_issues(y, pp)
        comb = knn_label_quality(None, y, 10, pred_probs=pp, neighbors=neighbours[key])
        rows.append({"case": spec.name, "half": meta["half"], "family": meta["family"],
                     "group": group,
                     "accuracy_given": float((pp.argmax(1) == y).mean()),
                     "knn_weight": comb.knn_weight,
                     "auprc_pred_probs": float(average_precision_score(
                         errors, -alone.label_quality_scores)),
                     "auprc_combined": float(average_precision_score(
                         errors, -comb.label_quality_scores)),
                     "f1_pred_probs": float(f1_score(errors, alone.is_label_issue)),
                     "f1_combined": float(f1_score(errors, comb.is_label_issue))})
        print(rows[-1]["case"], f"{rows[-1]['auprc_combined'] - rows[-1]['auprc_pred_probs']:+.4f}",
              flush=True)
    return rows


def part_full(data_root):
    return _run_audit(WORK / "full", dataset="cifar10", label_set="worse", data_root=data_root)


def part_quick(data_root):
    return _run_audit(WORK / "quick", dataset="cifar10", label_set="worse", data_root=data_root,
                      quick=True)


#: the proxy of the main job's per-fold network (study 50): PROXY_N random CIFAR-10 training
#: images (seed 0) with the CIFAR-10N worse labels, one airbench net trained on the first
#: half for PROXY_EPOCHS epochs (the preset's other settings), held out the second half
PROXY_N, PROXY_EPOCHS = 20_000, 8
PROXY_ARMS = {
    "cross entropy (the preset)": {},
    "label smoothing 0.2": dict(loss="label-smoothing", loss_kwargs={"smoothing": 0.2}),
    "whitened stem": dict(model_kwargs={"whiten": True}),
    "label smoothing 0.2 + whitened stem": dict(loss="label-smoothing",
                                                loss_kwargs={"smoothing": 0.2},
                                                model_kwargs={"whiten": True}),
}


def part_proxy(data_root):
    """Each arm of PROXY_ARMS trained once, its held-out half predicted without and with
    flip TTA: clean accuracy and the default score's AUPRC against given != clean."""
    import numpy as np
    import torch
    from sklearn.metrics import average_precision_score

    from labelnoise.datasets import load_cifar10n
    from labelnoise.rank import get_label_quality_scores
    from labelnoise.training.engine import predict_proba
    from labelnoise.training.standard import fit

    torch.set_num_threads(2)
    ds = load_cifar10n("worse", data_root=data_root, download=False)
    x, y, clean = ds.inputs, ds.labels, ds.true_labels
    idx = np.random.default_rng(0).permutation(len(y))[:PROXY_N]
    tr, te = idx[: PROXY_N // 2], idx[PROXY_N // 2:]
    errors = y[te] != clean[te]
    rows = []
    for arm, kw in PROXY_ARMS.items():
        t = time.perf_counter()
        res = fit(x[tr], y[tr], model="airbench", epochs=PROXY_EPOCHS, seed=0, progress=False,
                  num_classes=10, **kw)
        seconds = time.perf_counter() - t
        for tta in (False, True):
            pp = predict_proba(res.model, x[te], tta=tta).astype(np.float64)
            pp /= pp.sum(axis=1, keepdims=True)
            scores = get_label_quality_scores(y[te], pp)
            rows.append({"arm": arm, "tta": tta, "train_seconds": round(seconds, 1),
                         "accuracy": float((pp.argmax(axis=1) == clean[te]).mean()),
                         "auprc": float(average_precision_score(errors, -scores))})
            print(rows[-1], flush=True)
    return {"date": str(datetime.date.today()), "n": PROXY_N, "epochs": PROXY_EPOCHS,
            "rows": rows}


def part_pred_probs(data_root):
    rows = []
    bench = SHARED / "label-error-benchmarks"
    for ds in sorted(p for p in bench.iterdir() if p.is_dir()):
        for model in sorted(p for p in ds.iterdir() if p.is_dir()):
            r = _run_audit(WORK / f"pp-{ds.name}-{model.name}",
                           pred_probs=model / "pred_probs.npy", data_root=data_root)
            rows.append({"dataset": ds.name, "model": model.name, **r})
    return rows


def render() -> str:
    lines = [
        "## `labelnoise audit` (main job)", "",
        f"Machine: {MACHINE}. Command: `flock /tmp/labelnoise-heavy.lock python "
        "benchmarks/audit_cpu.py --parts full` (then `--parts quick,pred-probs`; `--parts "
        "rescore` after a detection default changed, `--parts data-issues` after the data-issue "
        "checks changed). Each table gives its run's date.", "",
        "Data: CIFAR-10 train (50,000 images; pixels rebuilt from the shared JPEGs) with the "
        "CIFAR-10N `worse` human labels (40.21% wrong). A true label error is given label != "
        "clean CIFAR-10 label. AUPRC ranks by 1 - label quality score; precision/recall/F1 are "
        "those of the flagged set.", "",
    ]
    for part, title in (("full", "default audit"), ("quick", "`--quick`")):
        f = STORE / f"{part}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        m = r["metrics"]
        when = f"Run {r.get('date', '2026-11-21')}" + (
            f", detection figures rescored {r['rescored']} with the current defaults"
            if r.get("rescored") else "") + "." + (f" {r['note']}" if r.get("note") else "")
        lines += [
            f"### {title}: `labelnoise audit --out DIR`" + (" --quick" if part == "quick" else ""),
            "", when, "", "| wall time | model | cross-validation | examples | flagged | est. noise rate "
            "| AUPRC | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['seconds'] / 60:.1f} min ({r['seconds']:.0f} s) | {r['settings'].get('model')} | "
            f"{r['settings'].get('cross-validation')} | {r['num_examples']} | {r['num_flagged']} | "
            f"{r['noise_rate_estimated']:.4f} | {m['auprc']:.4f} | {m['precision']:.4f} | "
            f"{m['recall']:.4f} | {m['f1']:.4f} |", "",
        ]
        if r.get("data_issues_rerun"):
            vote = r["settings"].get("neighbour vote")
            lines += [f"Re-run on {r['data_issues_rerun']} from the run's cached folds (no "
                      "training; `--parts data-issues`): the ranking, the figures above and the "
                      "data-issue checks follow the code of that day"
                      + (f"; the ranking reads {vote}" if vote else "")
                      + (" (computing the images' patch view included)" if r.get("view_computed")
                         else " (the images' patch view read from the cache of an earlier "
                              "re-run; computing it afresh is timed in the last tables' "
                              "paragraph)" if vote else "")
                      + f". The data-issue checks (outliers, near duplicates with the pixel "
                      f"check, exact duplicates, kNN label issues) took "
                      f"{r['settings']['data-issue checks']}. The wall time above is the "
                      "original run's.", ""]
        elif r["settings"].get("data-issue checks"):
            lines += [f"Of the wall time, the data-issue checks (outliers, near duplicates with "
                      f"the pixel check, exact duplicates, kNN label issues) took "
                      f"{r['settings']['data-issue checks']}.", ""]
        feats = r.get("features")
        if feats:
            old = r.get("features_before")
            rows = [(feats, "knn", "kNN alone"),
                    (feats, "pred_probs", "the model's pred_probs alone"),
                    (feats, "combined", "combined")]
            if old:
                rows += [(old, "knn", f"kNN alone, the features of the run of {old['date']}"),
                         (old, "combined", f"combined, the features of the run of {old['date']}")]
            lines += [
                "Label issues from features (the audit's neighbour-label checks), against the "
                f"clean labels. Features: {feats['source']}; k = 10, cosine. `issues.csv` "
                "columns `knn_label_quality` (the neighbours' vote) and `combined_label_quality` "
                "(the mixture (1 - w) pred_probs + w vote at the maximum-likelihood weight, here "
                f"w = {feats['knn_weight']:.3f}). Combined minus pred_probs alone: AUPRC "
                f"{feats['combined']['auprc'] - feats['pred_probs']['auprc']:+.4f}, F1 "
                f"{feats['combined']['f1'] - feats['pred_probs']['f1']:+.4f}."
                + (f" The run of {old['date']} searched {old['source']}: w = "
                   f"{old['knn_weight']:.3f}, combined minus pred_probs alone AUPRC "
                   f"{old['combined']['auprc'] - old['pred_probs']['auprc']:+.4f}, F1 "
                   f"{old['combined']['f1'] - old['pred_probs']['f1']:+.4f}." if old else ""),
                "", "| scores | AUPRC | F1 of the flags |", "|---|---|---|",
                *(f"| {label} | {f[key]['auprc']:.4f} | {f[key]['f1']:.4f} |"
                  for f, key, label in rows), "",
            ]
    lines += [
        "### Choosing the CPU model (development measurements, one-off runs, not this script)", "",
        "Same machine, CIFAR-10N `worse` labels, self-confidence AUPRC (1 - p[given label]) "
        "on held-out examples; accuracy against the clean labels. The training engine's "
        "defaults otherwise (SGD, one-cycle LR, crop + flip).", "",
        "| route | training data | held-out | time | accuracy vs clean | AUPRC |",
        "|---|---|---|---|---|---|",
        "| Coates-Ng patch features (1,600 k-means centroids, 6x6, triangle, 4 quadrants) "
        "+ logistic regression C=0.001 | 10k subset, 5-fold | 10k | 114 s features + 86 s CV "
        "| 0.541 | 0.751 |",
        "| ResNet-8, CE, 12 epochs | 25k | 25k | 190 s | 0.625 | 0.803 |",
        "| ResNet-8, GCE, 12 epochs | 25k | 25k | 188 s | 0.576 | 0.779 |",
        "| ResNet-8, ELR, 12 epochs | 25k | 25k | 194 s | 0.562 | 0.797 |",
        "| airbench-style net, CE, 4 epochs | 25k | 25k | 332 s | 0.676 | 0.839 |",
        "| airbench-style net, CE, 8 epochs (the default, fold 0 of the full run) | 25k | 25k "
        "| 8 x 65-180 s per epoch | 0.743 | 0.884 |", "",
        "Patch features need 6.3 min for 50k images at 1,600 centroids and reach far lower "
        "accuracy than a small CNN on these labels, and the noise-robust losses did not help at "
        "so few epochs; so the default is the airbench-style net, CE, 2 folds x 8 epochs: 2 folds so that 8 "
        "epochs per fold fit in 30 minutes (5 folds would leave about 3 epochs each; not "
        "measured). "
        "`--model patch-features` remains available. The full run's per-epoch times were "
        "65-75 s when the machine was otherwise idle, but 3 of the 16 epochs took 95-180 s while "
        "other jobs shared the cores, so that development run's 23.5 min included that contention.", "",
        "GPU: not measured (no GPU in this session); with CUDA the audit uses "
        "`GPU_IMAGE_PRESET` (airbench, 5 folds, 16 epochs).", "",
    ]
    lines += _proxy_lines()
    f = STORE / "pred-probs.json"
    if f.exists():
        rows = json.loads(f.read_text())
        lines += [
            "### `labelnoise audit --pred-probs` on the label-error benchmark files", "",
            "| dataset | model | wall time (s) | flagged | AUPRC | precision | recall | F1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            m = r["metrics"]
            lines.append(
                f"| {r['dataset']} | {r['model']} | {r['seconds']:.1f} | {r['num_flagged']} | "
                f"{m['auprc']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} |")
        lines.append("")
    f = STORE / "label-view.json"
    if f.exists():
        lv = json.loads(f.read_text())
        what = lv["source"].removeprefix("the images' patch view (").removesuffix(")")
        lines += [
            "### The neighbour-label checks' view on pred_probs that took no part in choosing it",
            "",
            f"Run {lv['date']} (`--parts data-issues`, {lv['seconds']:.0f} s; computing the "
            f"patch view of the {lv['num_images']:,} images afresh took "
            f"{lv['view_seconds']:.1f} s of it). The audit's "
            "neighbour-label checks search the images' patch view when the audit trains on "
            "images (`IMAGE_VIEW_FEATURES`), chosen on the two audits above (the penultimate "
            "layer of the folds' networks gave -0.0002 AUPRC to the default audit's "
            "combination). Here the same features, read from the full audit's cache "
            f"({what}), "
            "meet the pred_probs of the five strong models of the label-error benchmark (rows "
            "mapped to the CIFAR-10 images), which were not looked at when the view was "
            "chosen. Default score and filter on each; w = the fitted weight of the vote.", "",
            "| dataset | model | w | AUPRC pred_probs | AUPRC vote | AUPRC combined | "
            "combined - pred_probs | F1 pred_probs | F1 combined |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in lv["rows"]:
            a, v, c = r["pred_probs"], r["knn"], r["combined"]
            lines.append(f"| {r['dataset']} | {r['model']} | {r['knn_weight']:.3f} | "
                         f"{a['auprc']:.4f} | {v['auprc']:.4f} | {c['auprc']:.4f} | "
                         f"{c['auprc'] - a['auprc']:+.4f} | {a['f1']:.4f} | {c['f1']:.4f} |")
        d = [r["combined"]["auprc"] - r["pred_probs"]["auprc"] for r in lv["rows"]]
        lines += ["", f"Combined minus pred_probs alone: from {min(d):+.4f} to {max(d):+.4f} "
                  f"AUPRC (mean {sum(d) / len(d):+.4f}) over {len(d)} models.", ""]
        lines += _case_lines(lv.get("cases") or [])
    return "\n".join(lines)


def _proxy_lines() -> list[str]:
    """The ``proxy`` part's table (candidates for the CPU preset's training)."""
    f = STORE / "proxy.json"
    if not f.exists():
        return []
    r = json.loads(f.read_text())
    base = next(row["auprc"] for row in r["rows"] if not row["tta"])  # the first arm, no TTA
    lines = [
        "### The main job's training on CPU (`--parts proxy`)", "",
        f"Run {r['date']}. {r['n']:,} random CIFAR-10 training images (seed 0) with the "
        f"CIFAR-10N `worse` labels; one airbench net (the CPU preset: {r['epochs']} epochs, "
        "SGD, one-cycle LR, crop + flip) trained on the first half, its pred_probs on the "
        "held-out half, without and with flip test-time augmentation (TTA); AUPRC of the default "
        "score against given != clean label. 'whitened stem': airbench94's first layer, the "
        "2x2 stem convolution set to the patch-whitening filters of 5,000 training images and "
        "their negatives, frozen (`AirbenchNet(whiten=True)`).", "",
        "Rule, written before any of these figures (study 50): the best (arm, TTA) cell must "
        "beat the preset (cross entropy, no TTA) by 0.005 AUPRC here (select), then, as the "
        "default audit, beat the preset's recorded full-audit AUPRC (0.9037, run of "
        "2026-12-04) within 30 minutes on this CPU (confirm). Both held: select on scratch "
        "runs of the same cells (all three 0.830 against the preset's 0.820); confirm below. "
        "This table is the part's re-run; its whitened arms differ from the scratch run by up "
        "to 0.005 (the library's filters come in another channel order, which the next "
        "layer's random initialisation sees differently), so at one seed the proxy separates "
        "the whitened stem and TTA from the preset, not label smoothing on top of them. The "
        "candidate was then checked on data not used in its choice, the 10,000-image folder "
        "of `benchmarks/small_folder.py` (CIFAR-10 test images, 15% uniform noise), where it "
        "ranked worse than the preset (AUPRC 0.787 against 0.801, "
        "benchmarks/results/small_folder.md), so it was **not kept**: the default audit above "
        "is the preset's, unchanged. The whitened stem stays "
        "available (`model_kwargs={'whiten': True}`).", "",
    ]
    c = STORE / "confirm.json"
    if c.exists():
        cr = json.loads(c.read_text())
        cm = cr["metrics"]
        lines += [
            f"Confirm run ({cr['date']}, the candidate as the default audit, "
            "`benchmarks/audit_cpu.py --parts full` while it was the default): "
            f"{cr['seconds'] / 60:.1f} min, AUPRC {cm['auprc']:.4f}, precision "
            f"{cm['precision']:.4f}, recall {cm['recall']:.4f}, F1 {cm['f1']:.4f}, "
            f"{cr['num_flagged']} flagged (estimated noise rate "
            f"{cr['noise_rate_estimated']:.4f}); training: {cr['settings'].get('model')}.", "",
        ]
    lines += [
        "| arm | TTA | train time | accuracy vs clean | AUPRC | AUPRC - preset |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(f"| {row['arm']} | {'yes' if row['tta'] else 'no'} | "
                     f"{row['train_seconds']:.0f} s | {row['accuracy']:.4f} | "
                     f"{row['auprc']:.4f} | {row['auprc'] - base:+.4f} |")
    return lines + [""]


def _case_lines(cases: list[dict]) -> list[str]:
    """The development-case table of the combination (empty without cases)."""
    if not cases:
        return []
    lines = ["### The combination as the audit's ranking: the development cases", "",
             "The cases of `benchmarks/detection_cases.py`, each in its fixed half: the case's "
             "pred_probs alone against their combination with the label vote of each "
             "example's 10 nearest neighbours, the library's default score and filter on "
             "both. Images (the CIFAR-10 cases: CIFAR-10N label sets, synthetic noise, the "
             "binary task, small test subsets; models from pixels to ResNets): the vote in the "
             "images' patch view, fitted on the case's images as the audit does. Tables "
             "(digits, breast cancer, wine, a 20-class synthetic set; linear, naive Bayes, "
             "k-NN, tree, forest and MLP models): the vote in the standardised columns, as a "
             "table audit reads them. Rule, written down before the images' table was first "
             f"computed and applied unchanged to the tables' afterwards: {CASE_RULE}.", "",
             "| cases | half | n | mean AUPRC gain | worst | cases >= 0 | mean F1 gain | worst | "
             "cases >= 0 |", "|---|---|---|---|---|---|---|---|---|"]
    verdicts = {}
    for group in ("images", "tables"):
        verdict = {}
        for half in ("select", "confirm"):
            rs = [c for c in cases if c["half"] == half and c.get("group", "images") == group]
            if not rs:
                continue
            da = [c["auprc_combined"] - c["auprc_pred_probs"] for c in rs]
            df = [c["f1_combined"] - c["f1_pred_probs"] for c in rs]
            verdict[half] = (sum(da) / len(da), sum(df) / len(df))
            lines.append(f"| {group} | {half} | {len(rs)} | {sum(da) / len(da):+.4f} | "
                         f"{min(da):+.4f} | {sum(x >= 0 for x in da)} | "
                         f"{sum(df) / len(df):+.4f} | {min(df):+.4f} | "
                         f"{sum(x >= 0 for x in df)} |")
        sel, con = verdict.get("select"), verdict.get("confirm")
        if sel or con:
            verdicts[group] = bool(sel and con and sel[0] > 0 and sel[1] >= 0 and con[0] >= 0)
    lines.append("")
    for group, met in verdicts.items():
        lines.append(f"Verdict ({group}): the rule is {'met' if met else 'not met'}"
                     + (f": since 2026-12-05 an audit that trains on {group} ranks and flags by "
                        "the combination (`settings['neighbour vote']` gives the weight)."
                        if met else "."))
        lines.append("")
    lines += ["| case | half | accuracy (given) | w | AUPRC pred_probs | AUPRC combined | "
              "F1 pred_probs | F1 combined |", "|---|---|---|---|---|---|---|---|"]
    for c in sorted(cases, key=lambda c: (c.get("group", "images"), c["family"], c["case"])):
        lines.append(f"| {c['case']} | {c['half']} | {c['accuracy_given']:.3f} | "
                     f"{c['knn_weight']:.3f} | {c['auprc_pred_probs']:.4f} | "
                     f"{c['auprc_combined']:.4f} | {c['f1_pred_probs']:.4f} | "
                     f"{c['f1_combined']:.4f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="full,quick,pred-probs")
    ap.add_argument("--data-root", default=None, help="holds cifar-10-batches-py and cifar-10n")
    ap.add_argument("--force-render", action="store_true",
                    help="rewrite audit.md even when a part's results are missing")
    ap.add_argument("--note", default=None,
                    help="the conditions of the run (e.g. a CPU shared for a while), stored with "
                         "each full/quick part run and printed beside its date")
    ap.add_argument("--annotate-only", action="store_true",
                    help="store --note with the saved full/quick parts named in --parts and "
                         "re-render, training nothing")
    args = ap.parse_args(argv)
    if args.annotate_only:
        if args.note is None:
            ap.error("--annotate-only needs --note TEXT")
        for name in args.parts.split(","):
            f = STORE / f"{name}.json"
            if name not in ("full", "quick") or not f.exists():
                ap.error(f"--annotate-only: no saved '{name}' part in {STORE} (full or quick)")
            _io.write_text(f, json.dumps({**json.loads(f.read_text()), "note": args.note},
                                         indent=1))
    run = [] if args.annotate_only else args.parts.split(",")
    WORK.mkdir(parents=True, exist_ok=True)
    STORE.mkdir(parents=True, exist_ok=True)
    parts = {"full": part_full, "quick": part_quick, "pred-probs": part_pred_probs,
             "proxy": part_proxy,
             "rescore": part_rescore, "data-issues": part_data_issues}
    for name in run:
        result = parts[name](args.data_root)
        if result is None:
            continue
        if args.note and isinstance(result, dict):
            result["note"] = args.note
        _io.write_text(STORE / f"{name}.json", json.dumps(result, indent=1))
        print(name, json.dumps(result)[:600], flush=True)
    out = OUT
    missing = [p for p in ("full", "quick", "pred-probs") if not (STORE / f"{p}.json").exists()]
    if missing and out.exists() and not args.force_render:
        # a part run elsewhere (or lost) would drop its table from the rendered page
        print(f"no {', '.join(missing)} results in {STORE}: {out} left as it is "
              "(--force-render replaces it)")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    _io.write_text(out, render())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
