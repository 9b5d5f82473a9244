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
