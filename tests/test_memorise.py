"""The per-epoch memorisation diagnostic of the training engine (engine.Memorisation)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from _bench import load_benchmark
from _resume import assert_resumes_exactly, assert_same_weights
from test_training import blobs, flip_labels

from labelnoise.training import coteaching, engine, standard

KEYS = ("memorised", "corrected", "train_acc_given", "train_acc_clean")


def _data():
    x, y = blobs(96, 5)
    noisy, _ = flip_labels(y, 0.4, 6)
    return x, noisy, y


def test_memorisation_recorded_only_with_true_labels_and_training_unchanged():
    x, noisy, y = _data()
    kw = dict(model="resnet8", epochs=2, batch_size=32, lr=0.05, progress=False, seed=1,
              test_images=x[:16], test_labels=y[:16])
    with_diag = standard.fit(x, noisy, true_labels=y, **kw)
    plain = standard.fit(x, noisy, **kw)
    for rec in with_diag.history:
        for key in KEYS:
            assert 0.0 <= rec[key] <= 1.0, (key, rec[key])
    assert all(key not in rec for rec in plain.history for key in KEYS)
    # the diagnostic draws no random numbers and leaves BatchNorm alone: same training
    assert_same_weights(with_diag.model, plain.model)
    assert ([h["train_loss"] for h in with_diag.history]
            == [h["train_loss"] for h in plain.history])
    # the true labels are not a setting: not in the checkpoint's config
    method = standard.Standard(model="resnet8", loss="ce", epochs=1, batch_size=8, lr=0.1,
                               weight_decay=0.0, momentum=0.9, schedule="constant",
                               augment=False, seed=0, loss_kwargs=None, model_kwargs=None,
                               milestones=None, true_labels=y)
    data = engine.prepare_data(x, noisy)
    assert "true_labels" not in method.config(data)


def test_memorisation_values_match_a_direct_computation():
    x, noisy, y = _data()
    res = standard.fit(x, noisy, true_labels=y, model="resnet8", epochs=1, batch_size=32,
                       lr=0.05, progress=False, seed=2)
    pred = engine.predict_proba(res.model, x).argmax(1)
    wrong = noisy != y
    rec = res.history[-1]
    assert rec["memorised"] == pytest.approx(np.mean(pred[wrong] == noisy[wrong]), abs=1e-6)
    assert rec["corrected"] == pytest.approx(np.mean(pred[wrong] == y[wrong]), abs=1e-6)
    assert rec["train_acc_given"] == pytest.approx(np.mean(pred == noisy), abs=1e-6)
    assert rec["train_acc_clean"] == pytest.approx(np.mean(pred == y), abs=1e-6)


def test_memorisation_uses_a_strided_subset_and_none_without_wrong_labels(monkeypatch):
    monkeypatch.setattr(engine, "MEMORISATION_SAMPLE", 10)
    x, noisy, y = _data()
    data = engine.prepare_data(x, noisy)
    diag = engine.Memorisation(y, data)
    assert diag.index.tolist() == list(range(0, 96, 10))
    clean = engine.Memorisation(noisy, data)  # given == true: nothing wrongly labelled
    net = engine.make_model("resnet8", data, seed=0)
    net.train()
    out = clean(net)
    assert out["memorised"] is None and out["corrected"] is None
    assert net.training and all(m.training for m in net.modules())  # modes restored
    with pytest.raises(ValueError, match="true_labels has 5 entries"):
        engine.Memorisation(y[:5], data)


def test_memorisation_resume_is_bit_exact(tmp_path, monkeypatch):
    x, noisy, y = _data()
    kw = dict(model="resnet8", epochs=3, batch_size=32, lr=0.05, progress=False, seed=3,
              test_images=x[:16], test_labels=y[:16], true_labels=y)
    full = assert_resumes_exactly(standard.fit, (x, noisy), kw, (2,), tmp_path, monkeypatch)
    assert all(key in r for r in full.history for key in KEYS)  # the diagnostics resumed too


def test_memorisation_on_a_two_network_method():
    x, noisy, y = _data()
    res = coteaching.fit(x, noisy, true_labels=y, model="resnet8", epochs=2, batch_size=32,
                         num_gradual=1, forget_rate=0.3, progress=False, seed=0)
    assert all(0.0 <= h["memorised"] <= 1.0 for h in res.history)
    assert torch.is_tensor(next(res.model.parameters()))


# ---------------------------------------------------------------- the benchmark scripts
def _bench(name):
    return load_benchmark(name)


def test_memorise_profile_settings_subset_and_section(tmp_path):
    import inspect

    from labelnoise import training

    bench = _bench("train_cifar")
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    idx = bench.balanced_subset(labels, 100, seed=0)
    assert np.array_equal(idx, bench.balanced_subset(labels, 100, seed=0))
    assert np.all(np.diff(idx) > 0) and np.bincount(labels[idx]).tolist() == [10] * 10
    assert set(bench.MEMORISE_SETTINGS) <= set(bench.SETTINGS)
    from labelnoise.losses import LOSSES

    for name, kw in bench.MEMORISE["methods"].items():
        kw = dict(kw)
        method = kw.pop("method", name)  # a loss in CE's loop: "standard" with loss=
        params = inspect.signature(training.METHODS[method].load()).parameters
        assert set(kw) <= set(params), name
        assert kw.get("loss", "ce") in LOSSES, name
        assert kw.get("schedule") not in ("onecycle",), method  # no anneal to zero early
    # "noise_rate" stands for the setting's realised noise rate (DivideMix's rank division)
    _, fit_kw = bench._fit_call("dividemix-rank", "sym80", bench.MEMORISE["methods"][
        "dividemix-rank"], 0.718, labels)
    assert fit_kw["forget_rate"] == 0.718 and fit_kw["lambda_u"] == 25.0
    assert bench.MEMORISE["methods"]["dividemix-rank"]["forget_rate"] == "noise_rate"
    for _model, _n, setting, kw in bench.MEMORISE_PILOT.values():
        assert setting in bench.MEMORISE_SETTINGS and kw["schedule"] == "step"
    # the section replaces an older one and leaves the other profiles' sections alone
    md = tmp_path / "training.md"
    md.write_text("## T\n\n### Profile `cpu-small`\n\nrows\n\n### Profile `memorise` old\n\nx\n\n"
                  "### Profile `gpu` (open)\n\nopen\n")
    before = md.read_text()
    bench.write_memorise_section(tmp_path / "work", md, tmp_path / "no-store")
    assert md.read_text() == before  # no stored runs (another machine): left as it is
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "memorise.jsonl").write_text("")
    bench.write_memorise_section(tmp_path / "work", md, tmp_path / "store")
    text = md.read_text()
    assert "rows" in text and "open" in text and "old" not in text
    assert text.count("### Profile `memorise`") == 1
    # a table showing more runs than the store holds (runs lost) is kept unless forced
    table = ("### Profile `memorise` (old)\n\n| setting | noise rate | method | seeds | last |\n"
             "|---|---|---|---|---|\n| sym50 | 45% | standard | 3 | 36.4 |\n"
             "| sym50 | 45% | gce | 1 | 53.8 |\n\n")
    tables = _bench("_tables")
    assert tables.runs_shown(table + table) == 8 and tables.shrinks(table, table + table) == (8, 4)
    assert tables.shrinks(table + table, table) is None
    md.write_text("## T\n\n" + table + "### Profile `gpu` (open)\n\nopen\n")
    kept = md.read_text()
    bench.write_memorise_section(tmp_path / "work", md, tmp_path / "store")
    assert md.read_text() == kept
    bench.write_memorise_section(tmp_path / "work", md, tmp_path / "store", force=True)
    assert "(old)" not in md.read_text() and "open" in md.read_text()


def test_features_track_kwargs_fit_the_methods():
    import inspect

    from labelnoise import training

    bench = _bench("train_features")
    for dataset in bench.SETTINGS:
        for row, (method, _) in bench.METHOD_ROWS.items():
            kw = bench.method_kwargs(row, dataset, 1000)
            params = inspect.signature(training.METHODS[method].load()).parameters
            assert set(kw) <= set(params), (dataset, row)
    x, given, true, x_te, y_te, rate = bench.digits_data("asym40")
    assert x.shape == (1257, 64) and x_te.shape == (540, 64)
    assert 0.3 < rate < 0.5 and np.all((given == true) | (given == (true + 1) % 10))


def test_features_track_estimate_rule_verdict_from_the_rows():
    """ESTIMATE_RULE's sentence: nothing until both rows cover every setting of the
    confirmation dataset; 'adopted' when the candidate's mean over the settings (of its
    seed means) is at least the reference's, 'not adopted' otherwise."""
    bench = _bench("train_features")
    cand, ref, dataset = bench.ESTIMATE_RULE
    settings = bench.SETTINGS[dataset]

    def rows(cand_acc, ref_accs):
        out = [dict(dataset=dataset, setting=s, method=cand, last_acc=cand_acc)
               for s in settings]
        out += [dict(dataset=dataset, setting=s, method=ref, last_acc=a)
                for s in settings for a in ref_accs]
        return out

    missing = [r for r in rows(0.5, [0.4, 0.6])
               if (r["method"], r["setting"]) != (cand, settings[-1])]
    assert bench.estimate_rule_lines(missing) == []  # a setting without the candidate
    assert "adopted." in bench.estimate_rule_lines(rows(0.5, [0.4, 0.6]))[0]  # 50.00 = 50.00
    lines = bench.estimate_rule_lines(rows(0.49, [0.4, 0.6]))
    assert "49.00 against 50.00: not adopted" in lines[0]


