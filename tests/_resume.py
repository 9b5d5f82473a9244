"""Test helpers: interrupt a training run right after one of its checkpoints is written; count
(and interrupt) the calls of a function."""

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
