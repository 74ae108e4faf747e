"""Tiny stage programs the runner's tests run (warm as ``python3 -m tests.runner.stages.<name>``)."""
