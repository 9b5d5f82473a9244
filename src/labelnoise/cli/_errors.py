"""How the command line reports errors: one line, one exit code per kind, no traceback.

Every expected error becomes ``Error: <message>`` on stderr, naming the file or argument,
and the exit code of its kind (:data:`EXIT_CODES`), the same in every command; an
unexpected one (a bug) says so in one line (``LABELNOISE_DEBUG=1`` shows the traceback).
SIGTERM is turned into ``SystemExit`` so that partly written outputs are removed (see
:func:`labelnoise._io.atomic_write`) exactly as on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import zipfile

import click

from labelnoise._validation import one_line

#: exit status per kind of error, the same for every command
EXIT_INTERNAL = 1  # a bug: an error labelnoise did not expect
EXIT_USAGE = 2  # a bad argument or bad values in the input (click's usage errors too)
EXIT_INPUT = 3  # an input file is missing, unreadable, corrupt or unsafe
EXIT_OUTPUT = 4  # an output cannot be written: exists, read-only, not a folder, disk full
EXIT_SIGINT = 130  # interrupted by Ctrl-C (SIGINT)
EXIT_SIGTERM = 143  # terminated (SIGTERM)
EXIT_CODES = {"internal": EXIT_INTERNAL, "usage": EXIT_USAGE, "input": EXIT_INPUT,
              "output": EXIT_OUTPUT, "interrupted": EXIT_SIGINT, "terminated": EXIT_SIGTERM}


class CLIError(click.ClickException):
    """A one-line error with the exit code of its kind (see :data:`EXIT_CODES`)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _one_line(exc: BaseException) -> str:
    text = one_line(exc)
    return text if len(text) <= 2000 else text[:2000] + " ..."


def classify(exc: BaseException) -> CLIError:
    """The :class:`CLIError` (message and exit code) for an exception a command raised."""
    from labelnoise._io import InputFileError, OutputError

    kind = EXIT_INTERNAL
    msg = _one_line(exc)
    if isinstance(exc, InputFileError):
        kind = EXIT_INPUT
    elif isinstance(exc, ImportError) and getattr(exc, "extra", None):  # an optional extra
        kind = EXIT_USAGE  # is missing (labelnoise.text.MissingTextExtraError): pip install
    elif isinstance(exc, OutputError | FileExistsError):
        kind = EXIT_OUTPUT
    elif isinstance(exc, (EOFError, pickle.UnpicklingError, zipfile.BadZipFile)):
        kind, msg = EXIT_INPUT, f"an input file is corrupt or unsafe: {msg}"
    elif isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        kind = EXIT_INPUT
        if exc.filename and str(exc.filename) not in msg:
            msg = f"{exc.filename}: {msg}"
    elif isinstance(exc, OSError) and type(exc).__module__.startswith("PIL"):
        kind = EXIT_INPUT
    elif isinstance(exc, OSError) and exc.errno is not None:
        kind = EXIT_OUTPUT if exc.errno in (13, 1, 28, 30, 122) else EXIT_INPUT
        if exc.filename and str(exc.filename) not in msg:
            msg = f"{exc.filename}: {msg}"
    elif isinstance(exc, OSError):  # e.g. a failed or refused download
        kind = EXIT_INPUT
    elif isinstance(exc, ValueError):
        kind = EXIT_USAGE
        mod = type(exc).__module__
        if mod.startswith("pandas"):  # EmptyDataError, ParserError: a malformed table
            kind, msg = EXIT_INPUT, f"a table cannot be read: {msg}"
    if kind == EXIT_INTERNAL:
        msg = (f"internal error ({type(exc).__name__}: {msg}); please report it "
               "(LABELNOISE_DEBUG=1 shows the traceback)")
    return CLIError(msg, kind)


#: the signal that interrupted the command, if any (an error raised while a library
#: unwinds from it, e.g. matplotlib re-raising KeyboardInterrupt as RuntimeError, is
#: still reported as the interruption)
_received: list[int] = []


def _on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(EXIT_SIGTERM)


@contextlib.contextmanager
def handle_errors():
    """Turn the exceptions of a command's body into one-line click errors (see module)."""
    if os.environ.get("LABELNOISE_DEBUG"):
        yield
        return
    try:
        yield
    except SystemExit as exc:
        # the group and its command each run this handler: say it once
        if exc.code == EXIT_SIGTERM and not getattr(exc, "labelnoise_reported", False):
            click.echo("Error: terminated", err=True)
            exc.labelnoise_reported = True
        raise
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(EXIT_SIGINT)
    except Exception as exc:  # every other error: one line, no traceback
        if _received:
            interrupted = _received[0] == signal.SIGINT
            click.echo("Error: interrupted" if interrupted else "Error: terminated", err=True)
            stop = SystemExit(EXIT_SIGINT if interrupted else EXIT_SIGTERM)
            stop.labelnoise_reported = True
            raise stop from None
        raise classify(exc) from None


