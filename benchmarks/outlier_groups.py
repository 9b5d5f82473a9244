"""Groups of outliers: the kNN outlier score against the Mahalanobis distance, on CIFAR-10.

The injections of ``benchmarks/data_issues.py`` (the same images, seeds and Coates-Ng patch
features, from its cache when it has run): into the 50,000 CIFAR-10 train images ("eval",
seed 1) and into the 10,000 test images ("dev", seed 2), 100 uniform-noise, 100 constant and
100 digit images each (with 400 near-duplicate copies that count as inliers here). Each kind
is a tight group, the case a kNN distance cannot see. For both scores,
:func:`labelnoise.data_issues.outlier_scores` (mean cosine distance to the 10 nearest
neighbours, the library's default) and :func:`labelnoise.data_issues.mahalanobis_outlier_scores`
(one Ledoit-Wolf Gaussian): AUROC per injected kind against every other image, and recall,
precision and the number flagged at the library's threshold rule
(:func:`labelnoise.data_issues.outlier_threshold`, modified z-score 3.5 of the log score);
variants of the Gaussian; threshold rules for the Gaussian score (chosen on dev, read on
eval) and a page of the natural images the chosen rule flags
(``results/outlier_groups_gaussian_flags.png``).

    python benchmarks/outlier_groups.py --data-root DIR [--out benchmarks/results/outlier_groups.md]

About a minute on 2 cores once the features are cached (the patch features take about 30 s).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data_issues as bench  # noqa: E402

from labelnoise import data_issues as di  # noqa: E402
from labelnoise._io import write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
SCORES = ("kNN (k = 10, cosine)", "Mahalanobis (Ledoit-Wolf)")


def evaluate(inj: dict, feats: np.ndarray) -> list[dict]:
    """One row per score: AUROC per kind and of all, recall per kind, precision, flagged,
    seconds."""
    rows = []
    for name in SCORES:
        t = time.perf_counter()
        if name.startswith("kNN"):
            scores = di.outlier_scores(feats, k=10)
            scores, threshold, _ = di.refine_outlier_scores(feats, scores, k=10)
        else:
            scores = di.mahalanobis_outlier_scores(feats)
            threshold = di.outlier_threshold(scores)
        seconds = time.perf_counter() - t
        flags = scores > threshold
        rows.append(dict(score=name, seconds=seconds, **bench.out_eval(inj, flags, scores)))
    return rows


#: variants of the Gaussian tried after the first table (benchmark only, not in the library)
VARIANTS = ("one Gaussian (the library's)", "refit on the 80% closest (one C-step)",
            "class-conditional, tied covariance, given class",
            "class-conditional, tied covariance, nearest class")


def _mahalanobis(x: np.ndarray, fit_on: np.ndarray, means: np.ndarray | None = None):
    """Squared distances to ``means`` (rows; default the mean of ``fit_on``) under the
    Ledoit-Wolf precision of ``fit_on`` (already centred when ``means`` is given)."""
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf(assume_centered=means is not None).fit(fit_on)
    centres = lw.location_[None] if means is None else means
    return np.stack([np.einsum("ij,ij->i", (x - m) @ lw.precision_, x - m) for m in centres], 1)


def variant_scores(feats: np.ndarray, labels: np.ndarray) -> dict:
    """Name -> score (N,) for each of :data:`VARIANTS`: the library's one Ledoit-Wolf
    Gaussian; the same refit once on the 80% of rows closest to the first fit (a trimmed,
    minimum-covariance-determinant-like C-step against groups that widen the fit); and the
    class-conditional Gaussians with one tied covariance of Lee et al. 2018 (Eq. 2: the
    class means of the given labels, the covariance of the rows around their class mean),
    at the given class and at the nearest class mean."""
    x = np.asarray(feats, dtype=np.float64)
    first = di.mahalanobis_outlier_scores(x)
    keep = first <= np.quantile(first, 0.8)
    k = int(labels.max()) + 1
    means = np.stack([x[labels == c].mean(0) for c in range(k)])
    per_class = _mahalanobis(x, x - means[labels], means)
    return {VARIANTS[0]: first, VARIANTS[1]: np.sqrt(_mahalanobis(x, x[keep])[:, 0]),
            VARIANTS[2]: np.sqrt(per_class[np.arange(len(x)), labels]),
            VARIANTS[3]: np.sqrt(per_class.min(1))}


def evaluate_variants(inj: dict, feats: np.ndarray) -> list[dict]:
    """One row per variant: AUROC per kind and their mean, recall per kind, precision and the
    number flagged at the library's threshold rule."""
    rows = []
    for name, scores in variant_scores(feats, np.asarray(inj["labels"])).items():
        res = bench.out_eval(inj, scores > di.outlier_threshold(scores), scores)
        res["auroc_mean"] = float(np.mean([res[f"auroc_{k}"] for k in bench.KINDS_OUT]))
        rows.append(dict(score=name, **res))
    return rows


