"""Distributed data-parallel training (PyTorch DDP, gloo, 2 CPU processes) against one process.

Two processes with the same global batch take the same steps as one process up to float
rounding (the gradients, the BatchNorm statistics and the gathered per-example quantities
are summed in another order). Measured on this machine (largest absolute difference, the
values are O(1)): weights 2.4e-7 (CE, MLP and ResNet-8), 4.8e-7 (ELR with its targets,
Co-teaching), 3.6e-7 (DivideMix); through the CLI 6.0e-7 (weights) and 6e-8 (pred_probs);
asserted within ``TOL``. Starting processes and importing torch in them costs seconds, so the
two-process checks run in one start of two processes (ending with the failure check), and the
CLI's in one more.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

# the processes started by the tests import this module (to find their function): only the
# light imports here, the rest where used
from labelnoise.training import distributed

pytestmark = pytest.mark.skipif(not distributed.AVAILABLE,
                                reason="this torch build has no torch.distributed")

#: weights, predictions and losses of 2 processes equal those of 1 process within this
#: (absolute); measured differences are at most 6e-7 here, 2.5e-6 for DivideMix on images
TOL = 2e-5


def features(n=240, d=10, k=4, seed=0, noise=0.3):
    """Gaussian clusters with a fraction ``noise`` of labels shifted by one class."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(100).normal(0, 2.0, (k, d))
    y = rng.integers(0, k, n)
    x = (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    noisy = np.where(rng.random(n) < noise, (y + 1) % k, y)
    return x, noisy, y


def images(n=64, size=12, seed=0):
    """Tiny uint8 images whose class is the colour of a square patch."""
    rng = np.random.default_rng(seed)
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]])
    y = rng.integers(0, 4, n)
    x = rng.normal(120, 50, (n, size, size, 3))
    for i in range(n):
        r, c = rng.integers(0, size - 4, 2)
        x[i, r:r + 4, c:c + 4] += colours[y[i]] - 120
    return x.clip(0, 255).astype(np.uint8), y


def _weights(*nets):
    return [{k: v.detach().clone() for k, v in net.state_dict().items()} for net in nets]


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def _copy_checkpoint(src: Path, *dsts: Path):
    """on_epoch after epoch 1: keep copies of the checkpoint (rank 0 only calls it)."""
    def keep(history):
        Path(src, f"on_epoch-rank{distributed.current().rank}-epoch{len(history)}").touch()
        if len(history) == 1:
            for dst in dsts:
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("on_epoch-*"))
    return keep


def _checks(root: str) -> dict:
    """Every run the test compares; called in one process and in each of two."""
    from labelnoise.training import coteaching, dividemix, elr, engine, forward, standard

    root = Path(root)
    world = distributed.current()
    x, y, truth = features()
    mlp = dict(model="mlp", batch_size=64, lr=0.05, progress=False, seed=1,
               model_kwargs={"hidden": (32,)}, test_images=x[:80], test_labels=truth[:80])
    out = {"world": (world.rank, world.size)}

    r = standard.fit(x, y, epochs=1, **mlp)
    out["ce"] = _weights(r.model), _strip(r.history)
    out["batchnorm"] = sorted({type(m).__name__ for m in r.model.modules()})

    xi, yi = images()
    r = standard.fit(xi, yi, model="resnet8", epochs=1, batch_size=32, lr=0.05,
                     progress=False, seed=2)
    out["ce_images"] = _weights(r.model), _strip(r.history)

    r = elr.fit(x, y, epochs=2, checkpoint_dir=root / "elr", **mlp)
    targets = torch.load(root / "elr" / engine.CHECKPOINT_NAME, weights_only=True)["loss"]
    out["elr"] = _weights(r.model) + [targets], _strip(r.history)

    r = coteaching.fit(x, y, epochs=2, num_gradual=1, forget_rate=0.3, optimizer="sgd",
                       true_labels=truth, **mlp)
    out["coteaching"] = _weights(*r.models), _strip(r.history)

    r = forward.fit(x, y, epochs=2, warmup_epochs=1, **mlp)
    out["forward"] = _weights(r.model), _strip(r.history)

    dm = dict(epochs=2, warmup_epochs=1, true_labels=truth, **mlp)
    (root / "dm").mkdir(parents=True, exist_ok=True)
    r = dividemix.fit(x, y, checkpoint_dir=root / "dm", **dm,
                      on_epoch=_copy_checkpoint(root / "dm", root / "dm-1a", root / "dm-1b"))
    out["dividemix"] = _weights(*r.models), _strip(r.history)
    r = dividemix.fit(x, y, forget_rate="estimate", **dm)
    out["dividemix_est"] = _weights(*r.models), _strip(r.history)
    if world.active:  # every rank resumes from rank 0's copy of the epoch-1 checkpoint
        r = dividemix.fit(x, y, checkpoint_dir=root / "dm-1a", resume=True, **dm)
        out["dividemix_resumed"] = _weights(*r.models), _strip(r.history)
        try:
            elr.fit_plus(x, y, epochs=1, **mlp)
        except ValueError as exc:
            out["refused"] = str(exc)
        _fail_on_rank_1(root, out)
    return out