def test_memorise_adopts_only_pilots_that_are_protocol_runs():
    bench = _bench("train_cifar")
    proto = dict(method="standard", seed=0, model=bench.MEMORISE["model"],
                 n_train=bench.MEMORISE["n_train"], n_test=bench.MEMORISE["n_test"],
                 hyperparameters=dict(bench.MEMORISE["methods"]["standard"]))
    same = dict(proto, setting="sym80", tag="r20-same")
    other_wd = dict(proto, setting="sym50", tag="r20-wd0",
                    hyperparameters=dict(proto["hyperparameters"], weight_decay=0.0))
    small = dict(proto, setting="worst", tag="r20-small", n_train=2000)
    partial = dict(proto, setting="aggre", tag="r20-part", partial=True)
    got = bench.adoptable_pilots([same, other_wd, small, partial], set())
    assert [(r["setting"], r["tag"], r["adopted_from"]) for r in got] == [
        ("sym80", "standard-sym80-seed0", "pilot r20-same")]
    # a setting the protocol already ran is not adopted again, nor twice from two pilots
    assert bench.adoptable_pilots([same], {("standard", "sym80", 0)}) == []
    assert len(bench.adoptable_pilots([same, dict(same, tag="r20-again")], set())) == 1


def test_memorise_rows_of_older_hyperparameters_are_not_current():
    bench = _bench("train_cifar")
    kw = dict(bench.MEMORISE["methods"]["elr"])
    now = dict(method="elr", setting="sym80", seed=0, hyperparameters=dict(kw))
    old = dict(now, hyperparameters=dict(kw, lr=kw["lr"] * 5))
    gone = dict(now, method="no-such-method")
    assert bench.current_rows([now, old, gone]) == [now]
    assert bench.config_digest(kw) == bench.config_digest(dict(reversed(list(kw.items()))))
    assert bench.config_digest(kw) != bench.config_digest(old["hyperparameters"])