#: threshold rules for the Gaussian score (candidates of the threshold table): the library's
#: modified z-score of the log score at several z, the chi-square tail of the squared
#: distance (as if the features were Gaussian) and fixed quantiles of the score
Z_RULES = (3.5, 5.0, 7.0, 10.0)
CHI2_TAILS = (1e-3, 1e-6, 1e-9)
QUANTILES = (0.99, 0.995, 0.999)
#: the page of flagged natural images (rows: highest-scoring flagged, random flagged,
#: random unflagged; eval set, the chosen rule)
FLAGS_PNG = HERE / "results" / "outlier_groups_gaussian_flags.png"


def threshold_rules(inj: dict, feats: np.ndarray, scores: np.ndarray) -> list[dict]:
    """One row per threshold rule of the Gaussian score ``scores`` (of ``feats``):
    threshold, flagged, natural images flagged, precision, recall (all kinds), F1 and recall
    per kind."""
    from scipy import stats

    rules = {f"modified z-score {z} of the log score"
             + (" (the library's rule)" if z == 3.5 else ""): di.outlier_threshold(scores, z=z)
             for z in Z_RULES}
    rules.update({f"chi-square tail {a:g} (D = {feats.shape[1]})":
                  float(np.sqrt(stats.chi2.isf(a, feats.shape[1]))) for a in CHI2_TAILS})
    rules.update({f"quantile {q}": float(np.quantile(scores, q)) for q in QUANTILES})
    outlier = np.isin(inj["kind"], bench.KINDS_OUT)
    rows = []
    for name, threshold in rules.items():
        flags = scores > threshold
        res = bench.out_eval(inj, flags, scores)
        tp = int(np.sum(flags & outlier))
        recall = tp / int(outlier.sum())
        prec = res["precision"] if flags.any() else 0.0
        rows.append(dict(rule=name, threshold=float(threshold),
                         natural=int(np.sum(flags & ~outlier)), num_natural=int(np.sum(~outlier)),
                         recall_all=recall,
                         f1=2 * prec * recall / (prec + recall) if prec + recall > 0 else 0.0,
                         **res))
    return rows


def flags_page(inj: dict, scores: np.ndarray, path: Path, per_row: int = 16) -> int:
    """Write a PNG of natural (not injected) images under the library's rule on the Gaussian
    score ``scores`` (one per image): two rows of the highest-scoring flagged ones, two of
    randomly drawn flagged ones, two of randomly drawn unflagged ones (seed 0). Returns the
    number of natural images flagged."""
    from PIL import Image

    flags = scores > di.outlier_threshold(scores)
    natural = ~np.isin(inj["kind"], bench.KINDS_OUT)
    flagged = np.flatnonzero(flags & natural)
    rng = np.random.default_rng(0)
    n = 2 * per_row
    groups = [flagged[np.argsort(-scores[flagged], kind="stable")][:n],
              rng.choice(flagged, min(n, flagged.size), replace=False),
              rng.choice(np.flatnonzero(~flags & natural), n, replace=False)]
    images = np.asarray(inj["images"])
    h, w = images.shape[1:3]
    sheet = np.full((3 * (2 * h + 4), per_row * w, 3), 255, dtype=np.uint8)
    for g, rows in enumerate(groups):
        for j, i in enumerate(rows):
            y = g * (2 * h + 4) + (j // per_row) * h
            x = (j % per_row) * w
            sheet[y:y + h, x:x + w] = images[i]
    Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2),
                                  Image.NEAREST).save(path)
    return int(flagged.size)


