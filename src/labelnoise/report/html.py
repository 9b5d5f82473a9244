"""The self-contained HTML audit report (plots and images embedded as base64 PNG)."""

from __future__ import annotations

import html
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelnoise.issues import LabelIssues
from labelnoise.noise import empirical_noise_matrix
from labelnoise.report import images as _images
from labelnoise.report import plots as _plots


@dataclass
class ReportData:
    """Everything the report shows. Arrays are indexed by example (row of ``pred_probs``).

    Attributes:
        issues: the :class:`labelnoise.issues.LabelIssues` of :func:`labelnoise.find_issues`
            (flags, scores, ranking, suggested labels, noise estimate): the report shows
            exactly what the API returned and what issues.csv holds.
        class_names: the K class names.
        true_labels: int64 (N,) clean labels, or ``None``.
        metrics: detection metrics against ``true_labels`` (precision, recall, f1, auprc,
            true_noise_rate, ...) or ``None``.
        get_image: ``index -> image`` for the grid of suspects, or ``None`` (no images).
        example_ids: optional (N,) ids shown instead of the row index (a file path, a
            table's id column, the CIFAR-10 train index of a benchmark row).
        id_name: what the ids are (the id column's name, ``"file"``), the header of their
            column in the table of suspects.
        title: the page title.
        settings: ``name -> value`` rows describing how the audit ran (model, folds, time).
        notes: sentences shown under the summary (e.g. what the quick preset left out).
        data_issues: the :class:`labelnoise.data_issues.DataIssues` of the audit's
            data-issue checks, shown in one section per check (a check that did not run
            says why), or ``None`` (no data-issue sections).
        columns: ``column name -> (N,) values`` shown beside each suspect in the table of
            suspects (a table's text and most label-informative feature columns,
            :func:`labelnoise.audit.informative_columns`, so that a reviewer reads
            what was labelled; floats to 6 significant digits, text cut at
            ``SHOWN_TEXT_CHARS`` characters), or ``None``.
    """

    issues: LabelIssues
    class_names: Sequence[str]
    true_labels: np.ndarray | None = None
    metrics: dict | None = None
    get_image: Callable[[int], Any] | None = None
    example_ids: np.ndarray | None = None
    id_name: str = "id"
    title: str = "labelnoise audit"
    settings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    data_issues: Any = None
    columns: dict | None = None


#: the longest cell text of a shown column in the table of suspects (longer text is cut)
SHOWN_TEXT_CHARS = 160


def _shown(value) -> str:
    """A table value for a cell: a float to 6 significant digits, else its text, cut at
    ``SHOWN_TEXT_CHARS`` characters."""
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= SHOWN_TEXT_CHARS else text[:SHOWN_TEXT_CHARS - 1] + "\u2026"


