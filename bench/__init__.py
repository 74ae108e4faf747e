"""Benchmarks of the pipeline (``make bench``) and of the local runner (``make bench-runner``)."""
