"""``python -m labelnoise``: the command line (same as the ``labelnoise`` command)."""

from labelnoise.cli import run

if __name__ == "__main__":
    run()
