# The API (docs/serving.md): serve the model of the latest local train commit, load-test it,
# run the demo notebook against it, and package it for hosting.
#   make pipeline && make serve      then: curl '127.0.0.1:8000/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5'

HOST        ?= 127.0.0.1
PORT        ?= 8000
WORKERS     ?= 2
THREADS     ?= 1
API_BUILD   ?= build/api
# The model `make serve` serves: the head of the train repo's master in the local runner's state.
TRAIN_HEAD  := $(PFS_STATE)/train/master
# Load test and demo notebook: the pipeline's model if there is one, else a small model fit on
# the bundled sample (api/devtools/sample_model.py) so they also work before `make pipeline`.
API_DEMO_MODEL = $(if $(wildcard $(TRAIN_HEAD)/model.json),$(TRAIN_HEAD),$(API_BUILD)/sample-model)

.PHONY: serve loadtest demo-notebook hosting-model api-sample-model

# No model yet: fail at once, before creating .venv, saying what to run. A runner without `inspect commit --json` (or a
# folder put there by hand) still serves; /model then reports no train commit.
serve: ## serve the latest local train commit's model on HOST:PORT (127.0.0.1:8000; WORKERS, THREADS)
	$(call require_model,$(TRAIN_HEAD))
	$(ensure_venv)
	@mkdir -p "$(API_BUILD)"
	@model_dir="$$(cd "$(TRAIN_HEAD)" && pwd -P)"; \
	provenance="$(API_BUILD)/train-commit.json"; \
	if $(PY) -m runner inspect commit train@master --json > "$$provenance" 2>/dev/null; then \
	  echo "make serve: train commit $$($(PY) -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$$provenance")"; \
	else rm -f "$$provenance"; provenance=""; fi; \
	echo "make serve: $$model_dir on http://$(HOST):$(PORT) ($(WORKERS) workers x $(THREADS) threads; Ctrl-C stops)"; \
	MODEL_DIR="$$model_dir" MODEL_PROVENANCE="$$provenance" HOST="$(HOST)" PORT="$(PORT)" \
	WORKERS="$(WORKERS)" THREADS="$(THREADS)" \
	exec $(PY) -m gunicorn --config python:api.gunicorn_conf api.wsgi:app

$(API_BUILD)/sample-model/model.json: $(VENV_STAMP)
	$(PY) -m api.devtools.sample_model "$(API_BUILD)/sample-model"

api-sample-model: $(API_BUILD)/sample-model/model.json ## fit the small stand-in model on data/sample (build/api/sample-model)

loadtest: $(VENV_STAMP) ## bounded wrk load test on loopback, with a slow-client round (9 min on a busy 2-core machine); writes docs/load-test.md
	@command -v wrk >/dev/null 2>&1 || { echo "make loadtest: installing wrk (Debian package)"; \
	  apt-get update -qq && apt-get install -y -qq wrk; }
	@if [ "$(API_DEMO_MODEL)" = "$(API_BUILD)/sample-model" ]; then $(MAKE) --no-print-directory api-sample-model; fi
	$(PY) -m api.devtools.loadtest --model "$(API_DEMO_MODEL)" --out docs/load-test.md \
	  --workers "$(WORKERS)" --threads "$(THREADS)"

demo-notebook: $(VENV_STAMP) ## run docs/serving-demo.ipynb against a live local server and save its outputs
	@if [ "$(API_DEMO_MODEL)" = "$(API_BUILD)/sample-model" ]; then $(MAKE) --no-print-directory api-sample-model; fi
	@mkdir -p "$(API_BUILD)"; prov=""; \
	if [ "$(API_DEMO_MODEL)" = "$(TRAIN_HEAD)" ] && \
	   $(PY) -m runner inspect commit train@master --json > "$(API_BUILD)/train-commit.json" 2>/dev/null; then \
	  prov="--provenance $(API_BUILD)/train-commit.json"; fi; \
	$(PY) -m api.devtools.demo_notebook --model "$(API_DEMO_MODEL)" --notebook docs/serving-demo.ipynb $$prov

hosting-model: ## copy the latest train commit's model into api/hosting/model/ (for api/hosting/Dockerfile)
	$(call require_model,$(TRAIN_HEAD))
	$(ensure_venv)
	rm -rf api/hosting/model && mkdir -p api/hosting/model
	cp -L "$(TRAIN_HEAD)/model.json" "$(TRAIN_HEAD)/model.txt" api/hosting/model/
	@if [ -f "$(TRAIN_HEAD)/metrics.json" ]; then cp -L "$(TRAIN_HEAD)/metrics.json" api/hosting/model/; fi
	@$(PY) -m runner inspect commit train@master --json > api/hosting/model/train-commit.json 2>/dev/null \
	  || echo '{"id": null, "note": "no runner commit record"}' > api/hosting/model/train-commit.json
	@echo "make hosting-model: api/hosting/model/ ready; next: fly deploy . --config api/hosting/fly.toml --dockerfile api/hosting/Dockerfile"