def test_memorise_per_setting_overrides_are_the_papers_and_fit_the_methods():
    import inspect
    import json

    from labelnoise import training

    bench = _bench("train_cifar")
    base = bench.MEMORISE["methods"]["elr"]
    asym = bench.method_kwargs("elr", "asym40")
    # ELR/config_cifar10_asym.json: x0.01 at epochs 40 and 80 of 120, scaled to the protocol
    assert asym["schedule"] == "step" and asym["gamma"] == 0.01
    assert asym["milestones"] == [base["epochs"] / 3, 2 * base["epochs"] / 3]
    assert {k: v for k, v in asym.items() if k not in ("schedule", "milestones", "gamma")} == {
        k: v for k, v in base.items() if k != "schedule"}
    assert bench.method_kwargs("elr", "sym50") == base
    assert bench.method_kwargs("standard", "asym40") == bench.MEMORISE["methods"]["standard"]
    for (method, setting), over in bench.MEMORISE["per_setting"].items():
        assert setting in bench.MEMORISE_SETTINGS and method in bench.MEMORISE["methods"]
        kw = bench.method_kwargs(method, setting)
        assert all(kw[k] == v for k, v in over.items())  # the override wins
        params = inspect.signature(training.METHODS[kw.get("method", method)].load()).parameters
        assert set(kw) - {"method"} <= set(params), (method, setting)
        # cached rows hold the kwargs as JSON: they must compare equal after the round trip
        assert json.loads(json.dumps(kw)) == kw
    # an asym40 row run with the symmetric-noise schedule is not current; at sym50 it is
    old = dict(method="elr", setting="asym40", seed=0, hyperparameters=dict(base))
    now = dict(old, hyperparameters=dict(asym))
    sym = dict(old, setting="sym50")
    assert bench.current_rows([old, now, sym]) == [now, sym]
    # the older asym40 run is listed as superseded only once the present one exists
    assert bench.superseded_rows([old, now, sym]) == [old]
    assert bench.superseded_rows([old, sym]) == []
    text = bench.superseded_line([dict(old, last_acc=0.611, best_acc=0.628, best_epoch=107)])
    assert text.endswith("elr asym40 seed 0 with schedule=cosine-restarts: last epoch 61.10%, "
                         "best 62.80% (epoch 107).")


