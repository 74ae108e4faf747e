"""Evaluate stage: the served model against the reference forest and the naive baseline, on the
random 80/20 split and a time split (docs/model.md)."""
