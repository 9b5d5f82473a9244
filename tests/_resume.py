"""Test helpers: interrupt a training run right after one of its checkpoints is written, and
check that a resumed run ends as an uninterrupted one; count (and interrupt) the calls of a
function."""

from __future__ import annotations


def interrupt_after(monkeypatch, n_saves: int = 1) -> None:
    """Patch (through ``monkeypatch``, or a ``monkeypatch.context()``) the training engine's
    ``Checkpointer.save`` so that the ``n_saves``-th save writes its checkpoint and then
    raises ``KeyboardInterrupt``, as a Ctrl-C right after that epoch would."""
    from labelnoise.training import engine

    saves = {"n": 0}
    real_save = engine.Checkpointer.save

    def save_then_crash(self, state):
        real_save(self, state)
        saves["n"] += 1
        if saves["n"] == n_saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine.Checkpointer, "save", save_then_crash)


def assert_resumes_exactly(fit, args: tuple, kw: dict, stops, root, monkeypatch):
    """Train ``fit(*args, **kw)`` uninterrupted; then, for each ``n`` of ``stops``, train
    again with ``checkpoint_dir=root / str(n)``, interrupted right after its ``n``-th
    checkpoint, and resume there: the weights of every network the resumed run trained
    (``models``) equal the uninterrupted run's bit for bit, and so does its history but for
    the wall ``seconds``. Returns the uninterrupted run's result."""
    import pytest

    def timeless(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    full = fit(*args, **kw)
    for stop in stops:
        d = root / str(stop)
        with monkeypatch.context() as m:
            interrupt_after(m, stop)
            with pytest.raises(KeyboardInterrupt):
                fit(*args, checkpoint_dir=d, **kw)
        resumed = fit(*args, checkpoint_dir=d, resume=True, **kw)
        for net_a, net_b in zip(full.models or (full.model,),
                                resumed.models or (resumed.model,), strict=True):
            assert_same_weights(net_a, net_b)
        assert timeless(resumed.history) == timeless(full.history)
    return full


def assert_same_weights(net_a, net_b) -> None:
    """The two networks' state dicts (parameters and buffers) are equal bit for bit."""
    import torch

    a, b = net_a.state_dict(), net_b.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def count_calls(monkeypatch, owner, name: str, *, fail_at: int | None = None,
                exc=KeyboardInterrupt) -> list:
    """Patch ``owner.name`` (through ``monkeypatch``) to count its calls in the returned list
    (one entry per call; clear it to count again). With ``fail_at``, the call that makes the
    count ``fail_at`` raises ``exc`` instead of running, as an interruption there would.
    Patching again wraps the original function, not an earlier count."""
    real = getattr(owner, name)
    real = getattr(real, "_counted", real)
    calls: list = []

    def counted(*args, **kwargs):
        calls.append(1)
        if fail_at is not None and len(calls) == fail_at:
            raise exc
        return real(*args, **kwargs)

    counted._counted = real
    monkeypatch.setattr(owner, name, counted)
    return calls
