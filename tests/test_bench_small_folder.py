"""benchmarks/small_folder.py: the neighbours' vote read back from an audit folder, and its
table (the current features' row, and the row of the features searched before a re-run)."""

import json

import numpy as np
import pandas as pd
import pytest
from _bench import load_benchmark
from sklearn.metrics import average_precision_score


def _row(**extra):
    return {**dict(n=1000, config="default", training="airbench; 3 folds", wall_seconds=305.0,
                   noise_rate=0.15, auprc=0.618, flagged_fraction=0.5, precision=0.27,
                   recall=0.9, agreement=0.4, cleanlab_auprc=None), **extra}


def test_neighbour_vote_reads_the_audit_folder(tmp_path):
    bench = load_benchmark("small_folder")
    rng = np.random.default_rng(0)
    n = 40
    paths = [f"c{i % 2}/{i:02d}.png" for i in range(n)]
    true = np.array(["a", "b"])[np.arange(n) % 2]
    given = true.copy()
    given[:6] = np.where(true[:6] == "a", "b", "a")
    pd.DataFrame({"path": paths, "true": true, "given": given}).to_csv(tmp_path / "truth.csv")
    knn, comb = rng.random(n), rng.random(n)
    order = rng.permutation(n)  # issues.csv is ranked, not in folder order
    pd.DataFrame({"example_id": np.array(paths)[order], "knn_label_quality": knn[order],
                  "combined_label_quality": comb[order]}).to_csv(tmp_path / "issues.csv")
    (tmp_path / "data_issues.json").write_text(json.dumps({
        "features": {"source": "net"}, "label_features": {"source": "view (P)"},
        "checks": {"combined_label_issues": {"knn_weight": 0.25}}}))
    got = bench.neighbour_vote(tmp_path, tmp_path)
    wrong = true != given
    assert got == {"knn_auprc": pytest.approx(average_precision_score(wrong, -knn)),
                   "combined_auprc": pytest.approx(average_precision_score(wrong, -comb)),
                   "knn_weight": 0.25, "vote_features": "view (P)"}
    pd.DataFrame({"example_id": paths}).to_csv(tmp_path / "issues.csv")
    assert bench.neighbour_vote(tmp_path, tmp_path) == {}  # the checks did not run


def test_vote_table_shows_the_features_before_a_rerun():
    bench = load_benchmark("small_folder")
    vote = dict(knn_auprc=0.333, combined_auprc=0.641, knn_weight=0.126,
                vote_features="the images' patch view (64 centroids)")
    before = dict(knn_auprc=0.296, combined_auprc=0.618, knn_weight=0.0,
                  vote_features="the penultimate layer of each fold's network (...)")
    page = bench.render([_row(**vote, data_issues_rerun="2026-12-05", vote_before=before),
                         _row(config="cnn-only")])
    assert ("| 1000 | default | the images' patch view | 0.126 | 0.618 | 0.333 | 0.641 | "
            "+0.0230 | 2026-12-05 |") in page
    assert ("| 1000 | default | the penultimate layer of each fold's network | 0.000 | 0.618 | "
            "0.296 | 0.618 | +0.0000 | (before the re-run) |") in page
    assert "| 1000 | cnn-only | the" not in page  # no vote figures: no row
    assert "### The neighbours' vote" not in bench.render([_row()])
    # since the ranking is the combination, the model's own figure is read from model_auprc
    page = bench.render([_row(**dict(vote, model_auprc=0.600), auprc=0.641)])
    assert "| 1000 | default | the images' patch view | 0.126 | 0.600 | 0.333 | 0.641 | +0.0410 |" in page
