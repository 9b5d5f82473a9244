"""The registries (methods, networks, losses) and the engine's Method API."""

import dataclasses
import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch
from _bench import load_benchmark
from click.testing import CliRunner
from torch.nn import functional as F

from labelnoise import losses, models, training
from labelnoise.cli import main
from labelnoise.cli import train as cli_train
from labelnoise.training import dividemix, engine

torch.set_num_threads(2)


def _choices(command, name):
    (param,) = [p for p in command.params if p.name == name]
    return tuple(param.type.choices)


def test_cli_choices_are_the_registry_keys():
    assert _choices(cli_train.train, "method") == tuple(training.METHODS)
    assert _choices(cli_train.train, "loss") == tuple(losses.LOSSES)
    image_nets = tuple(n for n, s in models.MODELS.items() if s.inputs == "images")
    assert _choices(cli_train.train, "model") == image_nets == models.IMAGE_MODELS
    assert "mlp" in models.MODELS and "mlp" not in image_nets
    assert cli_train.PARTIAL_METHODS == tuple(
        n for n, e in training.METHODS.items() if e.candidates) == (
        "proden", "coreg", "complementary", "ill-partial")


def test_benchmark_methods_come_from_the_registry():
    bench = load_benchmark("train_cifar")
    assert bench.METHODS == tuple(n for n, e in training.METHODS.items() if not e.candidates)
    assert set(bench.PROFILES["cpu-small"]["methods"]) == set(bench.METHODS)
    assert {m for m, _ in bench.ANCHORS} <= set(bench.METHODS)


def test_every_method_entry_resolves():
    for name, entry in training.METHODS.items():
        fit = entry.load()
        assert callable(fit) and fit is training.get(name)
        params = inspect.signature(fit).parameters
        second = list(params)[1]
        assert second == ("candidates" if entry.candidates else "labels"), name
        assert set(entry.options) <= set(cli_train.METHOD_OPTIONS), name
        assert all(opt in params for opt in entry.options), name
        for key in entry.settings_for(0.4, False):
            assert key in params, (name, key)
        for key in ("checkpoint_dir", "resume", "progress", "on_epoch", "seed", "epochs"):
            assert key in params, (name, key)
    with pytest.raises(ValueError, match="method must be one of"):
        training.get("nope")


def test_all_is_derived_from_the_registries():
    assert set(training.__all__) >= {"METHODS", "engine"} | {
        e.module for e in training.METHODS.values()}
    for mod in (losses, models, training):
        for name in mod.__all__:
            assert getattr(mod, name) is not None
    assert {"GCELoss", "ELRLoss", "BootstrappingLoss"} <= set(losses.__all__)
    assert {"CifarResNet", "MLP", "AirbenchNet"} <= set(models.__all__)


def test_registries_build_every_entry():
    for name in losses.LOSSES:
        loss = losses.build_loss(name, 4, num_examples=8)
        assert isinstance(loss, torch.nn.Module)
    assert losses.build_loss("bootstrap-hard", 3).mode == "hard"
    torch.manual_seed(0)
    options = {"resnet8": {"widths": (8, 8, 8)}, "resnet20": {"widths": (8, 8, 8)},
               "mlp": {"in_features": 6}}  # the other nets are built in test_models
    for name, kw in options.items():
        net = models.build_model(name, 3, **kw)
        embeddings = models.MODELS[name].inputs == "embeddings"
        x = torch.randn(2, 6) if embeddings else torch.zeros(2, 3, 8, 8)
        assert net(x).shape == (2, 3)


def test_importing_the_training_registry_does_not_import_torch():
    code = ("import sys, labelnoise.training as t; assert 'torch' not in sys.modules; "
            "assert 'dividemix' in t.METHODS")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paper_settings_by_noise():
    assert dividemix.paper_settings(0.2, False) == {"lambda_u": 0.0, "conf_penalty": False}
    assert dividemix.paper_settings(0.5, False) == {"lambda_u": 25.0, "conf_penalty": False}
    assert dividemix.paper_settings(0.9, False)["lambda_u"] == 50.0
    assert dividemix.paper_settings(0.4, True) == {"lambda_u": 0.0, "conf_penalty": True}
    assert training.METHODS["coteaching"].settings_for(0.3, False) == {"forget_rate": 0.3}
    assert training.METHODS["elr"].settings_for(0.3, False) == {}
    # ELR+: the official asymmetric configuration changes only the loss's weights
    assert training.METHODS["elr-plus"].settings_for(0.4, True) == {"lam": 1.0, "beta": 0.9}
    assert training.METHODS["elr-plus"].settings_for(0.8, False) == {}
    assert training.METHODS["elr-plus"].settings_for(0.4, True, epochs=30) == {"lam": 1.0,
                                                                             "beta": 0.9}


