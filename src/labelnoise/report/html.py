"""The self-contained HTML audit report (plots and images embedded as base64 PNG)."""

from __future__ import annotations

import html
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
.given{color:#c9302c}.sugg{color:#2d8a34}.true{color:#1f5fbf}
.note{background:#fff8e1;border-left:4px solid #f0ad4e;padding:6px 10px;font-size:13px;margin:6px 0}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _card(value: str, label: str, ident: str) -> str:
    return f'<div class="card"><div class="v" id="{ident}">{_e(value)}</div><div class="l">{_e(label)}</div></div>'


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


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
            b64 = _images.thumbnail_base64(data.get_image(int(i)))
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
        add(f'<table id="suspects"><thead><tr><th>rank</th><th{id_cls}>{_e(id_name)}</th>'
            '<th class="t">given</th><th class="t">suggested</th><th>score</th><th>flagged</th>'
            + ('<th class="t">true</th>' if data.true_labels is not None else "") + "</tr></thead><tbody>")
        for r, i in enumerate(top):
            add(f"<tr><td>{r + 1}</td><td{id_cls}>{_e(ids[i])}</td>"
                f"<td class=\"t\">{_e(names[labels[i]])}</td>"
                f'<td class="t">{_e(names[suggested[i]])}</td><td>{scores[i]:.4f}</td>'
                f"<td>{'yes' if is_issue[i] else 'no'}</td>")
            if data.true_labels is not None:
                add(f'<td class="t">{_e(names[data.true_labels[i]])}</td>')
            add("</tr>")
        add("</tbody></table>")
    add('<p class="sub">Made by labelnoise. Every example is listed in issues.csv.</p>')
    add("</main></body></html>")
    return "".join(parts)


def write_report(path: str | os.PathLike, data: ReportData, *, max_images: int = 60) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8, atomically) and return the path."""
    from labelnoise._io import write_text

    p = Path(path)
    write_text(p, render_report(data, max_images=max_images))
    return p
