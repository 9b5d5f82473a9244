"""``python -m labelnoise``: the command line (same as the ``labelnoise`` command)."""

from labelnoise.cli import main

if __name__ == "__main__":
    main(prog_name="labelnoise")
