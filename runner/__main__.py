"""``python -m runner``: see runner/cli.py."""

from runner.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
