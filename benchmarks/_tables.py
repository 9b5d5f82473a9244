"""Small helpers shared by the benchmark scripts: cached JSON-line runs, table cells and the
machine's name."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from labelnoise import _io

#: where the benchmark scripts keep their finished runs (one folder per script, committed):
#: a machine's caches do not survive a move to a fresh machine, the repository does, so a
#: table can always be re-rendered and extended from its runs
RAW = Path(__file__).resolve().parent / "results" / "raw"


def store_dir(script: str) -> Path:
    """The default ``--store-dir`` of a benchmark script: ``benchmarks/results/raw/<script>``."""
    return RAW / script


def refuse_empty_render(rows: list, store: Path, markdown: Path) -> None:
    """Exit (status 0, a one-line message) instead of overwriting ``markdown`` with an empty
    table when ``store`` holds no runs (e.g. a fresh clone run with ``--render-only``)."""
    if not rows:
        print(f"no runs in {store}: {markdown} left as it is")
        raise SystemExit(0)


def runs_shown(markdown_text: str) -> int:
    """The number of runs a rendered training table shows, over every table whose header
    starts ``| setting | noise rate | method |``: the sum of its ``seeds`` column where it
    has one (``| setting | noise rate | method | seeds |``), else one run per row whose
    next cell is a figure (the one-seed tables of ``train_cifar.py``'s cpu-small and
    cpu-30min profiles, whose ``not run`` rows are placeholders)."""
    lines = markdown_text.splitlines()
    total = 0
    for head, line in enumerate(lines):
        if not line.startswith("| setting | noise rate | method |"):
            continue
        seeds = line.startswith("| setting | noise rate | method | seeds |")
        for row in lines[head + 2:]:
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip("|").split("|")]
            if not seeds:
                total += len(cells) > 3 and _is_number(cells[3])
            elif len(cells) > 3 and cells[3].isdigit():
                total += int(cells[3])
    return total


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def shrinks(new_text: str, old_text: str | None) -> tuple[int, int] | None:
    """``(shown before, shown after)`` when ``new_text`` shows fewer runs than
    ``old_text`` (runs lost from a store, or a store only partly re-run), else None."""
    before = runs_shown(old_text or "")
    after = runs_shown(new_text)
    return (before, after) if after < before else None


def write_table(text: str, markdown: Path, store: Path, force: bool = False) -> None:
    """Write a training table to ``markdown``, unless it would show fewer runs than the one
    there (:func:`shrinks`) and not ``force``: then a one-line message and ``markdown`` is
    left as it is."""
    fewer = shrinks(text, markdown.read_text() if markdown.exists() else None)
    if fewer and not force:
        print(f"{markdown} shows {fewer[0]} runs, {store} has {fewer[1]}: left as it is "
              "(--force-render replaces it)")
        return
    markdown.parent.mkdir(parents=True, exist_ok=True)
    _io.write_text(markdown, text)
    print(f"wrote {markdown}")


def load_rows(path: Path) -> list[dict]:
    """The runs cached in a JSON-lines file (one run per line; [] when it does not exist).
    A last line cut short (a run killed while appending it) is skipped with a message; a
    bad line elsewhere raises ValueError naming the file and line."""
    rows = []
    lines = path.read_text().splitlines() if path.exists() else []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise ValueError(f"{path}, line {i + 1}: not a JSON row") from None
            print(f"{path}: last line is cut short (a run killed while writing it); skipped")
    return rows


def append_row(store: Path, row: dict) -> None:
    """Append ``row`` as one JSON line to ``store`` under an exclusive lock (several worker
    processes may share one store)."""
    import fcntl

    with store.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(row) + "\n")
        f.flush()


def write_rows(store: Path, rows: list[dict]) -> None:
    """Replace ``store`` with ``rows``, one JSON line each, atomically."""
    _io.write_text(store, "".join(json.dumps(r) + "\n" for r in rows))


class _StopTiming(Exception):
    """Raised from ``on_epoch`` to end :func:`epoch_seconds`'s run."""


def epoch_seconds(fit, *args, stop_after: int, **kwargs) -> list[float]:
    """Wall seconds of each of the first ``stop_after`` epochs of ``fit(*args, **kwargs)``
    (a training method's ``fit`` taking ``on_epoch``; ``kwargs`` keep their own
    ``epochs``, the schedule's length), stopped there: a method's cost."""
    seen: list = []

    def stop(history):
        seen[:] = [h["seconds"] for h in history]
        if len(history) >= stop_after:
            raise _StopTiming

    try:
        fit(*args, **kwargs, on_epoch=stop)
    except _StopTiming:
        pass
    return seen


def mean_std_percent(vals) -> str:
    """Fractions as a percentage cell: ``"12.3"`` for one value, else ``"mean ± std"``
    (sample standard deviation)."""
    vals = [100 * v for v in vals]
    if len(vals) == 1:
        return f"{vals[0]:.1f}"
    return f"{np.mean(vals):.1f} ± {np.std(vals, ddof=1):.1f}"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (else what ``platform`` knows), for a table's
    "Machine" line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