def test_elr_paper_settings_follow_the_noise_kind():
    from labelnoise import training

    entry = training.METHODS["elr"]
    assert entry.settings_for(0.4, True) == {"lam": 1.0, "beta": 0.9}
    assert entry.settings_for(0.8, False) == {}


def test_memorise_curves_give_every_protocol_method_its_own_colour():
    bench = _bench("train_cifar")
    colours = bench.method_colours(bench.PROTOCOL_NAMES)
    assert len(set(colours.values())) == len(bench.PROTOCOL_NAMES) <= 20


def test_memorise_goals_line_from_known_rows():
    bench = _bench("train_cifar")

    def rows(last, best):
        return [dict(last_acc=last, best_acc=best)]

    groups = {("sym80", "standard"): rows(0.20, 0.30), ("sym80", "elr"): rows(0.36, 0.37),
              ("sym80", "coteaching"): rows(0.19, 0.25), ("sym50", "standard"): rows(0.4, 0.5)}
    (line,) = bench.memorise_goals(groups)
    assert "elr +16.0, coteaching -1.0" in line and "NOT every method >= CE" in line
    assert "best method elr 36.0 vs CE's best epoch 30.0 (met)" in line
    assert "vs CE's last + 15 = 35.0 (met)" in line
    assert "rdcr" not in line  # RDCR's own goal only where it ran
    groups[("sym80", "rdcr")] = rows(0.29, 0.31)
    (line,) = bench.memorise_goals(groups)
    assert "rdcr 29.0 vs CE's last + 10 = 30.0 (not met)" in line


@pytest.mark.parametrize("script", ["small_folder", "train_features", "robust_mlp",
                                    "sklearn_estimator"])
