"""stockpipe's local runner: Pachyderm pipeline specs run on one machine (``python -m runner``).

Entry points: ``runner.cli.main(argv) -> int`` (the command line, callable in-process) and
``runner.spec.load_spec(path) -> Spec`` (strict spec validation). Design: runner/README.md.
"""
