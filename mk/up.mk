# The live loop (docs/architecture.md, "When pipelines run"): put RAW in, then run every pipeline
# whenever an input gets a commit, with the serve pipeline kept up and reloaded on a new model.
#   make up        then, in another terminal: python -m runner put file raw@master:/stocks/A.csv -f A.csv
# HOST and PORT as for `make serve` (mk/api.mk); CORES: cores shared by the jobs (default: all).
# EXECUTOR=docker: every job's datums in its pipeline's image and serve from stockpipe/api (make images).

CORES ?=

.PHONY: up

up: $(VENV_STAMP) ## put RAW into raw@master, then run the live loop: jobs on every new commit, the API on HOST:PORT (EXECUTOR=docker: in the images; Ctrl-C stops)
	@raw="$$($(PY) -m tools.fetch_raw "$(RAW)")" && \
	$(PY) -m runner put file -r raw@master:/ -f "$$raw" && \
	$(PY) -m runner update pipeline -f specs/ && \
	echo "make up: the API will answer on http://$(HOST):$(PORT) once train has a commit (/predict, /model);" \
	  "in another terminal: $(PY) -m runner put file raw@master:/stocks/<SYM>.csv -f <changed file>" && \
	exec $(PY) -m runner up --host "$(HOST)" --port "$(PORT)" --executor "$(EXECUTOR)" $(if $(CORES),--cores $(CORES))
