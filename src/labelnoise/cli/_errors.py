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
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + " ..."


def classify(exc: BaseException) -> CLIError:
    """The :class:`CLIError` (message and exit code) for an exception a command raised."""
    from labelnoise._io import InputFileError, OutputError

    kind = EXIT_INTERNAL
    msg = _one_line(exc)
    if isinstance(exc, InputFileError):
        kind = EXIT_INPUT
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
        if exc.code == EXIT_SIGTERM:
            click.echo("Error: terminated", err=True)
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
            sys.exit(EXIT_SIGINT if interrupted else EXIT_SIGTERM)
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