def _kind_cells(r: dict) -> tuple[str, str]:
    """A row's AUROC cells and recall cells, one per injected kind, joined by ' | '."""
    f = bench.fmt
    return (" | ".join(f(r[f"auroc_{k}"]) for k in bench.KINDS_OUT),
            " | ".join(f(r[k], 2) for k in bench.KINDS_OUT))


def render(results: dict, command: str, variants: dict | None = None,
           rules: dict | None = None) -> str:
    f = bench.fmt
    lines = [
        "## Groups of outliers: kNN score against the Mahalanobis distance "
        "(`benchmarks/outlier_groups.py`)", "",
        f"Command: `{command}`. Machine: {platform.machine()}, 2-core CPU, Python "
        f"{platform.python_version()}. Date: {datetime.date.today().isoformat()}.", "",
        "Data: the injections of `benchmarks/data_issues.py` (100 uniform-noise, 100 constant "
        "and 100 digit images, each kind a tight group; eval: into the 50,000 CIFAR-10 train "
        "images, seed 1; dev: into the 10,000 test images, seed 2, where each group is 1% of "
        "the data), on its patch features (PCA 128). AUROC: each kind against every image "
        "that is not an injected outlier. Flags: the library's threshold rule on each score "
        "(modified z-score 3.5 of the log score; the kNN flags made exact by "
        "`refine_outlier_scores`, as `find_outliers` does). Precision counts only the injected "
        "outliers as right.", "",
        "| set | score | AUROC uniform_noise | AUROC constant | AUROC digits | recall "
        "uniform_noise | recall constant | recall digits | precision | flagged | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for set_name, rows in results.items():
        for r in rows:
            auroc, recall = _kind_cells(r)
            lines.append(f"| {set_name} | {r['score']} | {auroc} | {recall} | "
                         f"{f(r['precision'])} | {r['num_flagged']} | {r['seconds']:.1f} |")
    lines += ["", "The kNN score ranks every group as the least outlying images (its members "
              "are each other's neighbours); the distance to one Gaussian ranks them near the "
              "top. At the z-score rule it still misses most constant images, and on the dev "
              "set, where each group is 1% of the data and widens the fitted covariance along "
              "its own direction, most digits as well; the other rows it flags are images of the "
              "data set itself (looked at in the threshold section below). So it is a second "
              "score for the audit, a ranking without flags.", ""]
    if variants:
        lines += [
            "### Variants of the Gaussian (tried after the table above; benchmark only)", "",
            "Whether a fit that the groups bend less finds them better: the library's one "
            "Gaussian; the same refit once on the 80% of rows closest to the first fit (one "
            "C-step of a trimmed, minimum-covariance-determinant-like estimate; on dev, trim "
            "fractions 1, 2, 5, 10 and 20% with one or three C-steps were tried and 20% with "
            "one step had the best mean AUROC, so only it is shown); and Lee et al.'s (2018, "
            "Eq. 2) class-conditional Gaussians with one tied covariance, at the given class "
            "and at the nearest class mean. Rule for replacing the library's score: a higher "
            "mean AUROC over the three kinds on dev, confirmed on eval.", "",
            "| set | variant | AUROC uniform_noise | AUROC constant | AUROC digits | mean "
            "AUROC | recall uniform_noise | recall constant | recall digits | precision | "
            "flagged |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for set_name, rows in variants.items():
            for r in rows:
                auroc, recall = _kind_cells(r)
                lines.append(f"| {set_name} | {r['score']} | {auroc} | {f(r['auroc_mean'])} | "
                             f"{recall} | {f(r['precision'])} | {r['num_flagged']} |")
        lines += ["", "None replaces the one Gaussian. The trimmed refit gains on dev and "
                  "loses on eval (and flags more). The class-conditional fit at the given "
                  "class passes the rule by a small margin, but it measures the distance to "
                  "the class of the given label, so a mislabelled example scores as an "
                  "outlier too (an outlier check that re-finds the label issues; not "
                  "measured here, where the injected images carry labels of their own); at "
                  "the nearest class mean, which does not read the labels, the gain is gone. "
                  "The constant and digit "
                  "images are smooth images, and in these patch features they lie near "
                  "CIFAR-10's own smooth images (sky, plain backgrounds): the features, not "
                  "the fit, limit this score; the audit's network features may separate "
                  "them better (not measured here).", ""]
    if rules:
        dev_rows = next(v for k, v in rules.items() if k.startswith("dev"))
        chosen = max(dev_rows, key=lambda r: r["f1"])
        lines += [
            "### A threshold rule for the Gaussian score (chosen on dev, confirmed on eval)", "",
            "Candidates: the library's modified z-score rule of the log score at several z, "
            "the chi-square tail of the squared distance (as if the features were Gaussian) "
            "and fixed quantiles of the score. Rule: the highest F1 on dev (the injected "
            "outliers as positives, every other image as a negative), then read on eval. "
            "'natural': images of the data set itself that the rule flags.", "",
            "| set | rule | threshold | flagged | natural | precision | recall | F1 | recall "
            "uniform_noise | recall constant | recall digits |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for set_name, rows in rules.items():
            for r in rows:
                _, recall = _kind_cells(r)
                lines.append(f"| {set_name} | {r['rule']} | {r['threshold']:.2f} | "
                             f"{r['num_flagged']} | {r['natural']} | {f(r['precision'])} | "
                             f"{r['recall_all']:.3f} | {r['f1']:.3f} | {recall} |")
        ev_rows = next(v for k, v in rules.items() if k.startswith("eval"))
        ev = next(r for r in ev_rows if r["rule"] == chosen["rule"])
        n_natural, share = ev["natural"], ev["natural"] / ev["num_natural"]
        lines += [
            "", f"Chosen on dev: {chosen['rule']} (F1 {chosen['f1']:.3f}). On eval it finds "
            f"{ev['recall_all']:.0%} of the injected outliers, where the kNN rule and "
            "Datalab find none, but it also flags "
            f"{n_natural} of the {ev['num_natural']:,} natural images ({share:.1%}). A page of "
            "them, `outlier_groups_gaussian_flags.png` (top two rows: the highest-scoring "
            "flagged natural images; middle: flagged ones drawn at random; bottom: unflagged "
            "ones drawn at random), shows ordinary photographs with saturated colours, strong "
            "edges, busy textures or plain light backgrounds, not broken or foreign images: they are far from the "
            "features' Gaussian because patch statistics are heavy-tailed, not because "
            "something is wrong with them. Flagging them would send a user to review "
            f"{share:.1%} of a clean data set, so the audit keeps the Gaussian distance as a ranking "
            "for review (column `outlier_score_gaussian` and its grid), with no flag.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default="/root/.cache/labelnoise-bench")
    ap.add_argument("--out", default=str(HERE / "results" / "outlier_groups.md"))
    args = ap.parse_args(argv)
    from labelnoise.datasets import load_cifar10

    train = load_cifar10("train", data_root=args.data_root, download=False)
    test = load_cifar10("test", data_root=args.data_root, download=False)
    ev = bench.inject(train.inputs, train.labels, seed=1)
    dev = bench.inject(test.inputs, test.labels, seed=2)
    (f_ev, f_dev), _ = bench.cached(
        "patch64s2_pca128", lambda: bench.patch_features(ev["images"], [dev["images"]]))
    results = {"eval (N = 50,700)": evaluate(ev, f_ev), "dev (N = 10,700)": evaluate(dev, f_dev)}
    variants = {"dev (N = 10,700)": evaluate_variants(dev, f_dev),
                "eval (N = 50,700)": evaluate_variants(ev, f_ev)}
    gauss_dev, gauss_ev = (di.mahalanobis_outlier_scores(f) for f in (f_dev, f_ev))
    rules = {"dev (N = 10,700)": threshold_rules(dev, f_dev, gauss_dev),
             "eval (N = 50,700)": threshold_rules(ev, f_ev, gauss_ev)}
    flags_page(ev, gauss_ev, FLAGS_PNG)
    for set_name, rows in [*results.items(), *variants.items()]:
        print(set_name, rows, flush=True)
    command = "python benchmarks/outlier_groups.py --data-root DIR"
    write_text(Path(args.out), render(results, command, variants, rules))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
