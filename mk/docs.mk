# The generated parts of docs/ (tools/docgen.py): the DAG of docs/architecture.md and the log of a real run.
RUN_LOG_DIR        ?= build/run-log

.PHONY: docs-graph run-log test-time

docs-graph: $(VENV_STAMP) ## redraw the DAG of docs/architecture.md from specs/ (python -m runner graph)
	$(PY) -m tools.docgen graph docs/architecture.md

run-log: $(VENV_STAMP) ## run make pipeline on the bundled sample in a fresh state and keep its log in docs/pipeline-run.log
	$(PY) -m tools.docgen run-log --state "$(RUN_LOG_DIR)" --out docs/pipeline-run.log

test-time: $(VENV_STAMP) ## run make test and write its measured time (and the machine) into README.md
	$(PY) -m tools.docgen test-time README.md