@pytest.mark.parametrize("args,message", [
    (["--method", "elr", "--forget-rate", "0.2"], "--forget-rate applies to --method coteaching or dividemix or cpc only"),
    (["--method", "standard", "--lambda-u", "1"], "--lambda-u applies to --method dividemix or cpc only"),
    (["--method", "rdcr", "--warmup-epochs", "1"], "--warmup-epochs applies to --method dividemix or cpc or coreg or forward only"),
    (["--method", "elr", "--strong-augment", "crop-flip"], "--strong-augment applies to --method ill or ill-partial only"),
])
def test_cli_refuses_options_of_other_methods(tmp_path, args, message):
    res = CliRunner().invoke(main, ["train", "--noise", "symmetric:0.2", *args,
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- the Method API
@dataclasses.dataclass
class Counting(engine.Method):
    """A toy method: an MLP trained with cross entropy, plus state of every kind a method
    can checkpoint (a tensor updated in place, an int, a list of arrays)."""

    name = "counting"
    checkpointed = {"model": "net", "optimizer": "optimizer", "seen": "seen", "steps": "steps",
                    "losses": "losses"}
    epochs: int
    lr: float
    seed: int
    schedule: str = "cosine"
    note: object = engine.not_in_config()

    def setup(self, data):
        self.net = engine.make_model("mlp", data, seed=self.seed, hidden=(16,))
        self.optimizer = engine.sgd(self.net, self.lr, 0.0)
        self.seen = torch.zeros(data.n)
        self.steps = 0
        self.losses = []

    def train_epoch(self, epoch):
        self.net.train()
        total = 0.0
        for _, idx in self.batches(self.data.n, 16, epoch, [self.optimizer]):
            loss = F.cross_entropy(self.net(self.data.x[idx]), self.data.y[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.seen[idx] += 1
            self.steps += 1
            total += float(loss.detach())
        mix = float(self.rng.random())  # the numpy generator is checkpointed too
        self.losses.append(np.array([total, mix]))
        return dict(train_loss=total, lr=engine.get_lr(self.optimizer), steps=self.steps)


def _toy_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = (np.eye(3)[y] * 3 + rng.normal(0, 1, (60, 3))).astype(np.float32)
    return engine.prepare_data(x, y, test_images=x[:20], test_labels=y[:20])


def test_method_api_runs_checkpoints_and_resumes_exactly(tmp_path):
    full = engine.run(Counting(epochs=4, lr=0.1, seed=1, note="x"), _toy_data(), progress=False)
    h = full.history
    assert [r["epoch"] for r in h] == [1, 2, 3, 4] and [r["steps"] for r in h] == [4, 8, 12, 16]
    assert list(h[0])[:3] == ["epoch", "train_loss", "test_acc"] and list(h[0])[-1] == "seconds"
    assert not full.model.training and full.models == (full.model,)

    class Stop(Exception):
        pass

    def stop(history):
        if len(history) == 2:
            raise Stop

    with pytest.raises(Stop):
        engine.run(Counting(epochs=4, lr=0.1, seed=1), _toy_data(), checkpoint_dir=tmp_path,
                   progress=False, on_epoch=stop)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "seen", "steps", "losses", "rng", "epoch", "history"} <= set(saved)
    method = Counting(epochs=4, lr=0.1, seed=1, note="not a setting")
    resumed = engine.run(method, _toy_data(), checkpoint_dir=tmp_path, resume=True, progress=False)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    assert method.steps == 16 and torch.all(method.seen == 4)
    assert len(method.losses) == 4
    with pytest.raises(ValueError, match="other settings"):
        engine.run(Counting(epochs=4, lr=0.2, seed=1), _toy_data(), checkpoint_dir=tmp_path,
                   resume=True, progress=False)


def test_method_config_holds_the_settings_only():
    data = _toy_data()
    cfg = Counting(epochs=2, lr=0.1, seed=0, note=np.zeros(3)).config(data)
    assert cfg == {"method": "counting", "epochs": 2, "lr": 0.1, "seed": 0, "schedule": "cosine",
                   "n": 60, "num_classes": 3}


def test_settings_that_scale_with_the_run_take_its_epochs():
    elr = training.METHODS["elr"]
    assert elr.settings_for(0.4, True) == {"lam": 1.0, "beta": 0.9}
    assert elr.settings_for(0.4, True, epochs=120) == {
        "lam": 1.0, "beta": 0.9, "schedule": "step", "milestones": [40.0, 80.0], "gamma": 0.01}
    assert elr.settings_for(0.4, False, epochs=120) == {}
    # the other methods' settings do not take the length of the run
    assert training.METHODS["coteaching"].settings_for(0.3, False, epochs=50) == {"forget_rate": 0.3}
    assert training.METHODS["standard"].settings_for(0.3, True, epochs=50) == {}