def test_benchmark_keeps_runs_in_the_repository_and_refuses_an_empty_render(script, tmp_path):
    """Finished runs go to benchmarks/results/raw/<script> (committed, so a fresh machine can
    re-render and extend the table); with no stored runs the table is left as it is."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    bench = _bench("_tables")
    assert bench.store_dir(script) == repo / "benchmarks" / "results" / "raw" / script
    md = tmp_path / "table.md"
    md.write_text("old table\n")
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / f"{script}.py"), "--render-only",
         "--store-dir", str(tmp_path / "empty"), "--markdown", str(md)],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "left as it is" in proc.stdout + proc.stderr
    assert md.read_text() == "old table\n"


def test_memorise_queue_order_smoke_scaling_and_pending_jobs(tmp_path):
    bench = _bench("train_cifar")
    methods, settings = list(bench.MEMORISE["methods"]), list(bench.MEMORISE_SETTINGS)
    jobs = bench.pending_jobs(tmp_path, methods, settings, [0, 1, 2])
    assert len(jobs) == len(methods) * len(settings) * 3 == len(set(jobs))
    # CE's seed 0 of every setting first, then the cheap methods' seed 0, then CE's other
    # seeds, then the costly methods' seed 0; DivideMix (8 CE-runs) last within a seed
    assert jobs[:5] == [("standard", s, 0) for s in settings]
    first_ce_seed1 = jobs.index(("standard", settings[0], 1))
    cheap = {m for m in methods if bench.MEMORISE_COST[m] <= 2} - {"standard"}
    assert {j[0] for j in jobs[5:first_ce_seed1]} == cheap
    assert all(j[2] == 0 for j in jobs[5:first_ce_seed1])
    assert jobs[first_ce_seed1:first_ce_seed1 + 10] == sorted(
        [("standard", s, seed) for seed in (1, 2) for s in settings], key=bench.job_order)
    assert jobs.index(("dividemix", "aggre", 0)) < jobs.index(("elr", "sym50", 1))
    assert set(bench.MEMORISE_COST) == set(methods)
    # runs in the store (with the profile's hyperparameters) are not pending
    row = dict(method="elr", setting="sym80", seed=1,
               hyperparameters=bench.method_kwargs("elr", "sym80"))
    bench.append_row(tmp_path / "memorise.jsonl", row)
    bench.append_row(tmp_path / "memorise.jsonl", dict(row, seed=2, hyperparameters={}))
    left = bench.pending_jobs(tmp_path, ["elr"], ["sym80"], [0, 1, 2])
    assert left == [("elr", "sym80", 0), ("elr", "sym80", 2)]
    # a row cut short by a kill (last line) is skipped; a bad line elsewhere is an error
    store = tmp_path / "memorise.jsonl"
    store.write_text(store.read_text() + '{"method": "elr", "sett')
    assert len(bench.load_rows(store)) == 2
    store.write_text('{"x\n' + store.read_text())
    with pytest.raises(ValueError, match="line 1"):
        bench.load_rows(store)
    # a smoke run scales every epoch-counted setting with the epochs
    kw = bench.method_kwargs("coteaching", "sym50")
    short = bench.smoke_kwargs(kw, 15)
    assert short["epochs"] == 15 and short["decay_start"] == pytest.approx(6.0)
    assert short["num_gradual"] == 1 and short["lr"] == kw["lr"]
    elr = bench.smoke_kwargs(bench.method_kwargs("elr", "asym40"), 15)
    assert elr["milestones"] == [5, 10]
    assert bench.smoke_kwargs(bench.method_kwargs("forward", "sym50"), 15)["warmup_epochs"] == 3


def test_memorise_machine_line_names_the_device_and_sharing():
    bench = _bench("train_cifar")
    cpu = [dict(device="cpu (2 threads)", torch="2.13.0+cpu")]
    assert "2-core CPU" in bench.machine_line(cpu) and "one after another" in bench.machine_line(cpu)
    gpu = [dict(device="cuda (NVIDIA H200)", torch="2.11.0+cu130", workers=10)]
    line = bench.machine_line(gpu)
    assert "cuda (NVIDIA H200)" in line and "10 at a time" in line and "2-core" not in line
    mixed = [dict(gpu[0], method="standard", setting="sym50", seed=s) for s in range(3)]
    mixed += [dict(cpu[0], method="ill", setting="sym80", seed=1),
              dict(cpu[0], method="ill", setting="sym80", seed=0)]
    line = bench.machine_line(mixed)
    # both devices, each with its count; the minority's runs named, in order
    assert "3 runs on cuda (NVIDIA H200)" in line
    assert "2 runs (ill sym80 seed 0, ill sym80 seed 1) on 2-core CPU" in line
    assert "standard sym50" not in line


def test_memorise_parallel_workers_run_every_job_once(tmp_path, monkeypatch, data_root):
    """Two worker processes on a tiny smoke configuration (real CIFAR-10 and CIFAR-10N
    labels): every job's row lands in the store once, with the worker count."""
    import importlib

    # spawned workers import the script by name: the parent must use that same module
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    bench = importlib.import_module("train_cifar")
    root = str(data_root)
    jobs = [("standard", "sym50", 0), ("gce", "aggre", 0), ("standard", "aggre", 0)]
    monkeypatch.setattr(bench, "pending_jobs", lambda *a, **k: list(jobs))
    bench.run_memorise_parallel(tmp_path / "work", [], [], [], workers=2, data_root=root,
                                store_dir=tmp_path, smoke=1)
    rows = bench.load_rows(tmp_path / "memorise.jsonl")
    assert sorted((r["method"], r["setting"], r["seed"]) for r in rows) == sorted(jobs)
    assert all(r["workers"] == 2 and r["epochs"] == 1 and r["n_train"] == 200 for r in rows)
    assert not (tmp_path / "memorise-errors.log").exists()