def _columns_html(columns: dict | None, rows) -> tuple[str, Callable[[int], str]]:
    """The header cells of ``ReportData.columns`` and a function ``i -> row cells`` for a
    table of the examples ``rows`` (numbers right-aligned, text left-aligned; no columns:
    empty strings)."""
    shown = dict(columns or {})
    align = {c: "" if all(isinstance(v, numbers.Number) and not isinstance(v, bool)
                          for v in np.asarray(values, dtype=object)[np.asarray(rows, dtype=int)])
             else ' class="t"' for c, values in shown.items()}
    header = "".join(f"<th{align[c]}>{_e(c)}</th>" for c in shown)

    def cells(i: int) -> str:
        return "".join(f"<td{align[c]}>{_e(_shown(values[i]))}</td>" for c, values in shown.items())

    return header, cells


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:30px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 3px rgba(0,0,0,.1);min-width:140px}
.card .v{font-size:24px;font-weight:600}.card .l{font-size:12px;color:#666}
table{border-collapse:collapse;background:#fff;font-size:13px}
td,th{border:1px solid #e2e2e2;padding:4px 8px;text-align:right}th{background:#f0f1f4}
td.t,th.t{text-align:left}
.row{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}
.fig{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 3px rgba(0,0,0,.1)}
.fig img{display:block;max-width:100%}
.row>.fig{flex:1 1 0;min-width:280px}.row>.fig img{width:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:10px}
.cell{background:#fff;border-radius:6px;padding:6px;box-shadow:0 1px 2px rgba(0,0,0,.12);font-size:11.5px;text-align:center}
.cell img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:0 auto 4px}
.noimg{width:96px;height:96px;margin:0 auto 4px;display:flex;align-items:center;justify-content:center;text-align:center;font-size:11px;color:#a33;background:#f6eaea}
.given{color:#c9302c}.sugg{color:#2d8a34}.true{color:#1f5fbf}
.note{background:#fff8e1;border-left:4px solid #f0ad4e;padding:6px 10px;font-size:13px;margin:6px 0}
.dupset{display:flex;gap:8px;flex-wrap:wrap;align-items:flex-start;background:#eef0f4;border-radius:8px;padding:8px;margin:8px 0}
.dupset .cell{width:112px}.dupset .hd{font-size:12px;width:100%;text-align:left}
.differ{color:#c9302c;font-weight:600}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _card(value: str, label: str, ident: str) -> str:
    return f'<div class="card"><div class="v" id="{ident}">{_e(value)}</div><div class="l">{_e(label)}</div></div>'


def _img(b64: str | None, alt: str) -> str:
    if b64 is None:
        return f'<div class="noimg" title="{_e(alt)}">image cannot be read</div>'
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _thumbnail(get_image, i: int) -> str | None:
    """Example ``i``'s thumbnail (base64 PNG), or None when its file cannot be decoded (the
    report still shows the example; the audit with ``skip_unreadable`` leaves such files
    out beforehand)."""
    from labelnoise._io import InputFileError

    try:
        return _images.thumbnail_base64(get_image(int(i)))
    except InputFileError:
        return None


def render_report(data: ReportData, *, max_images: int = 60) -> str:
    """The report as one HTML string (no external resources)."""
    issues = data.issues
    labels = issues.labels
    n = labels.shape[0]
    names = [str(c) for c in data.class_names]  # any class names (3, 7, 9) shown as text
    k = len(names)
    is_issue = issues.is_label_issue
    scores = issues.label_quality_scores
    suggested = issues.suggested_labels
    noise = issues.noise
    ids = np.arange(n) if data.example_ids is None else np.asarray(data.example_ids)
    id_name = "index" if data.example_ids is None else (data.id_name or "id")
    parts: list[str] = []
    add = parts.append

    add(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(data.title)}</title>')
    add(f"<style>{_CSS}</style></head><body><main>")
    add(f"<h1>{_e(data.title)}</h1>")
    src = data.settings.get("dataset")
    if src:
        add(f'<div class="sub">{_e(src)}</div>')

    # ---------------------------------------------------------------- summary
    add('<h2>Summary</h2><div class="cards">')
    add(_card(f"{n}", "examples", "n-examples"))
    add(_card(f"{k}", "classes", "n-classes"))
    add(_card(f"{noise.noise_rate:.4f}", "estimated noise rate", "noise-rate"))
    add(_card(f"{int(is_issue.sum())}", "label issues found", "n-issues"))
    add(_card(f"{is_issue.mean():.4f}", "fraction flagged", "frac-issues"))
    if data.metrics:
        add(_card(f"{data.metrics['auprc']:.4f}", "AUPRC vs true labels", "auprc"))
    add("</div>")
    for note in data.notes:
        add(f'<div class="note">{_e(note)}</div>')
    if data.settings:
        add('<table><tbody>')
        for key, val in data.settings.items():
            add(f'<tr><th class="t">{_e(key)}</th><td class="t">{_e(val)}</td></tr>')
        add("</tbody></table>")

    # ----------------------------------------------------- detection vs truth
    if data.metrics and data.true_labels is not None:
        m = data.metrics
        true_labels = np.asarray(data.true_labels)
        is_error = labels != true_labels
        add("<h2>Detection against the true labels</h2>")
        add('<table id="metrics"><thead><tr>')
        cols = [("true_noise_rate", "true noise rate"), ("precision", "precision"),
                ("recall", "recall"), ("f1", "F1"), ("auprc", "AUPRC"), ("auroc", "AUROC")]
        add("".join(f"<th>{_e(lbl)}</th>" for key, lbl in cols if key in m))
        add("</tr></thead><tbody><tr>")
        add("".join(f'<td id="metric-{key}">{m[key]:.4f}</td>' for key, _ in cols if key in m))
        add("</tr></tbody></table>")
        add('<p class="sub">Precision, recall and F1 of the flagged examples; AUPRC and AUROC of '
            'the ranking by label quality score (a true error is given label != true label).</p>')
        add('<div class="row">')
        add('<div class="fig">' + _img(_plots.precision_recall_curve_plot(
            is_error, 1.0 - scores, operating_point=(m["recall"], m["precision"])),
            "precision-recall curve") + "</div>")
        add('<div class="fig">' + _img(_plots.score_histogram(scores, is_issue),
                                       "histogram of label quality scores") + "</div>")
        add("</div>")

    # ---------------------------------------------------------- noise matrix
    add("<h2>Noise matrix</h2>")
    add('<p class="sub">Entry (i, j) is P(given label = i | true label = j); each column sums to 1.</p>')
    add('<div class="row">')
    add('<div class="fig">' + _img(_plots.matrix_heatmap(
        noise.noise_matrix, names, title="estimated noise matrix"), "estimated noise matrix") + "</div>")
    if data.true_labels is not None:
        tnm = empirical_noise_matrix(labels, data.true_labels, num_classes=k)
        add('<div class="fig">' + _img(_plots.matrix_heatmap(
            tnm, names, title="true noise matrix (from the true labels)"), "true noise matrix") + "</div>")
    add("</div>")

    # ------------------------------------------------------- per-class rates
    counts = np.bincount(labels, minlength=k)
    flagged = np.bincount(labels[is_issue], minlength=k)
    rates = np.divide(flagged, counts, out=np.zeros(k), where=counts > 0)
    true_rates = None
    if data.true_labels is not None:
        wrong = np.bincount(labels[labels != np.asarray(data.true_labels)], minlength=k)
        true_rates = np.divide(wrong, counts, out=np.zeros(k), where=counts > 0)
    add("<h2>Issues per class</h2>")
    add('<div class="fig">' + _img(_plots.class_issue_rates(rates, names, true_rates=true_rates),
                                   "issues per class") + "</div>")
    add('<table id="class-table"><thead><tr><th class="t">given class</th><th>examples</th>'
        '<th>flagged</th><th>flagged fraction</th><th>estimated prior P(true)</th>')
    if true_rates is not None:
        add("<th>truly mislabeled fraction</th>")
    add("</tr></thead><tbody>")
    prior = np.asarray(noise.prior)
    for c in range(k):
        add(f'<tr><td class="t">{_e(names[c])}</td><td>{counts[c]}</td><td>{flagged[c]}</td>'
            f"<td>{rates[c]:.4f}</td><td>{prior[c]:.4f}</td>")
        if true_rates is not None:
            add(f"<td>{true_rates[c]:.4f}</td>")
        add("</tr>")
    add("</tbody></table>")

    # --------------------------------------------------------- confused pairs
    add("<h2>Most confused class pairs</h2>")
    add('<p class="sub">Off-diagonal cells of the confident joint: examples given label i whose '
        "true label is estimated to be j.</p>")
    add('<table id="pairs"><thead><tr><th class="t">given label</th><th class="t">likely true label</th>'
        "<th>examples</th><th>share of given class</th></tr></thead><tbody>")
    for i, j, c in issues.confused_pairs():
        share = c / counts[i] if counts[i] else 0.0
        add(f'<tr><td class="t">{_e(names[i])}</td><td class="t">{_e(names[j])}</td>'
            f"<td>{c}</td><td>{share:.4f}</td></tr>")
    add("</tbody></table>")

    # ------------------------------------------------------------- suspects
    top = issues.ranking[: max_images]
    add(f"<h2>Top {len(top)} suspected label errors</h2>")
    add('<p class="sub">Ranked by label quality score (lowest first). '
        '<span class="given">given</span> / <span class="sugg">suggested</span>'
        + (' / <span class="true">true</span>' if data.true_labels is not None else "") + "</p>")
    if data.get_image is not None:
        add('<div class="grid" id="suspects">')
        for r, i in enumerate(top):
            b64 = _thumbnail(data.get_image, i)
            lines = [f"#{r + 1} &middot; {_e(id_name)} {_e(ids[i])}",
                     f'<span class="given">{_e(names[labels[i]])}</span> &rarr; '
                     f'<span class="sugg">{_e(names[suggested[i]])}</span>',
                     f"score {scores[i]:.3f}"]
            if data.true_labels is not None:
                lines.append(f'<span class="true">true: {_e(names[data.true_labels[i]])}</span>')
            add(f'<div class="cell">{_img(b64, f"example {ids[i]}")}{"<br>".join(lines)}</div>')
        add("</div>")
    else:
        id_cls = "" if data.example_ids is None or np.issubdtype(ids.dtype, np.number) else ' class="t"'
        header, cells = _columns_html(data.columns, top)
        add(f'<table id="suspects"><thead><tr><th>rank</th><th{id_cls}>{_e(id_name)}</th>'
            '<th class="t">given</th><th class="t">suggested</th><th>score</th><th>flagged</th>'
            + ('<th class="t">true</th>' if data.true_labels is not None else "")
            + header + "</tr></thead><tbody>")
        for r, i in enumerate(top):
            add(f"<tr><td>{r + 1}</td><td{id_cls}>{_e(ids[i])}</td>"
                f"<td class=\"t\">{_e(names[labels[i]])}</td>"
                f'<td class="t">{_e(names[suggested[i]])}</td><td>{scores[i]:.4f}</td>'
                f"<td>{'yes' if is_issue[i] else 'no'}</td>")
            if data.true_labels is not None:
                add(f'<td class="t">{_e(names[data.true_labels[i]])}</td>')
            add(cells(i) + "</tr>")
        add("</tbody></table>")
    if data.data_issues is not None:
        _data_issue_sections(add, data, names=names, ids=ids, id_name=id_name)
    add('<p class="sub">Made by labelnoise. Every example is listed in issues.csv.</p>')
    add("</main></body></html>")
    return "".join(parts)


#: thumbnails per data-issue section: outliers shown, duplicate sets shown, members per set
MAX_OUTLIERS_SHOWN = 24
MAX_SETS_SHOWN = 10
MAX_SET_MEMBERS_SHOWN = 6
MAX_ROWS_SHOWN = 10


def _n(count: int, word: str) -> str:
    """``count`` and ``word``, plural unless the count is 1 ("1 set", "3 sets")."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _not_run(add, check: str, reason: str) -> None:
    text = reason if reason.lower().startswith("not run") else f"not run: {reason}"
    add(f'<div class="note" id="{check}-not-run">{_e(text[0].upper() + text[1:])}</div>')


def _data_issue_sections(add, data: ReportData, *, names, ids, id_name: str) -> None:
    """One section per data-issue check (:data:`labelnoise.data_issues.DATA_ISSUE_CHECKS`),
    with thumbnails where images exist; a check that did not run says why."""
    from labelnoise.data_issues import DATA_ISSUE_CHECKS, PIXEL_CANDIDATE_FRACTION

    di = data.data_issues
    labels = data.issues.labels
    headline = data.issues.is_label_issue
    get_image = data.get_image
    textual_ids = data.example_ids is not None and not np.issubdtype(np.asarray(ids).dtype, np.number)
    id_cls = ' class="t"' if textual_ids else ""

    def cell(i: int, *lines: str) -> str:
        body = "<br>".join([f"{_e(id_name)} {_e(ids[i])}",
                            f'<span class="given">{_e(names[labels[i]])}</span>', *lines])
        return f'<div class="cell">{_img(_thumbnail(get_image, i), f"example {ids[i]}")}{body}</div>'

    add('<h2 id="data-issues">Data issues</h2>')
    label_view = ""
    if di.label_features_source is not None:
        n, d = di.label_features_shape
        label_view = (f"The neighbour-label checks search their own {di.k} nearest neighbours "
                      f"by {_e(di.metric)} distance in {_e(di.label_features_source)} "
                      f"({n} x {d}).")
    if di.features_source is not None:
        n, d = di.features_shape
        checks = ("outlier and near-duplicate checks. " + label_view if label_view
                  else "outlier, near-duplicate and neighbour-label checks.")
        add(f'<p class="sub" id="features-source">Features: {_e(di.features_source)} ({n} x {d}); '
            f"{di.k} nearest neighbours by {_e(di.metric)} distance, the same neighbours for "
            f"the {checks}</p>")
    else:
        _not_run(add, "features", di.not_run.get("outliers", "no features"))
        if label_view:
            add(f'<p class="sub" id="label-features-source">{label_view}</p>')
    add('<div class="cards">')
    cards = (("outliers", "outliers", None if di.is_outlier is None else int(di.is_outlier.sum())),
             ("near_duplicates", "near-duplicate examples",
              None if di.near_duplicates is None else int(di.near_duplicates.is_duplicate.sum())),
             ("exact_duplicates", "exact-duplicate examples",
              None if di.exact_duplicates is None else int(di.exact_duplicates.is_duplicate.sum())),
             ("knn_label_issues", "label issues by neighbours",
              None if di.knn is None else int(di.knn.is_label_issue.sum())),
             ("combined_label_issues", "label issues by neighbours + pred_probs",
              None if di.combined is None else int(di.combined.is_label_issue.sum())))
    for check, label, value in cards:
        add(_card("not run" if value is None else str(value), label, f"n-{check.replace('_', '-')}"))
    add("</div>")

    # ------------------------------------------------------------- outliers
    add(f'<h2 id="outliers">{DATA_ISSUE_CHECKS["outliers"]}</h2>')
    if di.outlier_scores is None:
        _not_run(add, "outliers", di.not_run["outliers"])
    else:
        scores = di.outlier_scores
        top = np.argsort(-scores, kind="stable")[
            :MAX_OUTLIERS_SHOWN if get_image is not None else MAX_ROWS_SHOWN]
        add(f'<p class="sub">Outlier score: the mean distance to the {di.k} nearest neighbours. '
            f"Flagged above {di.outlier_threshold:.4g} (a robust z-score of 3.5 on its logarithm): "
            f"{_n(int(di.is_outlier.sum()), 'example')}. The {top.size} highest scores:</p>")
        if get_image is not None:
            add('<div class="grid" id="outlier-grid">')
            for i in top:
                flag = '<span class="differ">outlier</span>' if di.is_outlier[i] else "not flagged"
                add(cell(i, f"score {scores[i]:.3f}", flag))
            add("</div>")
        else:
            header, cells = _columns_html(data.columns, top)
            add(f'<table id="outlier-table"><thead><tr><th{id_cls}>{_e(id_name)}</th>'
                '<th class="t">given</th><th>outlier score</th><th>outlier</th>'
                f"{header}</tr></thead><tbody>")
            for i in top:
                add(f"<tr><td{id_cls}>{_e(ids[i])}</td><td class=\"t\">{_e(names[labels[i]])}</td>"
                    f"<td>{scores[i]:.4f}</td><td>{'yes' if di.is_outlier[i] else 'no'}</td>"
                    f"{cells(i)}</tr>")
            add("</tbody></table>")
        if di.gaussian_outlier_scores is not None:
            far = np.argsort(-di.gaussian_outlier_scores, kind="stable")[:top.size]
            add('<p class="sub" id="gaussian-outliers">Farthest from the features\' Gaussian '
                "(the Mahalanobis distance to a Ledoit-Wolf Gaussian fitted to the features, "
                "one per fold when they come from the cross-validation networks): a "
                "neighbour distance cannot see a <em>group</em> of similar outliers (a "
                "batch of blank or corrupted images, another dataset mixed in: each one's "
                "neighbours are its own group), this distance can. Ranked for review, not "
                f"flagged (no threshold rule yet). The {far.size} farthest "
                "(<code>outlier_score_gaussian</code> in issues.csv):</p>")
            if get_image is not None:
                add('<div class="grid" id="gaussian-outlier-grid">')
                for i in far:
                    add(cell(i, f"distance {di.gaussian_outlier_scores[i]:.1f}",
                             *(["also a neighbour outlier"] if di.is_outlier[i] else [])))
                add("</div>")
            else:
                header, cells = _columns_html(data.columns, far)
                add(f'<table id="gaussian-outlier-table"><thead><tr><th{id_cls}>{_e(id_name)}'
                    '</th><th class="t">given</th><th>distance</th><th>neighbour outlier</th>'
                    f"{header}</tr></thead><tbody>")
                for i in far:
                    add(f"<tr><td{id_cls}>{_e(ids[i])}</td><td class=\"t\">"
                        f"{_e(names[labels[i]])}</td><td>{di.gaussian_outlier_scores[i]:.2f}</td>"
                        f"<td>{'yes' if di.is_outlier[i] else 'no'}</td>{cells(i)}</tr>")
                add("</tbody></table>")

    # ----------------------------------------------------------- duplicates
    for check, dup in (("near_duplicates", di.near_duplicates),
                       ("exact_duplicates", di.exact_duplicates)):
        slug = check.replace("_", "-")
        add(f'<h2 id="{slug}">{DATA_ISSUE_CHECKS[check]}</h2>')
        if dup is None:
            _not_run(add, slug, di.not_run[check])
            continue
        if check == "near_duplicates":
            add('<p class="sub">'
                + (f"Pairs closer than {dup.threshold:.4g} ({_e(di.metric)} distance; 0.1 x the "
                   "median distance to the nearest neighbour)" if dup.pixel_threshold is None else
                   f"Neighbour pairs within {PIXEL_CANDIDATE_FRACTION} x the median distance to the "
                   f"nearest neighbour ({_e(di.metric)} distance) whose images differ by less than "
                   f"{dup.pixel_threshold:.3g} once shifts of a few pixels and mirroring are undone "
                   "(aligned pixel distance): the pixels decide, not the features")
                + f", joined into sets: {_n(len(dup.sets), 'set')}, "
                f"{_n(int(dup.is_duplicate.sum()), 'example')}.")
        else:
            add(f'<p class="sub">Examples with identical {_e(di.inputs_source or "inputs")}: '
                f"{_n(len(dup.sets), 'set')}, {_n(int(dup.is_duplicate.sum()), 'example')}.")
        add(" A set whose given labels differ is marked: at most one label can be right. "
            "issues.csv numbers every set (-1: none).</p>")
        shown = dup.sets[:MAX_SETS_SHOWN]
        if not shown:
            continue
        add(f'<div id="{slug}-sets">')
        for s_idx, members in enumerate(shown):
            differ = np.unique(labels[members]).size > 1
            head = (f"set {s_idx}: {members.size} examples"
                    + ('; <span class="differ">labels differ</span>' if differ else ""))
            more = members.size - MAX_SET_MEMBERS_SHOWN
            if get_image is not None:
                add(f'<div class="dupset"><div class="hd">{head}</div>')
                for i in members[:MAX_SET_MEMBERS_SHOWN]:
                    add(cell(i, "flagged as label issue" if headline[i] else ""))
                if more > 0:
                    add(f'<div class="hd">and {more} more</div>')
                add("</div>")
            elif data.columns:  # a table: the members' rows side by side
                listed = members[:MAX_SET_MEMBERS_SHOWN]
                header, cells = _columns_html(data.columns, listed)
                add(f'<div class="dupset"><div class="hd">{head}'
                    + (f" (and {more} more)" if more > 0 else "") + "</div>"
                    f"<table><thead><tr><th{id_cls}>{_e(id_name)}</th><th class=\"t\">given"
                    f"</th>{header}</tr></thead><tbody>"
                    + "".join(f"<tr><td{id_cls}>{_e(ids[i])}</td><td class=\"t\">"
                              f"{_e(names[labels[i]])}</td>{cells(i)}</tr>" for i in listed)
                    + "</tbody></table></div>")
            else:
                listed = ", ".join(f"{_e(ids[i])} ({_e(names[labels[i]])})"
                                   for i in members[:MAX_SET_MEMBERS_SHOWN])
                add(f'<div class="dupset"><div class="hd">{head}: {listed}'
                    + (f" and {more} more" if more > 0 else "") + "</div></div>")
        add("</div>")
        if len(dup.sets) > len(shown):
            add(f'<p class="sub">{_n(len(dup.sets) - len(shown), "more set")} in issues.csv '
                "and data_issues.json.</p>")

    # ------------------------------------------------------------- classes
    add(f'<h2 id="overlapping-classes">{DATA_ISSUE_CHECKS["overlapping_classes"]}</h2>')
    if di.overlapping_classes is None:
        _not_run(add, "overlapping-classes", di.not_run["overlapping_classes"])
    else:
        pairs = di.overlapping_classes.head(MAX_ROWS_SHOWN)
        add('<p class="sub">Class pairs ranked by the estimated joint probability that an '
            "example is given one class and truly belongs to the other (both directions, from "
            "the calibrated confident joint). When both fractions are large, the classes "
            "overlap: merge them or write clearer guidelines.</p>")
        add('<table id="overlap-table"><thead><tr><th class="t">class a</th><th class="t">class b</th>'
            "<th>examples</th><th>joint probability</th><th>of a, estimated b</th>"
            "<th>of b, estimated a</th></tr></thead><tbody>")
        for row in pairs.itertuples(index=False):
            add(f'<tr><td class="t">{_e(row.name_a)}</td><td class="t">{_e(row.name_b)}</td>'
                f"<td>{row.num_overlapping_examples}</td><td>{row.joint_probability:.4f}</td>"
                f"<td>{row.frac_a_as_b:.4f}</td><td>{row.frac_b_as_a:.4f}</td></tr>")
        add("</tbody></table>")
        if pairs.empty:
            add('<p class="sub">No class pair is confused.</p>')

    add(f'<h2 id="class-health">{DATA_ISSUE_CHECKS["class_health"]}</h2>')
    if di.class_health is None:
        _not_run(add, "class-health", di.not_run["class_health"])
    else:
        health = di.class_health
        extra = [(c, c[4:].replace("_", " ")) for c in health.columns
                 if c.startswith("num_") and c not in ("num_examples", "num_label_issues")]
        add(f'<p class="sub">Per given class. Imbalance ratio (smallest / largest class): '
            f'{health.attrs.get("imbalance_ratio", float("nan")):.3f}; a minority class holds '
            "under a tenth of its share under balance.</p>")
        add('<table id="health-table"><thead><tr><th class="t">class</th><th>examples</th>'
            "<th>fraction</th><th>estimated noise rate</th><th>label issues</th>"
            + "".join(f"<th>{_e(lbl)}</th>" for _, lbl in extra) + "<th>minority</th></tr></thead><tbody>")
        for row in health.to_dict(orient="records"):
            add(f'<tr><td class="t">{_e(row["name"])}</td><td>{row["num_examples"]}</td>'
                f'<td>{row["fraction"]:.4f}</td><td>{row["estimated_noise_rate"]:.4f}</td>'
                f'<td>{row["num_label_issues"]}</td>'
                + "".join(f"<td>{row[c]}</td>" for c, _ in extra)
                + f'<td>{"yes" if row["is_minority"] else "no"}</td></tr>')
        add("</tbody></table>")

    # ------------------------------------------------------ neighbour labels
    for check, res in (("knn_label_issues", di.knn), ("combined_label_issues", di.combined)):
        slug = check.replace("_", "-")
        add(f'<h2 id="{slug}">{DATA_ISSUE_CHECKS[check]}</h2>')
        if res is None:
            _not_run(add, slug, di.not_run[check])
            continue
        flags = res.is_label_issue
        both = int(np.sum(flags & headline))
        if check == "knn_label_issues":
            add(f'<p class="sub">Each example\'s label against the labels of its {di.k} nearest '
                "neighbours (their smoothed vote; the example itself never votes): flagged when "
                "its given label is not the most voted.")
        else:
            add(f'<p class="sub">The neighbours\' vote mixed with pred_probs, weight '
                f"{res.knn_weight:.2f} on the vote (the weight that makes the given labels most "
                "likely), scored and flagged as the label issues above.")
        same = (check == "combined_label_issues"
                and np.array_equal(res.label_quality_scores, data.issues.label_quality_scores)
                and np.array_equal(flags, headline))
        if same:  # the audit ranked by this very combination (its neighbour vote)
            add(" This is the ranking of the label issues above: the audit ranks by this "
                "combination. The lowest scores:</p>")
        else:
            add(f" {int(flags.sum())} flagged, {both} of them also among the "
                f"{_n(int(headline.sum()), 'label issue')} above (the label issues of this "
                "audit are those above; this is a second opinion from the features). The lowest "
                "scores:</p>")
        vote = np.argmax(res.knn_pred_probs, axis=1)
        worst = np.argsort(res.label_quality_scores, kind="stable")[:MAX_ROWS_SHOWN]
        add(f'<table id="{slug}-table"><thead><tr><th{id_cls}>{_e(id_name)}</th>'
            '<th class="t">given</th><th class="t">neighbours\' vote</th><th>score</th>'
            "<th>flagged here</th><th>label issue above</th></tr></thead><tbody>")
        for i in worst:
            add(f'<tr><td{id_cls}>{_e(ids[i])}</td><td class="t">{_e(names[labels[i]])}</td>'
                f'<td class="t">{_e(names[vote[i]])}</td>'
                f"<td>{res.label_quality_scores[i]:.4f}</td><td>{'yes' if flags[i] else 'no'}</td>"
                f"<td>{'yes' if headline[i] else 'no'}</td></tr>")
        add("</tbody></table>")



def write_report(path: str | os.PathLike, data: ReportData, *, max_images: int = 60) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8, atomically) and return the path."""
    from labelnoise._io import write_text

    p = Path(path)
    write_text(p, render_report(data, max_images=max_images))
    return p
