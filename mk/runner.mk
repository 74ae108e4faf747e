# The local runner (python -m runner, runner/README.md): its tests and its datum benchmark.

.PHONY: bench-runner test-runner

bench-runner: $(VENV_STAMP) ## benchmark the local runner: 8,000 one-file datums (goal <= 20 s; unchanged re-run <= 3 s)
	$(PY) -m bench.runner_datums --workdir /tmp/stockpipe-bench-runner

test-runner: $(VENV_STAMP) ## run the local runner's tests only
	$(PY) -m pytest tests/runner -q
