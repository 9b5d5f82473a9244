"""Test helper: interrupt a training run right after one of its checkpoints is written."""

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
