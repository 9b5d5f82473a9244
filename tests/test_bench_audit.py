"""benchmarks/audit_cpu.py: the conditions of a run (--note) are stored with its part and
printed beside its date; --annotate-only trains nothing."""

import json

import pytest
from _bench import load_benchmark


def _bench():
    return load_benchmark("audit_cpu")


def _part(seconds):
    metrics = dict(auprc=0.9, precision=0.8, recall=0.7, f1=0.75)
    return dict(seconds=seconds, date="2026-12-04", metrics=metrics, num_examples=100,
                num_flagged=40, noise_rate_estimated=0.4,
                settings={"model": "airbench", "cross-validation": "2-fold"})


def test_note_is_stored_and_rendered_beside_the_date(tmp_path, monkeypatch):
    bench = _bench()
    monkeypatch.setattr(bench, "STORE", tmp_path / "store")
    monkeypatch.setattr(bench, "OUT", tmp_path / "audit.md")
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    (tmp_path / "store").mkdir()
    for name, seconds in (("full", 1570.0), ("quick", 171.0)):
        (tmp_path / "store" / f"{name}.json").write_text(json.dumps(_part(seconds)))
    (tmp_path / "store" / "pred-probs.json").write_text("[]")
    ran = []
    monkeypatch.setattr(bench, "part_full", lambda root: ran.append("full"))

    bench.main(["--parts", "full", "--annotate-only", "--note", "The CPU was shared."])
    assert ran == []  # nothing trained
    assert json.loads((tmp_path / "store" / "full.json").read_text())["note"] == "The CPU was shared."
    assert "note" not in json.loads((tmp_path / "store" / "quick.json").read_text())
    page = (tmp_path / "audit.md").read_text()
    assert "Run 2026-12-04. The CPU was shared.\n" in page
    assert page.count("The CPU was shared.") == 1  # the quick part has no note
    assert "| 26.2 min (1570 s) |" in page

    with pytest.raises(SystemExit):  # a note is required
        bench.main(["--parts", "full", "--annotate-only"])
    with pytest.raises(SystemExit):  # only saved full/quick parts take a note
        bench.main(["--parts", "pred-probs", "--annotate-only", "--note", "x"])


def _scores(pp, knn, comb, source, w):
    return {"pred_probs": {"auprc": pp, "f1": 0.8}, "knn": {"auprc": knn, "f1": 0.6},
            "combined": {"auprc": comb, "f1": 0.81}, "knn_weight": w, "source": source}


def test_label_view_figures_are_rendered_beside_those_of_the_run_before(tmp_path, monkeypatch):
    """The --parts data-issues figures: the current view's rows, the earlier run's (other
    features) beside them, and the label-view table with its range of differences."""
    bench = _bench()
    monkeypatch.setattr(bench, "STORE", tmp_path / "store")
    monkeypatch.setattr(bench, "OUT", tmp_path / "audit.md")
    (tmp_path / "store").mkdir()
    full = _part(1570.0)
    full["settings"]["data-issue checks"] = "18.7 s"
    full["settings"]["neighbour vote"] = "the model's pred_probs mixed with V"
    full.update(data_issues_rerun="2026-12-05", view_computed=True,
                features=_scores(0.9021, 0.6395, 0.9037, "the images' patch view (P)", 0.066),
                features_before={**_scores(0.9021, 0.8027, 0.9019, "the networks", 0.129),
                                 "date": "2026-12-04"})
    (tmp_path / "store" / "full.json").write_text(json.dumps(full))
    (tmp_path / "store" / "quick.json").write_text(json.dumps(_part(171.0)))
    (tmp_path / "store" / "pred-probs.json").write_text("[]")
    rows = [{"dataset": "d", "model": m, "knn_weight": w,
             "pred_probs": {"auprc": a, "f1": 0.9}, "knn": {"auprc": 0.5, "f1": 0.5},
             "combined": {"auprc": c, "f1": 0.91}}
            for m, w, a, c in (("m1", 0.0, 0.95, 0.95), ("m2", 0.2, 0.99, 0.9886))]
    cases = [{"case": f"c{i}", "half": h, "family": "f", "accuracy_given": 0.5,
              "knn_weight": 0.3, "auprc_pred_probs": 0.5, "auprc_combined": 0.5 + g,
              "f1_pred_probs": 0.4, "f1_combined": 0.4 + g / 2}
             for i, (h, g) in enumerate((("select", 0.02), ("select", -0.004),
                                         ("confirm", 0.01)))]
    (tmp_path / "store" / "label-view.json").write_text(json.dumps(
        {"date": "2026-12-05", "source": "the images' patch view (P)", "rows": rows,
         "cases": cases, "seconds": 41.0, "view_seconds": 24.1, "num_images": 50000}))
    page = bench.render()
    assert "Re-run on 2026-12-05 from the run's cached folds" in page
    assert "the ranking reads the model's pred_probs mixed with V (computing the images' " \
           "patch view included). The data-issue checks" in page and "took 18.7 s." in page
    assert "Combined minus pred_probs alone: AUPRC +0.0016, F1 +0.0100." in page
    assert ("The run of 2026-12-04 searched the networks: w = 0.129, combined minus pred_probs "
            "alone AUPRC -0.0002") in page
    assert "| combined | 0.9037 | 0.8100 |" in page
    assert "| the model's pred_probs alone | 0.9021 | 0.8000 |" in page
    assert "| kNN alone, the features of the run of 2026-12-04 | 0.8027 | 0.6000 |" in page
    assert "computing the patch view of the 50,000 images afresh took 24.1 s" in page
    assert "read from the full audit's cache (P), meet" in page
    assert "| d | m2 | 0.200 | 0.9900 | 0.5000 | 0.9886 | -0.0014 | 0.9000 | 0.9100 |" in page
    assert "from -0.0014 to +0.0000 AUPRC (mean -0.0007) over 2 models." in page
    assert "| images | select | 2 | +0.0080 | -0.0040 | 1 | +0.0040 | -0.0020 | 1 |" in page
    assert "| images | confirm | 1 | +0.0100 | +0.0100 | 1 | +0.0050 | +0.0050 | 1 |" in page
    assert "Verdict (images): the rule is met: since 2026-12-05" in page
    assert "Verdict (tables)" not in page  # no table case
    assert "| c1 | select | 0.500 | 0.300 | 0.5000 | 0.4960 | 0.4000 | 0.3980 |" in page
    bad = [dict(c, auprc_combined=c["auprc_pred_probs"] - 0.001) if c["half"] == "confirm"
           else c for c in cases]
    assert "Verdict (images): the rule is not met." in "\n".join(bench._case_lines(bad))
    assert bench._case_lines([]) == []