def test_runs_shown_counts_one_seed_tables_row_by_row():
    """Tables without a seeds column (train_cifar's cpu-small profile) count one run per
    row, so the shrink guard protects them too."""
    tables = _bench("_tables")
    one_seed = ("| setting | noise rate | method | last epoch acc (%) |\n|---|---|---|---|\n"
                "| sym20 | 20% | standard | 80.1 |\n| sym20 | 20% | elr | 81.0 |\n\ntext\n")
    seeded = ("| setting | noise rate | method | seeds | last |\n|---|---|---|---|---|\n"
              "| sym50 | 45% | standard | 3 | 36.4 |\n")
    other = "| pilot | model |\n|---|---|\n| a | b |\n"
    assert tables.runs_shown(one_seed) == 2
    placeholder = one_seed.replace("| sym20 | 20% | elr | 81.0 |", "| sym20 | | elr | not run |")
    assert tables.runs_shown(placeholder) == 1
    assert tables.runs_shown(one_seed + "\n" + seeded + "\n" + other) == 5
    assert tables.shrinks(one_seed[:one_seed.index("| sym20 | 20% | elr")], one_seed) == (2, 1)


def test_memorise_cost_run_stops_after_its_epochs_and_fills_the_cost_column(monkeypatch,
                                                                            data_root):
    """The cost run trains the protocol's settings for a fixed number of epochs and stops
    (no checkpoint); the table's cost column reads it, CE being 1.0x."""
    bench = _bench("train_cifar")
    monkeypatch.setitem(bench.MEMORISE, "n_train", 200)
    monkeypatch.setitem(bench.MEMORISE, "n_test", 100)
    cost = [bench.memorise_cost(m, str(data_root), epochs=2) for m in ("standard", "gce")]
    assert [c["epochs"] for c in cost] == [2, 2] and all(c["sec_per_epoch"] > 0 for c in cost)
    row = dict(method="gce", setting="sym50", seed=0, noise_rate=0.45, last_acc=0.5,
               best_acc=0.6, best_epoch=3, last_train_acc_given=0.6, last_memorised=0.3,
               sec_per_epoch=1.0, wall_seconds=150.0, workers=10,
               hyperparameters=bench.method_kwargs("gce", "sym50"),
               history=[dict(seconds=1.0)])
    ce = dict(row, method="standard", hyperparameters=bench.method_kwargs("standard", "sym50"))
    text = bench.render_memorise([ce, row], [], (), cost)
    want = f"{cost[1]['sec_per_epoch'] / cost[0]['sec_per_epoch']:.1f}x"
    gce_line = next(line for line in text.splitlines() if line.startswith("| sym50 | 45.0% | gce"))
    assert gce_line.rstrip(" |").endswith(want) and "from the cost run" in text
    no_cost = bench.render_memorise([ce, row], [], ())
    assert next(line for line in no_cost.splitlines()
                if line.startswith("| sym50 | 45.0% | gce")).endswith("| - |")


