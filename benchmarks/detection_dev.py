"""Detection on the development cases: our scores and filters against cleanlab's, per case.

Cases: every case built by ``benchmarks/detection_cases.py`` (digits, breast cancer, wine,
20-class synthetic, CIFAR-10 with the five CIFAR-10N label sets and with synthetic noise,
binary CIFAR, small image sets; weak to strong models) plus the 15 label-error-benchmark
cases and their 3 ensembles, each in the ``select`` or the ``confirm`` half of the split
fixed by ``detection_cases.py`` before any detection result was seen.

For every case: AUPRC (errors = given != true, low score = suspect) of every
label-quality method, and F1 of every filter. cleanlab's three scores and seven filters
are computed by labelnoise's exact reproductions (identical masks, scores within 1e-9 of
cleanlab 2.9.0: ``tests/test_cleanlab_parity.py``), so the run needs no cleanlab.

How the defaults are chosen (the rule, fixed before the confirm half is evaluated): on the
``select`` half, the default score is the method with the highest mean of (its AUPRC minus
the best of cleanlab's three scores on that case), and the default filter likewise with F1
against the best of cleanlab's seven filters; ties go to the better worst case. The same
figures on the ``confirm`` half are then reported as they come.

    python benchmarks/detection_dev.py --root /root/.cache/labelnoise-bench \\
        [--out benchmarks/results/detection_dev.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detection_cases  # noqa: E402

from labelnoise import _io  # noqa: E402
from labelnoise import filter as lfilter  # noqa: E402
from labelnoise import rank as lrank  # noqa: E402
from labelnoise.issues import find_issues  # noqa: E402

OURS_SCORES = lrank.OUR_METHODS
CLEANLAB_SCORES = lrank.CLASSIC_METHODS
OURS_FILTERS = lfilter.OUR_FILTERS
CLEANLAB_FILTERS = lfilter.CLEANLAB_FILTERS


#: the count-based filters whose number of flags a flat-pred_probs candidate takes
COUNTS = ("both", "prune_by_noise_rate", "prune_by_class", "confident_learning",
          "predicted_neq_given")
#: the grid of row-entropy thresholds at which the candidates replace ``pooled``
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.60, 0.951, 0.05))

#: Candidate C1 (fixed 2026-12-04, before the CIFAR-10 families of the cases were rebuilt):
#: the default filter on pred_probs temperature-scaled to the GIVEN labels, unless more than
#: C1_MAX_ZERO_FRACTION of their entries are exact zeros (discrete pred_probs: k-NN, trees);
#: scores stay on the raw pred_probs. Designed on the families below (both halves seen), so
#: it is judged on the other families only: adopted if there its mean F1 gap to cleanlab's
#: best filter and its wins are both >= the default filter's.
C1_MAX_ZERO_FRACTION = 0.05
C1_DESIGN_FAMILIES = ("digits", "breast_cancer", "wine", "synthetic-k20",
                      "label-error-benchmarks")


def temperature_scaled(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, float]:
    """(pred_probs ** (1 / T) renormalised, T): the temperature T that minimises the negative
    log-likelihood of the given labels (Guo et al. 2017, "On Calibration of Modern Neural
    Networks", temperature scaling, here on out-of-sample pred_probs and the noisy labels
    they were trained to predict); log T searched in [-3, 5] (bounded Brent), log-probabilities
    clipped at log(1e-12)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logp = np.log(np.clip(pred_probs, 1e-12, 1.0))
    rows = np.arange(labels.size)

    def nll(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, labels].mean())

    t = float(np.exp(minimize_scalar(nll, bounds=(-3.0, 5.0), method="bounded").x))
    return np.exp(log_softmax(logp / t, axis=1)), t


