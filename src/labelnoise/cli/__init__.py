"""The ``labelnoise`` command line: one small module per command.

Each command module defines a click command; they are registered here. Modules are
imported lazily when their command runs, so ``labelnoise --help`` and the detection
commands never import torch.

Errors: every command is a :class:`labelnoise.cli._errors.Command`, so every expected error
becomes one line on stderr naming the file or argument, with one exit code per kind of
error, the same in every command (see :mod:`labelnoise.cli._errors`).
"""

from __future__ import annotations

import importlib
import importlib.util
import signal

import click

from labelnoise.cli._errors import ReportsErrors

#: command name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "find-issues": ("labelnoise.cli.find_issues", "find_issues", "Rank label issues from labels and pred_probs."),
    "simulate": ("labelnoise.cli.simulate", "simulate", "Corrupt a dataset's labels with a seeded noise model."),
    "datasets": ("labelnoise.cli.datasets_cmd", "datasets", "List the datasets available under the data root."),
    "consensus": ("labelnoise.cli.consensus", "consensus", "Consensus labels and annotator quality from several annotators."),
    "train": ("labelnoise.cli.train", "train", "Train a classifier on noisy labels with a robust method."),
    "predict": ("labelnoise.cli.predict", "predict", "Predict new data with a model from labelnoise train."),
    "audit": ("labelnoise.cli.audit", "audit", "Find the label errors of a dataset end to end and write a report."),
}


class _LazyGroup(ReportsErrors, click.Group):
    def list_commands(self, ctx):
        return [name for name, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod)]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="labelnoise")
def main() -> None:
    """labelnoise: find label errors, estimate label noise, train on noisy labels."""


def run() -> None:
    """The ``labelnoise`` program (console script and ``python -m labelnoise``): :func:`main`,
    after which SIGINT and SIGTERM get their default action back.

    Once the command is over (its outputs written, or removed on an interruption), a signal
    that lands while the interpreter shuts down (joining worker threads, atexit callbacks)
    ends the process at once; raised as an exception there, Python would report it with a
    traceback (``Exception ignored in atexit callback``) and exit with status 0.
    """
    try:
        main(prog_name="labelnoise")  # click's standalone mode: always ends by SystemExit
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