def install_signal_handlers() -> None:
    """SIGTERM raises ``SystemExit(143)`` and SIGINT ``KeyboardInterrupt`` (unless other
    handlers are already set), both remembered; warnings print as one line
    ``Warning: <message>``."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        click.echo(f"Warning: {' '.join(str(message).split())}", err=True)

    warnings.showwarning = show


class ReportsErrors:
    """Mixin for click commands and groups: errors of the body are reported by
    :func:`handle_errors`, and :func:`install_signal_handlers` runs on entry."""

    def invoke(self, ctx):
        with handle_errors():
            return super().invoke(ctx)

    def main(self, *args, **kwargs):
        install_signal_handlers()
        return super().main(*args, **kwargs)


class Command(ReportsErrors, click.Command):
    """A click command whose errors are reported by :func:`handle_errors`."""


def progress_option(command):
    """The ``--progress/--no-progress`` option every command takes (see :func:`show_progress`)."""
    return click.option(
        "--progress/--no-progress", "progress", default=None,
        help="Show progress bars [default: only when stderr is a terminal].")(command)


def _check_device(ctx, param, value):  # noqa: ARG001 - click callback signature
    """``--device`` as given, once :func:`labelnoise.training.engine.resolve_device` has
    accepted it (a device this machine has), before the command reads any data."""
    if value is None:
        return None
    from labelnoise.training.engine import resolve_device

    try:
        resolve_device(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None
    return value


def device_option(command):
    """The ``--device`` option of the commands that run a network (train, predict)."""
    return click.option("--device", default=None, callback=_check_device,
                        help="torch device (default: cuda if available).")(command)


def skip_unreadable_option(listed: str):
    """The ``--skip-unreadable`` option of the commands that read image folders (audit,
    train, predict); ``listed`` says where the files left out are named."""
    def deco(command):
        return click.option(
            "--skip-unreadable", is_flag=True,
            help="Image folders: leave out the files that cannot be decoded (each file is "
                 f"decoded once beforehand) and {listed}, instead of stopping at the "
                 "first.")(command)
    return deco


def show_progress(progress: bool | None) -> bool:
    """Whether to show progress bars: as asked, else only when stderr is a terminal (so a
    piped or logged run stays quiet)."""
    if progress is not None:
        return bool(progress)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def parse_class_names(value: str | None, param_hint: str = "--class-names") -> list | None:
    """The class list of ``--class-names``: a file with one name per line, or names
    separated by commas; names that are all integers become ints (so integer labels such
    as 3, 7, 9 are matched as values, not read as column indices).

    Raises:
        click.BadParameter: fewer than 2 names, an empty name or a repeated name.
    """
    if value is None:
        return None
    from pathlib import Path

    path = Path(value).expanduser()
    if path.is_file():
        from labelnoise._io import InputFileError

        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{param_hint} {path}: cannot be read ({exc})") from None
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        names = [part.strip() for part in value.split(",")]
    if any(not n for n in names):
        raise click.BadParameter(f"an empty class name in {value!r}", param_hint=param_hint)
    if len(names) < 2:
        raise click.BadParameter(f"give at least 2 class names (a,b,c or a file with one "
                                 f"name per line), got {value!r}", param_hint=param_hint)
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise click.BadParameter(f"class name {dup[0]!r} is repeated", param_hint=param_hint)
    try:
        return [int(n) for n in names]
    except ValueError:
        return names


def class_names_option(command):
    """The ``--class-names`` option of the commands that read labels and pred_probs."""
    return click.option(
        "--class-names", "class_names", default=None,
        help="The classes in the order of the pred_probs columns: a,b,c or a file with one "
             "name per line (default: the header of a pred_probs CSV/Parquet, else the "
             "sorted label values).")(command)


def merge_class_names(given: list | None, from_files: list, what: str = "--pred-probs") -> list | None:
    """One class list from ``--class-names`` and the headers of the pred_probs files
    (each a list of names or None); they must agree.

    Raises:
        click.BadParameter: two headers differ, or a header differs from ``--class-names``.
    """
    headers = [h for h in from_files if h is not None]
    for h in headers[1:]:
        if h != headers[0]:
            raise click.BadParameter(f"the pred_probs files name different classes: "
                                     f"{headers[0]} and {h}", param_hint=what)
    header = headers[0] if headers else None
    if given is not None and header is not None and [str(n) for n in given] != header:
        raise click.BadParameter(
            f"--class-names {','.join(map(str, given))} differs from the class names in the "
            f"header of {what} ({','.join(header)}); the header fixes which column is which "
            "class", param_hint="--class-names")
    return given if given is not None else header
