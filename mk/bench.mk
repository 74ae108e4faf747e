# Kaggle-scale benchmark (docs/benchmarks.md): the synthetic dataset and `make bench`.
#   make bench              SCALE=1.0: ~26 M rows, ~2.8 GB of CSV; writes docs/benchmarks.md
#   make bench SCALE=0.05   quick check (all 8,049 files, 5 % of their rows)
SCALE      ?= 1.0
SYNTH_SEED ?= 0
SYNTH_DIR  ?= data/synth/scale-$(SCALE)

.PHONY: bench synth

synth: $(VENV_STAMP) ## generate the synthetic Kaggle-layout dataset into data/synth/scale-$(SCALE) if missing
	@test -d "$(SYNTH_DIR)" && echo "$(SYNTH_DIR) exists" || \
	$(PY) -m tools.synth --scale $(SCALE) --seed $(SYNTH_SEED) --out "$(SYNTH_DIR)"

bench: $(VENV_STAMP) ## benchmark ingest, features, train and the baselines at SCALE (default 1.0)
	$(PY) -m bench --scale $(SCALE) --seed $(SYNTH_SEED) --data "$(SYNTH_DIR)"