def test_profile_smoke_run_is_short_and_marked(data_root):
    """``--smoke N`` of the non-memorise profiles (the GPU script checks its path with it):
    N epochs on twice the batch size, 100 test images, every epoch-counted key scaled, and
    the row says it was a smoke run (real CIFAR-10 / CIFAR-10N labels)."""
    bench = _bench("train_cifar")
    profile = bench.PROFILES["cpu-small"]
    row = bench.run_one("elr-plus", "worst", profile, seed=0, data_root=str(data_root),
                        progress=False, smoke=1)
    assert row["smoke"] == 1 and row["epochs"] == 1
    assert row["n_train"] == 256 and row["n_test"] == 100  # 2 x batch 128
    hp = row["hyperparameters"]
    assert hp["epochs"] == 1 and hp["lr_decay_epoch"] == 1 and hp["ema_rampup_steps"] == 16
    assert row["device"] == bench.device_name()


def test_features_track_selection_is_remade_and_rendered(monkeypatch):
    """``--select``: every candidate of a grid run on digits at the selection settings
    (run_one stubbed: the kwargs it receives are checked), and the sentence the table shows:
    each candidate's accuracies, the rule's pick, and a pick that is not the library's
    choice said so; an incomplete selection renders nothing."""
    bench = _bench("train_features")
    seen = []

    def fake_run(dataset, setting, row, seed, args, override=None):
        seen.append((dataset, setting, row, seed, tuple(sorted(override.items()))))
        return {"last_acc": 0.5 + 0.1 * (override["alpha"] == 8.0)}

    monkeypatch.setattr(bench, "run_one", fake_run)
    rows = bench.select_runs("mixup", None)
    assert len(rows) == 4 * len(bench.SELECTION_SETTINGS)
    assert {s[:4] for s in seen} == {("digits", s, "mixup", 0) for s in bench.SELECTION_SETTINGS}
    assert {s[4] for s in seen} == {(("alpha", a),) for a in (1.0, 2.0, 8.0, 32.0)}
    text = bench.selection_text("mixup", rows)
    assert "alpha 8: 60.0 / 60.0 / 60.0 (mean 60.0)" in text
    assert "-> alpha 8, NOT the library's choice (alpha 32)" in text
    good = [dict(r, last_acc=0.7 if r["candidate"] == "alpha 32" else 0.4) for r in rows]
    assert "-> alpha 32 (re-made by `--select mixup`" in bench.selection_text("mixup", good)
    assert bench.selection_text("mixup", rows[:-1]) is None
    assert bench.selection_text("elr", rows) is None
    # the library's choices are those of the stored selections
    stored = bench.load_rows(bench.store_dir("train_features") / "selection.jsonl")
    for kind in bench.SELECTION_GRIDS:
        assert "NOT the library's choice" not in bench.selection_text(kind, stored)


def test_memorise_seconds_per_epoch_kept_apart_by_device():
    """A table row whose seeds ran on a GPU and on the CPU shows one mean per device (GPU
    first), not their average; one device gives one mean."""
    tc = _bench("train_cifar")
    gpu = {"device": "cuda (NVIDIA H200)", "sec_per_epoch": 1.2}
    cpu = {"device": "cpu (2 threads)", "sec_per_epoch": 11.0}
    assert tc._sec_per_epoch_cell([cpu, gpu, dict(cpu, sec_per_epoch=13.0)]) == \
        "1.20 (cuda) / 12.00 (cpu)"
    assert tc._sec_per_epoch_cell([cpu, dict(cpu, sec_per_epoch=12.0)]) == "11.50"