def c1_mask(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Candidate C1's flags (see C1_MAX_ZERO_FRACTION)."""
    if np.mean(pred_probs == 0) <= C1_MAX_ZERO_FRACTION:
        pred_probs = temperature_scaled(labels, pred_probs)[0]
    return lfilter.find_label_issues(labels, pred_probs, filter_by=lfilter.DEFAULT_FILTER)


def c1_section(rows: list[dict]) -> list[str]:
    """The lines of candidate C1's table: its F1 gap against the default filter's on the
    families it was designed on and on the others (the test), and the rule's verdict."""
    groups = {"designed on (seen)": [r for r in rows if r["family"] in C1_DESIGN_FAMILIES],
              "test (not seen)": [r for r in rows if r["family"] not in C1_DESIGN_FAMILIES]}
    lines = ["### Candidate C1: the default filter on temperature-scaled pred_probs", "",
             "Fixed on 2026-12-04 before the CIFAR-10 families were rebuilt (benchmarks/"
             "detection_dev.py, `c1_mask`): the pred_probs are temperature-scaled to the "
             "given labels (one T by maximum likelihood) unless more than "
             f"{C1_MAX_ZERO_FRACTION:.0%} of their entries are exact zeros, then the default "
             "filter runs on them; scores are unchanged. Rule: adopted if, on the test "
             "families, its mean F1 gap to cleanlab's best filter and its wins are both >= "
             "the default filter's.", "",
             "| cases | n | default: wins | mean gap | worst gap | C1: wins | mean gap | worst gap |",
             "|---|---|---|---|---|---|---|---|"]
    verdict = "no test cases built yet"
    for name, g in groups.items():
        if not g:
            lines.append(f"| {name} | 0 | - | - | - | - | - | - |")
            continue
        best = np.array([max(r["filter"][m] for m in CLEANLAB_FILTERS) for r in g])
        d = np.array([r["filter"][lfilter.DEFAULT_FILTER] for r in g]) - best
        c = np.array([r["c1"] for r in g]) - best
        lines.append(f"| {name} | {len(g)} | {int(np.sum(d >= -1e-12))} | {d.mean():+.4f} | "
                     f"{d.min():+.4f} | {int(np.sum(c >= -1e-12))} | {c.mean():+.4f} | "
                     f"{c.min():+.4f} |")
        if name.startswith("test"):
            ok = c.mean() >= d.mean() and np.sum(c >= -1e-12) >= np.sum(d >= -1e-12)
            verdict = "passes: adopt it" if ok else "fails: keep the default"
    return lines + ["", f"Verdict on the test families: {verdict}.", ""]


#: the four forms of the margin compared by ``margin_forms``: (prior-adjusted?, form, the
#: library score of that form or None)
MARGIN_FORMS = {"ratio, prior-adjusted (our prior_adjusted_margin)":
                (True, "ratio", "prior_adjusted_margin"),
                "difference, prior-adjusted": (True, "difference", None),
                "ratio, raw pred_probs": (False, "ratio", None),
                "difference, raw pred_probs (cleanlab's normalized_margin)":
                (False, "difference", "normalized_margin")}


def margin_forms(labels: np.ndarray, pred_probs: np.ndarray, errors: np.ndarray,
                 score_auprc: dict) -> dict:
    """AUPRC of the given label's margin over the strongest other class in four forms: as a
    ratio ``a_y / (a_y + a_o)`` or a difference ``a_y - a_o``, on the pred_probs
    renormalised after dividing each class by its given-label frequency (``a = p / pi``,
    as ``prior_adjusted_margin``) or on the raw pred_probs. The two named forms are the
    library's own scores, read from ``score_auprc`` (method -> AUPRC, as ``evaluate``
    computed them); the other two are computed here the same way (the ratio's given-label
    probability floored at ``rank._MARGIN_FLOOR``, as the library)."""
    out = {}
    n, k = pred_probs.shape
    rows = np.arange(n)
    pi = np.bincount(labels, minlength=k) / n
    for name, (adjusted, form, method) in MARGIN_FORMS.items():
        if method is not None:
            out[name] = score_auprc[method]
            continue
        a = pred_probs / np.where(pi > 0, pi, 1.0) if adjusted else pred_probs.copy()
        a = a / np.maximum(a.sum(axis=1, keepdims=True), 1e-300)
        own = a[rows, labels].copy()
        a[rows, labels] = -np.inf
        other = a.max(axis=1)
        if form == "ratio":
            own = np.maximum(own, lrank._MARGIN_FLOOR)
            s = own / (own + other)
        else:
            s = own - other
        out[name] = float(average_precision_score(errors, -s))
    return out


def margin_section(rows: list[dict]) -> list[str]:
    """The lines of the table 'the margin as a ratio or a difference': per case family, the
    mean AUPRC of each form and how often the difference beats the ratio."""
    names = list(MARGIN_FORMS)
    fams = sorted({r["family"] for r in rows}, key=lambda f: (f != "label-error-benchmarks", f))
    lines = ["### The margin as a ratio or a difference (both halves, by family)", "",
             "Mean AUPRC of the given label's margin over the strongest other class, in four "
             "forms: a ratio a_y / (a_y + a_o) (our `prior_adjusted_margin`) or a difference "
             "a_y - a_o (cleanlab's `normalized_margin`), each with and without the prior "
             "adjustment a = p / pi. 'difference >= ratio': cases where the prior-adjusted "
             "difference's AUPRC is at least the prior-adjusted ratio's. Why it is here: on "
             "test sets whose errors were verified only among confident learning's candidates "
             "(Northcutt et al. 2021), cleanlab's difference form ranked ahead of our default "
             "(the detection issue's report of data kept out of ../shared); this table "
             "shows which form ranks ahead where every error is known (the next table: under "
             "their protocol).", "",
             "| family | cases | " + " | ".join(names) + " | difference >= ratio |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for fam in fams + ["all"]:
        g = rows if fam == "all" else [r for r in rows if r["family"] == fam]
        if not g:
            continue
        means = [np.mean([r["margin_forms"][m] for r in g]) for m in names]
        wins = sum(r["margin_forms"][names[1]] >= r["margin_forms"][names[0]] - 1e-12 for r in g)
        lines.append(f"| {fam} | {len(g)} | " + " | ".join(f"{v:.4f}" for v in means)
                     + f" | {wins}/{len(g)} |")
    return lines + [""]


def verified_section(rows: list[dict]) -> list[str]:
    """The lines of the table 'AUPRC when only confident learning's flags are verified'."""
    rows = [r for r in rows if "verified" in r]
    lines = ["### AUPRC when only confident learning's flags are verified", "",
             "The test sets of Northcutt et al. 2021 (\"Pervasive Label Errors in Test Sets\") "
             "know an error only where confident learning flagged the example and the crowd "
             "confirmed it; an error it did not flag counts as a correct label. The same "
             "protocol on the development cases: the known errors are the true errors among "
             "cleanlab's default filter's flags (`prune_by_noise_rate`), and each score's AUPRC "
             "is read against them. Gap to cleanlab's best score per case, as in the first "
             "table; cases with no flagged error left out.", "",
             "| method | select: wins | mean gap | worst gap | confirm: wins | mean gap | worst gap |",
             "|---|---|---|---|---|---|---|"]
    halves = [summarise([r for r in rows if r["half"] == h], "verified", OURS_SCORES,
                        CLEANLAB_SCORES) for h in ("select", "confirm")]
    sizes = [sum(r["half"] == h for r in rows) for h in ("select", "confirm")]
    for per_method in zip(*halves):
        cells = [f"{wins}/{size} | {mean:+.4f} | {worst:+.4f}"
                 for (_, wins, mean, worst), size in zip(per_method, sizes)]
        lines.append(f"| {per_method[0][0]} | " + " | ".join(cells) + " |")
    fams = sorted({r["family"] for r in rows}, key=lambda f: (f != "label-error-benchmarks", f))
    show = (lrank.DEFAULT_METHOD, "prior_adjusted_margin", "self_confidence", "normalized_margin")
    lines += ["", "By family, mean gap to cleanlab's best score, all known errors against only "
              "the verified ones:", "",
              "| family | cases | " + " | ".join(f"{m}: all errors | {m}: verified" for m in show) + " |",
              "|---|---|" + "---|---|" * len(show)]
    for fam in fams:
        g = [r for r in rows if r["family"] == fam]
        cells = []
        for m in show:
            for key in ("score", "verified"):
                cells.append(f"{np.mean([r[key][m] - max(r[key][c] for c in CLEANLAB_SCORES) for r in g]):+.4f}")
        lines.append(f"| {fam} | {len(g)} | " + " | ".join(cells) + " |")

    def mean_gap(key, g):
        return np.mean([r[key][lrank.DEFAULT_METHOD] - max(r[key][c] for c in CLEANLAB_SCORES)
                        for r in g])

    leb = [r for r in rows if r["family"] == "label-error-benchmarks"]
    lines += ["", f"The default score's mean gap, all known errors against only the verified ones: "
              f"{mean_gap('score', rows):+.4f} against {mean_gap('verified', rows):+.4f} over "
              f"{len(rows)} cases"
              + (f"; on the label-error benchmarks (strong models) {mean_gap('score', leb):+.4f} "
                 f"against {mean_gap('verified', leb):+.4f}" if leb else "")
              + ". The ratio form of the margin also ranks high the rows where no class is "
              "confidently predicted; confident learning does not flag those, so under this "
              "protocol their errors count as correct labels, and the difference form "
              "(`normalized_margin`), which ranks by how far the strongest other class leads, "
              "loses less. The default stays chosen on every error known."]
    return lines + [""]


def evaluate(labels: np.ndarray, pred_probs: np.ndarray, errors: np.ndarray) -> dict:
    """AUPRC of every score and F1 of every filter on one case; also the row-entropy
    statistic and the F1 of the candidate filters for flat pred_probs (``candidates``)."""
    out = {"score": {}, "filter": {}, "candidates": {},
           "statistic": lrank.row_entropy_statistic(pred_probs)}
    scores = {}
    for method in OURS_SCORES + CLEANLAB_SCORES:
        scores[method] = lrank.label_quality_scores(labels, pred_probs, method=method)
        out["score"][method] = float(average_precision_score(errors, -scores[method]))
    masks = {}
    for f in OURS_FILTERS + CLEANLAB_FILTERS:
        masks[f] = lfilter.find_label_issues(labels, pred_probs, filter_by=f)
        out["filter"][f] = float(f1_score(errors, masks[f]))
    cand = {f: masks[f] for f in CLEANLAB_FILTERS + ("mixture", "expected_f1")}
    for f in ("both", "prune_by_noise_rate", "prune_by_class"):
        cand[f"pooled & {f}"] = masks["pooled"] & masks[f]
    for c in COUNTS:
        for by in ("adaptive", "pooled"):
            cand[f"lowest {by}, as many as {c}"] = lfilter._lowest(scores[by], int(masks[c].sum()))
    out["candidates"] = {name: float(f1_score(errors, m)) for name, m in cand.items()}
    out["c1"] = float(f1_score(errors, c1_mask(labels, pred_probs)))
    out["margin_forms"] = margin_forms(labels, pred_probs, errors, out["score"])
    # the verification protocol of Northcutt et al. 2021: only confident learning's flags
    # (cleanlab's default filter) were checked, so the known errors are the true ones among them
    verified = errors & masks["prune_by_noise_rate"]
    if verified.any():
        out["verified"] = {m: float(average_precision_score(verified, -scores[m])) for m in scores}
    out["flagged_pooled"] = float(masks["pooled"].mean())
    # the default score's ranking flagged k deep, for k from an oracle or from a filter's count
    order = np.argsort(scores[lrank.DEFAULT_METHOD], kind="stable")
    f1_at = 2 * np.cumsum(errors[order]) / (np.arange(1, errors.size + 1) + errors.sum())
    out["ranking"] = {"best k (oracle)": float(f1_at.max()),
                      "k = number of errors (oracle)": float(f1_at[errors.sum() - 1]),
                      **{f"k = {f}'s count": float(f1_at[max(int(masks[f].sum()), 1) - 1])
                         for f in OURS_FILTERS + CLEANLAB_FILTERS}}
    # the depth of each ranking row that is not the number of errors, over that number
    # (best k: where the ranking's F1 peaks), keyed as out["ranking"]
    out["count_ratio"] = {"best k (oracle)": (int(f1_at.argmax()) + 1) / int(errors.sum()),
                          **{f"k = {f}'s count": max(int(masks[f].sum()), 1) / int(errors.sum())
                             for f in OURS_FILTERS + CLEANLAB_FILTERS}}
    return out


def candidate_sweep(rows: list[dict]) -> list[tuple]:
    """The choice of the ``adaptive`` filter: for every candidate and threshold t, the
    filter ``pooled`` when the row-entropy statistic is below t and the candidate otherwise;
    per half, (wins, mean gap, worst gap) of its F1 against cleanlab's best filter per case.
    Returns (candidate, t, select tuple, confirm tuple), best select mean gap first."""
    out = []
    for name in rows[0]["candidates"]:
        for t in THRESHOLDS:
            res = []
            for half in ("select", "confirm"):
                gaps = np.array([
                    (r["candidates"][name] if r["statistic"] >= t else r["filter"]["pooled"])
                    - max(r["filter"][m] for m in CLEANLAB_FILTERS)
                    for r in rows if r["half"] == half])
                res.append((int(np.sum(gaps >= -1e-12)), float(gaps.mean()), float(gaps.min())))
            out.append((name, t, res[0], res[1]))
    out.sort(key=lambda x: (round(x[2][1], 6), x[2][2]), reverse=True)
    return out


def summarise(rows: list[dict], kind: str, ours, theirs) -> list[tuple]:
    """Per method: (method, cases where it is >= the best of cleanlab's, mean gap, worst gap)."""
    gaps = {m: [] for m in ours + theirs}
    for r in rows:
        best = max(r[kind][m] for m in theirs)
        for m in gaps:
            gaps[m].append(r[kind][m] - best)
    table = []
    for m, g in gaps.items():
        g = np.array(g)
        table.append((m, int(np.sum(g >= -1e-12)), float(g.mean()), float(g.min())))
    return table


def goals_lines(rows: list[dict]) -> list[str]:
    """The detection issue's goals read from the per-case figures of both halves: per case,
    the default score's AUPRC and the default filter's F1 >= the best of cleanlab's; the
    default's mean within 0.005 of the best of ours, read two ways (against our best method
    by its mean over the cases, and against the best of our methods on each case, an oracle
    that no single method is)."""
    out = ["### The issue's goals, both halves together", ""]
    for kind, metric, ours, theirs, default in (
            ("score", "AUPRC", OURS_SCORES, CLEANLAB_SCORES, lrank.DEFAULT_METHOD),
            ("filter", "F1", OURS_FILTERS, CLEANLAB_FILTERS, lfilter.DEFAULT_FILTER)):
        d = np.array([r[kind][default] for r in rows])
        _, wins, gap, _ = next(t for t in summarise(rows, kind, ours, theirs) if t[0] == default)
        means = {m: float(np.mean([r[kind][m] for r in rows])) for m in ours}
        top = max(means, key=means.get)
        oracle = np.array([max(r[kind][m] for m in ours) for r in rows])
        out.append(
            f"* {metric} of the default `{default}`: >= the best of cleanlab's on {wins} of "
            f"{len(rows)} cases (goal: all; mean gap {gap:+.4f}); "
            f"its mean {float(d.mean()):.4f} against {means[top]:.4f} for our best by the mean "
            f"(`{top}`): {float(d.mean()) - means[top]:+.4f} (goal: within 0.005, "
            f"{'met' if d.mean() >= means[top] - 0.005 else 'not met'}); against the best of "
            f"ours on each case (an oracle): {float(np.mean(d - oracle)):+.4f}.")
    return out


def choose(table: list[tuple], ours) -> str:
    """The selection rule: best mean gap among ours, ties to the better worst gap."""
    return max((t for t in table if t[0] in ours), key=lambda t: (round(t[2], 6), t[3]))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detection_dev.md")
    ap.add_argument("--json", type=Path, default=None, help="also save the per-case figures")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    t0 = time.time()
    rows = []
    for name, half, labels, pp, true, meta in detection_cases.cases(args.root, args.shared):
        errors = labels != true
        if errors.all() or not errors.any():
            continue
        res = evaluate(labels, pp, errors)
        issues = find_issues(labels, pp)
        rows.append({"name": name, "half": half, "family": meta.get("family", ""),
                     "n": int(labels.size), "k": int(pp.shape[1]),
                     "acc_given": float((pp.argmax(1) == labels).mean()),
                     "noise": float(errors.mean()), "flagged": float(issues.is_label_issue.mean()),
                     **res})
        print(f"{name}: done", flush=True)

    by_half = {h: [r for r in rows if r["half"] == h] for h in ("select", "confirm")}
    tables = {(h, kind): summarise(by_half[h], kind, ours, theirs)
              for h in by_half
              for kind, ours, theirs in (("score", OURS_SCORES, CLEANLAB_SCORES),
                                         ("filter", OURS_FILTERS, CLEANLAB_FILTERS))}
    chosen = {kind: choose(tables[("select", kind)], ours)
              for kind, ours in (("score", OURS_SCORES), ("filter", OURS_FILTERS))}
    lines = [
        "## Detection on the development cases (select / confirm halves)", "",
        f"Command: `python benchmarks/detection_dev.py --root DIR` (cases built by "
        f"`benchmarks/detection_cases.py --root DIR`). Machine: {platform.processor() or 'CPU'}, "
        f"2 cores, 24 GB. Date: {datetime.date.today()}. {len(rows)} cases "
        f"({len(by_half['select'])} select, {len(by_half['confirm'])} confirm), "
        f"{time.time() - t0:.0f} s.", "",
        "Gap = our method's figure minus the best of cleanlab's methods on the same case (three "
        "scores for AUPRC, seven filters for F1; cleanlab's methods as reproduced exactly by "
        "labelnoise). 'wins' = cases where the gap is >= 0.", "",
        f"Selection rule (fixed before the confirm half was run): on the select half, the "
        f"highest mean gap, ties to the better worst gap. Chosen: score `{chosen['score']}` "
        f"(current default `{lrank.DEFAULT_METHOD}`), filter `{chosen['filter']}` (current "
        f"default `{lfilter.DEFAULT_FILTER}`).", "",
        f"`adaptive` (the default score since 2026-12-02) is `prior_adjusted_confidence` when "
        f"the mean normalised row entropy of the pred_probs is at least "
        f"{lrank.ADAPTIVE_ENTROPY_THRESHOLD} (flat pred_probs, a weak model) and "
        f"`prior_adjusted_margin` otherwise. The threshold was chosen by the rule above on the "
        f"select half alone (grid 0.60, 0.65, ..., 0.95); the weak-model branch itself was "
        f"chosen after the per-case figures of both halves had been seen during development "
        f"(`prior_adjusted_margin` lost to cleanlab's self-confidence on the small image sets "
        f"with weak models), so the confirm half is not a clean test of that choice: the data "
        f"kept out of `../shared` is.", "",
        "`adaptive` (the default filter since 2026-12-02) is `pooled` below the same "
        "row-entropy threshold and, on flat pred_probs, flags the examples with the lowest "
        "`adaptive` scores, as many as cleanlab's `both` flags. Chosen by the selection rule "
        "(select half only) from the candidates of the table 'Filter for flat pred_probs' "
        "below, each switched in for `pooled` at every threshold of the grid; the candidate "
        "list was written after the per-case table of the previous run (both halves, where "
        "`both` was cleanlab's best filter on most weak-model cases) had been seen, so the "
        "confirm half is again not a clean test of that list.", "",
    ]
    missing = [s.name for s in detection_cases.planned_specs()
               if not (args.root / detection_cases.SUBDIR / s.name / "meta.json").is_file()]
    if missing:
        lines += [f"Planned cases not built for this run ({len(missing)}; build time): "
                  + ", ".join(f"`{m}`" for m in missing) + ".", ""]
    for kind, metric in (("score", "AUPRC"), ("filter", "F1")):
        lines += [f"### {metric} gap to cleanlab's best, by half", "",
                  "| method | select: wins | mean gap | worst gap | confirm: wins | mean gap | worst gap |",
                  "|---|---|---|---|---|---|---|"]
        sel = {t[0]: t for t in tables[("select", kind)]}
        con = {t[0]: t for t in tables[("confirm", kind)]}
        for m in sel:
            s, c = sel[m], con.get(m, (m, 0, float("nan"), float("nan")))
            lines.append(f"| {m} | {s[1]}/{len(by_half['select'])} | {s[2]:+.4f} | {s[3]:+.4f} | "
                         f"{c[1]}/{len(by_half['confirm'])} | {c[2]:+.4f} | {c[3]:+.4f} |")
        lines.append("")
    lines += goals_lines(rows) + [""]
    sweep = candidate_sweep(rows)
    flat = [r for r in rows if lrank._is_flat(r["statistic"])]
    if flat:
        ada_vs_both = sum(r["filter"]["adaptive"] >= r["filter"]["both"] for r in flat)
        ada_vs_best = sum(r["filter"]["adaptive"] >= max(r["filter"][m] for m in CLEANLAB_FILTERS)
                          for r in flat)
        low = [r for r in flat if r["noise"] < 0.25]
        lines += [f"Flat cases (row entropy >= {lrank.ADAPTIVE_ENTROPY_THRESHOLD}, both halves): "
                  f"{len(flat)}. The `adaptive` filter's F1 is >= `both`'s on {ada_vs_both} and "
                  f">= cleanlab's best filter on {ada_vs_best}. On the {len(low)} of them with "
                  "under 25% noise, `pooled` flags "
                  f"{min(r['flagged_pooled'] / r['noise'] for r in low):.1f}x to "
                  f"{max(r['flagged_pooled'] / r['noise'] for r in low):.1f}x the noise rate, "
                  f"`adaptive` {min(r['flagged'] / r['noise'] for r in low):.1f}x to "
                  f"{max(r['flagged'] / r['noise'] for r in low):.1f}x.", ""]
    pooled_row = {t[0]: t for t in tables[("select", "filter")]}["pooled"]
    pooled_con = {t[0]: t for t in tables[("confirm", "filter")]}["pooled"]
    lines += ["### Filter for flat pred_probs: candidates replacing `pooled` at row entropy >= t", "",
              f"F1 gap to cleanlab's best filter per case; the 12 best by the select half's mean "
              f"gap, of {len(sweep)} (candidate, t) pairs. `pooled` alone: select "
              f"{pooled_row[1]}/{len(by_half['select'])} {pooled_row[2]:+.4f} "
              f"(worst {pooled_row[3]:+.4f}), confirm {pooled_con[1]}/{len(by_half['confirm'])} "
              f"{pooled_con[2]:+.4f} (worst {pooled_con[3]:+.4f}).", "",
              "| candidate | t | select: wins | mean gap | worst gap | confirm: wins | mean gap | worst gap |",
              "|---|---|---|---|---|---|---|---|"]
    for name, t, sel, con in sweep[:12]:
        lines.append(f"| {name} | {t:.2f} | {sel[0]}/{len(by_half['select'])} | {sel[1]:+.4f} | "
                     f"{sel[2]:+.4f} | {con[0]}/{len(by_half['confirm'])} | {con[1]:+.4f} | "
                     f"{con[2]:+.4f} |")
    lines.append("")
    lines += c1_section(rows)
    lines += margin_section(rows)
    lines += verified_section(rows)
    lines += ["### Where the F1 gap lies: the ranking or the number flagged", "",
              f"The default score's (`{lrank.DEFAULT_METHOD}`) ranking, flagged k deep, against "
              "cleanlab's best filter per case. The two oracle rows read the true labels (they "
              "show what a perfect count would give, not a method); the other rows take k from "
              "a filter's own number of flags. Count error: median over the cases of "
              "|log(flagged / true number of errors)| (0.10 is about 10% off), and the mean of "
              "log(flagged / errors) (> 0: flags too many); on the best-k row, of the depth "
              "where the ranking's F1 peaks (> 0: F1 peaks past the number of errors).", "",
              "| k | select: wins | mean gap | worst gap | confirm: wins | mean gap | worst gap "
              "| count error: median abs. log ratio | mean log ratio |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name in rows[0]["ranking"]:
        cells = []
        for half in ("select", "confirm"):
            gaps = np.array([r["ranking"][name] - max(r["filter"][m] for m in CLEANLAB_FILTERS)
                             for r in by_half[half]])
            cells.append(f"{int(np.sum(gaps >= -1e-12))}/{len(gaps)} | {gaps.mean():+.4f} | "
                         f"{gaps.min():+.4f}")
        if name in rows[0]["count_ratio"]:
            logs = np.log([r["count_ratio"][name] for r in rows])
            err = f"{np.median(np.abs(logs)):.3f} | {logs.mean():+.3f}"
        else:
            err = "n/a | n/a"
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {err} |")
    own = {h: {t[0]: t for t in tables[(h, "filter")]}[lfilter.DEFAULT_FILTER] for h in by_half}
    at_best = sum(r["ranking"]["best k (oracle)"] >= max(r["filter"][m] for m in CLEANLAB_FILTERS)
                  - 1e-12 for r in rows)
    lines += ["", f"The `{lfilter.DEFAULT_FILTER}` filter itself: select {own['select'][1]}/"
              f"{len(by_half['select'])} {own['select'][2]:+.4f}, confirm {own['confirm'][1]}/"
              f"{len(by_half['confirm'])} {own['confirm'][2]:+.4f}. At its best depth the "
              f"ranking is >= cleanlab's best filter on {at_best} of {len(rows)} cases: where the "
              "default filter loses, it is the number flagged that loses.", ""]
    lines += ["### Per case", "",
              "| case | half | N | K | model acc. (given) | row entropy | noise | flagged (default) | "
              f"AUPRC {lrank.DEFAULT_METHOD} | best cleanlab AUPRC | F1 {lfilter.DEFAULT_FILTER} | "
              "best cleanlab F1 |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bs = max(CLEANLAB_SCORES, key=lambda m, r=r: r["score"][m])
        bf = max(CLEANLAB_FILTERS, key=lambda m, r=r: r["filter"][m])
        lines.append(
            f"| {r['name']} | {r['half']} | {r['n']} | {r['k']} | {r['acc_given']:.3f} | "
            f"{r['statistic']:.3f} | {r['noise']:.3f} | {r['flagged']:.3f} | {r['score'][lrank.DEFAULT_METHOD]:.4f} | "
            f"{r['score'][bs]:.4f} ({bs}) | {r['filter'][lfilter.DEFAULT_FILTER]:.4f} | "
            f"{r['filter'][bf]:.4f} ({bf}) |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _io.write_text(args.out, "\n".join(lines) + "\n")
    if args.json:
        _io.write_text(args.json, json.dumps(rows))
    print("\n".join(lines[:40]))


if __name__ == "__main__":
    main()