def _fail_on_rank_1(root: Path, out: dict):
    """Last of the 2-process checks (one start of processes less): rank 0 saves the results,
    then rank 1 fails while rank 0 waits for it in a collective."""
    import torch.distributed as dist

    if dist.get_rank() == 0:
        torch.save(out, root / "rank0.pt")
    dist.barrier()
    if dist.get_rank() == 1:
        raise ValueError("--lr is broken on this rank")
    dist.barrier()  # rank 0 waits for a peer that has stopped


def _abort_when_leaving(value):
    """Rank 1 finishes its work, then dies by SIGABRT as the process exits (as gloo's threads
    sometimes do at teardown: "terminate called without an active exception")."""
    import atexit
    import os

    import torch.distributed as dist

    if dist.get_rank() == 1:
        atexit.register(os.abort)
    return value


def test_a_crash_after_every_rank_finished_keeps_the_result(one_thread):
    assert distributed.launch(_abort_when_leaving, 2, args=({"answer": 42},), threads=1) == {
        "answer": 42}


def _close(a, b, tol=TOL):
    """Largest absolute difference between two lists of state dicts (asserting same keys)."""
    worst = 0.0
    for sa, sb in zip(a, b, strict=True):
        assert sa.keys() == sb.keys()
        for k in sa:
            worst = max(worst, float((sa[k].double() - sb[k].double()).abs().max()))
    assert worst <= tol, worst
    return worst


def _same_history(h1, h2, tol=TOL):
    assert len(h1) == len(h2)
    for r1, r2 in zip(h1, h2):
        assert r1.keys() == r2.keys()
        for k in r1:
            if isinstance(r1[k], float):
                assert r2[k] == pytest.approx(r1[k], abs=tol), k
            elif k == "noise_matrix":  # forward's estimate, (K, K) nested lists
                assert np.allclose(r2[k], r1[k], atol=tol), k
            else:
                assert r2[k] == r1[k], k


