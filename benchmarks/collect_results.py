"""Assemble benchmarks/RESULTS.md from the sections the benchmark scripts write to results/.

    python benchmarks/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

from labelnoise import _io

HERE = Path(__file__).parent
ORDER = ["detection", "detection_dev", "speed", "datasets", "consensus", "training",
         "training_features", "audit"]

HEADER = """# Benchmark results

Every figure quoted in the README, a docstring or an issue note comes from a script in this
folder. Each section below is written by its script into `results/<name>.md` (with the
command, the machine and the date) and assembled here by `python benchmarks/collect_results.py`.
Speed and memory are measured as ratios against a reference in the same run.
"""


def main() -> None:
    parts = [HEADER]
    names = [n for n in ORDER if (HERE / "results" / f"{n}.md").exists()]
    names += sorted(p.stem for p in (HERE / "results").glob("*.md") if p.stem not in ORDER)
    for name in names:
        parts.append((HERE / "results" / f"{name}.md").read_text().strip() + "\n")
    _io.write_text(HERE / "RESULTS.md", "\n".join(parts))
    print(f"wrote {HERE / 'RESULTS.md'} ({', '.join(names)})")


if __name__ == "__main__":
    main()
