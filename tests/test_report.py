"""Tests for labelnoise.report: content of the self-contained HTML report."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from _html import ReportPage

from labelnoise import find_issues
from labelnoise.count import confused_pairs
from labelnoise.report import ReportData, render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _case(with_images=True, with_truth=True):
    rng = np.random.default_rng(0)
    n, k = 120, 3
    true = rng.integers(0, k, n)
    labels = true.copy()
    flip = rng.choice(n, 20, replace=False)
    labels[flip] = (labels[flip] + 1) % k
    logits = np.eye(k)[true] * 3 + rng.normal(size=(n, k))
    pp = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    return ReportData(
        issues=find_issues(labels, pp), class_names=["cat", "dog", "bird <&>"],
        true_labels=true if with_truth else None,
        metrics={"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "auprc": 0.75, "auroc": 0.8,
                 "true_noise_rate": 20 / 120} if with_truth else None,
        get_image=(lambda i: images[i]) if with_images else None,
        settings={"dataset": "synthetic", "model": "none"}, notes=["a note"],
    )


def test_report_parses_and_embeds_images():
    data = _case()
    page = render_report(data, max_images=30)
    p = ReportPage(page)
    assert p.tags[0] == "html"
    srcs = [img["src"] for img in p.imgs]
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == PNG_MAGIC
    # 30 thumbnails + PR curve + histogram + 2 heatmaps + class bars
    assert len(srcs) == 30 + 5
    assert "http://" not in page and "https://" not in page  # self-contained
    assert p.ids["n-examples"] == "120"
    assert p.ids["n-classes"] == "3"
    assert p.ids["n-issues"] == str(data.issues.num_issues)
    assert float(p.ids["noise-rate"]) == pytest.approx(data.issues.noise.noise_rate, abs=1e-4)
    assert float(p.ids["metric-recall"]) == pytest.approx(0.25)
    assert "bird &lt;&amp;&gt;" in page  # names are escaped
    assert "a note" in page


def test_report_without_images_lists_suspects_in_a_table():
    data = _case(with_images=False, with_truth=False)
    page = render_report(data, max_images=10)
    p = ReportPage(page)
    assert len(p.imgs) == 2  # estimated noise matrix + per-class bars; no truth plots
    assert "metric-auprc" not in p.ids and "true noise matrix" not in page
    assert page.count("<tr><td>") == 10  # ten suspect rows
    first = int(data.issues.ranking[0])
    assert f"<td>1</td><td>{first}</td>" in page


def test_the_table_of_suspects_shows_what_was_labelled():
    """A table's shown columns (its text and first feature columns) stand beside each
    suspect: text escaped and cut at SHOWN_TEXT_CHARS characters, numbers right-aligned."""
    from dataclasses import replace

    from labelnoise.report.html import SHOWN_TEXT_CHARS

    data = _case(with_images=False, with_truth=False)
    n = len(data.issues.labels)
    text = np.array([f"review <{i}> " + "x" * (i % 2) * 300 for i in range(n)], dtype=object)
    page = render_report(replace(data, columns={"review": text, "stars": np.arange(n) % 5}),
                         max_images=10)
    assert '<th class="t">review</th><th>stars</th></tr>' in page
    for i in data.issues.ranking[:10]:
        cell = f"review &lt;{i}&gt; " + ("x" * (SHOWN_TEXT_CHARS - len(f"review <{i}> ") - 1)
                                        + "\u2026" if i % 2 else "")
        assert f'<td class="t">{cell}</td><td>{i % 5}</td></tr>' in page


def test_true_noise_matrix_known_answer():
    from labelnoise.noise import empirical_noise_matrix

    labels = np.array([0, 0, 1, 1, 1, 0])
    true = np.array([0, 0, 0, 1, 1, 1])
    m = empirical_noise_matrix(labels, true, num_classes=3)
    np.testing.assert_allclose(m[:, 0], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(m[:, 1], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(m[:, 2], [0, 0, 1])  # no example of true class 2


def test_confused_pairs_order():
    cj = np.array([[50, 3, 7], [9, 40, 0], [3, 0, 30]])
    assert confused_pairs(cj, top=3) == [(1, 0, 9), (0, 2, 7), (0, 1, 3)]
    assert len(confused_pairs(cj, top=10)) == 4  # zero cells are skipped


def test_data_issue_sections():
    """One section per check; thumbnails of outliers and duplicate sets where images exist;
    a check that did not run says so, with the reason."""
    from labelnoise.data_issues import find_data_issues

    data = _case()
    issues = data.issues
    images = np.random.default_rng(1).integers(0, 256, size=(120, 8, 8, 3), dtype=np.uint8)
    images[7] = images[3]
    data.get_image = lambda i: images[i]
    data.data_issues = find_data_issues(
        issues.labels, np.eye(3)[issues.labels] * 0.7 + 0.1, inputs=images,
        class_names=data.class_names, is_label_issue=issues.is_label_issue,
        no_features_reason="no features: only pred_probs were given", inputs_source="images")
    page = render_report(data, max_images=5)
    p = ReportPage(page)
    for check in ("features", "outliers", "near-duplicates", "knn-label-issues",
                  "combined-label-issues"):
        assert p.ids[f"{check}-not-run"] == "Not run: no features: only pred_probs were given"
    assert p.ids["n-outliers"] == "not run" and p.ids["n-exact-duplicates"] == "2"
    exact = page[page.index('id="exact-duplicates"'):page.index('id="overlapping-classes"')]
    assert exact.count("data:image/png;base64,") == 2  # the pair, side by side
    assert "bird &lt;&amp;&gt;" in page[page.index('id="class-health"'):]
    assert len(p.imgs) == 5 + 5 + 2  # suspects, plots, the duplicate pair


def test_data_issue_sections_of_a_table_show_its_columns():
    """Without images, the outlier tables and each duplicate set list the rows' shown
    columns, so a duplicate pair is seen to be one (and whose labels differ)."""
    from dataclasses import replace

    from labelnoise.data_issues import find_data_issues

    data = _case(with_images=False, with_truth=False)
    issues = data.issues
    rng = np.random.default_rng(2)
    features = rng.normal(size=(120, 4))
    features[7] = features[3]  # an exact duplicate pair
    features[11] += 40.0  # an outlier
    note = np.array([f"row {i}" for i in range(120)], dtype=object)
    note[7] = note[3] = "the same row"
    di = find_data_issues(issues.labels, np.eye(3)[issues.labels] * 0.7 + 0.1,
                          features=features, inputs=features, class_names=data.class_names,
                          is_label_issue=issues.is_label_issue, inputs_source="rows")
    page = render_report(replace(data, data_issues=di, columns={"note": note, "x": np.arange(120)}),
                         max_images=5)
    outliers = page[page.index('id="outlier-table"'):page.index('id="near-duplicates"')]
    assert '<th class="t">note</th><th>x</th></tr>' in outliers
    assert '<td class="t">row 11</td><td>11</td></tr>' in outliers
    exact = page[page.index('id="exact-duplicates-sets"'):page.index('id="overlapping-classes"')]
    for i in (3, 7):
        assert f'<td class="t">the same row</td><td>{i}</td></tr>' in exact