@pytest.fixture()
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two processes
    yield
    torch.set_num_threads(threads)


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path, one_thread):
    from labelnoise.training import dividemix

    one = _checks(str(tmp_path / "one"))
    # other tests' pools (joblib's loky workers) may still be alive: only ours must be gone
    before = set(multiprocessing.active_children())
    # the two processes end with rank 1 failing: its error, and no process left
    with pytest.raises(ValueError, match=r"^rank 1: --lr is broken on this rank$"):
        distributed.launch(_checks, 2, args=(str(tmp_path / "two"),), threads=1)
    assert set(multiprocessing.active_children()) <= before
    two = torch.load(tmp_path / "two" / "rank0.pt", weights_only=True)
    assert one["world"] == (0, 1) and two["world"] == (0, 2)  # rank 0's result
    # CE (MLP with BatchNorm1d; ResNet-8 with BatchNorm2d, sharded augmentation), ELR (and
    # its per-example targets, gathered), Co-teaching (small-loss selection over the global
    # batch), forward (the noise matrix estimated on gathered predictions), DivideMix (a
    # warm-up epoch, then the GMM division on gathered losses, MixMatch)
    for key in ("ce", "ce_images", "elr", "coteaching", "forward", "dividemix"):
        print(key, "largest weight difference", _close(one[key][0], two[key][0]))
        _same_history(one[key][1], two[key][1])
    assert two["dividemix"][1][1]["labeled_fraction"] == one["dividemix"][1][1]["labeled_fraction"]
    # DivideMix's estimated forget rate: each rank makes the same 2-fold estimate
    _close(one["dividemix_est"][0], two["dividemix_est"][0])
    _same_history(one["dividemix_est"][1], two["dividemix_est"][1])
    assert (two["dividemix_est"][1][0]["estimated_noise_rate"]
            == one["dividemix_est"][1][0]["estimated_noise_rate"])
    assert 0 < one["dividemix"][1][1]["labeled_fraction"] < 1
    # the returned networks have their own BatchNorm back
    assert two["batchnorm"] == one["batchnorm"] and "GlobalBatchNorm" not in two["batchnorm"]
    # rank 0 alone wrote the checkpoints and called on_epoch; no temporary file is left
    dm = tmp_path / "two" / "dm"
    assert sorted(p.name for p in dm.iterdir()) == [
        "checkpoint.json", "checkpoint.pt", "on_epoch-rank0-epoch1", "on_epoch-rank0-epoch2"]
    # both ranks resumed from rank 0's epoch-1 checkpoint: bit for bit the uninterrupted run
    for a, b in zip(two["dividemix"][0], two["dividemix_resumed"][0]):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert two["dividemix_resumed"][1] == two["dividemix"][1]
    # one process resumes the same (2-process) checkpoint too: same weights within TOL
    x, y, truth = features()
    resumed = dividemix.fit(x, y, model="mlp", batch_size=64, lr=0.05, progress=False, seed=1,
                            model_kwargs={"hidden": (32,)}, test_images=x[:80],
                            test_labels=truth[:80], epochs=2, warmup_epochs=1,
                            true_labels=truth, checkpoint_dir=tmp_path / "two" / "dm-1b",
                            resume=True)
    _close(two["dividemix"][0], _weights(*resumed.models))
    assert "does not train distributed" in two["refused"]


def _npz(path, x, y):
    np.savez(path, X=x, labels=y)
    return str(path)


def test_cli_nproc_2_writes_what_one_process_writes(tmp_path):
    from click.testing import CliRunner

    from labelnoise.cli import main

    x, y, truth = features(n=200, d=8, k=3, seed=3)
    xt, _, yt = features(n=60, d=8, k=3, seed=4, noise=0.0)
    data, test = _npz(tmp_path / "train.npz", x, y), _npz(tmp_path / "test.npz", xt, yt)
    args = ["train", data, "--test", test, "--method", "elr", "--epochs", "4", "--batch-size",
            "32", "--lr", "0.05", "--val-fraction", "0.2", "--device", "cpu", "--no-progress"]
    one = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    two = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "two"), "--nproc", "2"])
    assert two.exit_code == 0, two.output
    assert two.output == one.output.replace(str(tmp_path / "one"), str(tmp_path / "two"))
    a, b = tmp_path / "one", tmp_path / "two"
    assert sorted(p.name for p in a.rglob("*")) == sorted(p.name for p in b.rglob("*"))
    _same_history(_strip(json.loads((a / "history.json").read_text())),
                  _strip(json.loads((b / "history.json").read_text())))
    fa, fb = (json.loads((d / "final.json").read_text()) for d in (a, b))
    for key in ("selected_epoch", "best_val_acc", "test_acc", "final_test_acc", "outputs"):
        assert fa[key] == fb[key], key
    assert fb["selected_epoch"] < fb["epochs"]  # rank 0 restored the best epoch's network
    for name in ("model.pt", "model_best.pt"):
        worst = _close([torch.load(a / name, weights_only=True)],
                       [torch.load(b / name, weights_only=True)])
        print(name, "largest weight difference", worst)
    worst = np.abs(np.load(a / "pred_probs.npy") - np.load(b / "pred_probs.npy")).max()
    print("pred_probs largest difference", worst)
    assert worst <= TOL


