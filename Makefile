# stockpipe: the two commands of the README are the contract.
#   make pipeline   run the whole pipeline locally (bundled sample, or RAW=<folder|zip|kaggle>)
#   make test       lint and run every test
# Targets of each part live beside it in mk/*.mk and are included at the end.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
VENV_STAMP  := $(VENV)/.installed
# Every image and the folder of its build files, from images.txt (the one list of stages and images);
# read with shell builtins only (make works whatever PATH holds); a name starts with a-z.
IMAGE_ROWS    := $(shell while read -r name folder rest; do \
                   case "$$name" in ([a-z]*) echo "$$name:$$folder";; esac; done < images.txt)
IMAGE_NAMES   := $(foreach row,$(IMAGE_ROWS),$(firstword $(subst :, ,$(row))))
image_folder   = $(patsubst $(1):%,%,$(filter $(1):%,$(IMAGE_ROWS)))
REQUIREMENTS  := requirements-dev.txt requirements-runner.txt \
                 $(foreach name,$(IMAGE_NAMES),$(call image_folder,$(name))/requirements.txt)
# Where the local runner keeps its repos and commits (also read by python -m runner).
export PFS_STATE ?= .pfs
# What `make pipeline` puts into the raw repo: a folder in the Kaggle layout, the Kaggle
# zip as downloaded, or the word `kaggle` to download it with your Kaggle credentials.
RAW         ?= data/sample
# Where `make pipeline` and `make up` run datums: local (this machine's .venv) or docker (each spec's image).
EXECUTOR    ?= local
# Image tag of every stage and of the API (specs/*.json name the same tag).
VERSION     ?= 0.1.0
# pytest processes of `make test` (pytest-xdist), each running whole test modules (--dist loadscope:
# a module's fixtures are built once); 0 runs every test in one process. Measured: docs/running.md.
TEST_WORKERS ?= 2

# $(call require_model,DIR): stop at once (before any install) when DIR holds no trained model.
define require_model
	@if [ ! -f "$(1)/model.json" ]; then \
	  echo "make $@: no trained model at $(1)/model.json; run 'make pipeline' first (PFS_STATE=$(PFS_STATE))" >&2; \
	  exit 1; \
	fi
endef
# The `make serve` line a closing hint prints: it names the state folder and port in use.
serve_hint = make serve$(if $(filter-out .pfs,$(PFS_STATE)), PFS_STATE=$(PFS_STATE))$(if $(filter-out 127.0.0.1,$(HOST)), HOST=$(HOST))$(if $(filter-out 8000,$(PORT)), PORT=$(PORT))
# Create .venv if needed, as a step of a recipe (so a cheap check can come before it).
ensure_venv = $(if $(VENV_STAMP),@$(MAKE) --no-print-directory $(VENV_STAMP))

.DEFAULT_GOAL := help
.PHONY: help venv pipeline test lint format clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## create .venv with every dependency (done on first use by the other targets)

$(VENV_STAMP): $(REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

pipeline: $(VENV_STAMP) ## run ingest, features and train locally on RAW (default: the bundled sample)
	@raw="$$($(PY) -m tools.fetch_raw "$(RAW)")" && \
	$(PY) -m runner put file -r --replace raw@master:/ -f "$$raw" && \
	$(PY) -m runner update pipeline -f specs/ && \
	$(PY) -m runner run --executor "$(EXECUTOR)" && \
	$(PY) -m stages.ingest.summary "$(PFS_STATE)/ingest/master" && \
	echo "outputs: $(PFS_STATE)/<repo>/master/ (one repo per pipeline of specs/); model: $(PFS_STATE)/train/master/model.txt" && \
	echo "next: $(serve_hint), then curl 'http://$(HOST):$(PORT)/predict?vol_moving_avg=2500000&adj_close_rolling_med=41.5'"

test: $(VENV_STAMP) lint ## lint, then run the whole test suite
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: $(VENV_STAMP) ## ruff over the code
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV_STAMP) ## apply ruff's formatting and safe fixes
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## remove the local runner's state (.pfs) and build output; keeps .venv
	rm -rf "$(PFS_STATE)" build

-include mk/*.mk