def test_cli_nproc_refusals(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from labelnoise.cli import main

    runner = CliRunner()
    x, y, _ = features(n=40, d=4, k=3)
    data = _npz(tmp_path / "d.npz", x, y)
    res = runner.invoke(main, ["train", data, "--method", "rdcr", "--nproc", "2",
                               "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "--nproc: --method rdcr trains in one process" in res.output
    res = runner.invoke(main, ["train", data, "--nproc", "0", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--nproc" in res.output
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun
    res = runner.invoke(main, ["train", data, "--nproc", "2", "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "leave --nproc out" in res.output
    assert not any((tmp_path / n).exists() for n in "abc")


# ---------------------------------------------------------------- in one process
def test_world_shares_and_single_process_identity():
    from labelnoise.training import engine

    w = distributed.World(rank=1, size=3)
    assert w.sizes(10) == [4, 3, 3] and w.bounds(10) == (4, 7) and w.part(10) == slice(4, 7)
    assert w.rows([10, 10]).tolist() == [4, 5, 6, 14, 15, 16]
    assert w.rows([10, 4]).tolist() == [4, 5, 6, 12]  # its share of 4 rows: row 2 of them
    assert distributed.World(rank=2, size=3).bounds(2) == (2, 2)
    single = distributed.current()
    assert single is distributed.SINGLE and not single.active and single.is_main
    t = torch.arange(6.0).view(3, 2)
    assert single.part(3) == slice(None) and single.rows([3, 3]) is None
    assert single.gather(t, 3) is t and single.weight(t, 1, 3) is t
    assert torch.equal(single.batch_mean(t, 99), t.mean(0))
    assert torch.equal(single.mean(t, 99), t.mean())
    assert engine.num_batches(10, 4, min_batch=3) == 2 and engine.num_batches(10, 4) == 3


def test_global_batchnorm_converts_and_reverts_in_place():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                              torch.nn.Sequential(torch.nn.BatchNorm2d(3)))
    weight, state = net[1].weight, {k: v.clone() for k, v in net.state_dict().items()}
    distributed.convert_batchnorm(net)
    assert isinstance(net[1], distributed.GlobalBatchNorm) and net[1].weight is weight
    assert isinstance(net[2][0], distributed.GlobalBatchNorm)
    assert net.state_dict().keys() == state.keys()
    x = torch.randn(8, 4)
    ref = torch.nn.functional.batch_norm(net[0](x), None, None, net[1].weight, net[1].bias,
                                         training=True)
    assert torch.allclose(net[1](net[0](x)), ref, atol=1e-6)  # one process: plain BatchNorm
    distributed.revert_batchnorm(net)
    assert type(net[1]) is torch.nn.BatchNorm1d and type(net[2][0]) is torch.nn.BatchNorm2d
    assert net[1].weight is weight


def test_augment_share_matches_the_global_batch():
    from labelnoise.training import engine

    x = torch.randint(0, 256, (7, 3, 8, 8), dtype=torch.uint8)
    full = engine.augment(x, torch.Generator().manual_seed(3))
    part = slice(3, 7)
    share = engine.augment(x[part], torch.Generator().manual_seed(3), total=7, part=part)
    assert torch.equal(share, full[part])


def test_registry_and_method_classes_agree_on_distributed_support():
    from labelnoise import training
    from labelnoise.training import (
        complementary,
        coreg,
        coteaching,
        dividemix,
        elr,
        proden,
        rdcr,
        standard,
    )

    assert {n for n, e in training.METHODS.items() if e.distributed} == {
        "standard", "elr", "coteaching", "dividemix", "forward"}
    assert standard.Standard.distributed and coteaching.CoTeaching.distributed
    assert dividemix.DivideMix.distributed
    assert not any(cls.distributed for cls in (elr.ELRPlus, proden.Proden, coreg.CoReg,
                                                rdcr.RDCR, complementary.Complementary))
