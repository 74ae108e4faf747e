# The train and evaluate stages (docs/model.md): regenerate the model doc and its plot from their outputs.
#   make pipeline && make model-doc                          (the last local run's model)
#   make model-doc TRAIN_DIR=<train out> EVALUATE_DIR=<evaluate out>   (e.g. a full-scale bench run)

# The outputs the doc is written from: the heads of the local runner's train and evaluate repos.
TRAIN_DIR    ?= $(PFS_STATE)/train/master
EVALUATE_DIR ?= $(PFS_STATE)/evaluate/master
MODEL_DOC    := docs/model.md
MODEL_PLOT   := docs/model-predictions.png

.PHONY: model-doc plot

model-doc: $(VENV_STAMP) ## rewrite docs/model.md's numbers and its plot from TRAIN_DIR and EVALUATE_DIR (default: the last make pipeline)
	$(PY) -m stages.train.modeldoc --train-dir "$(TRAIN_DIR)" --evaluate-dir "$(EVALUATE_DIR)" \
	    --doc $(MODEL_DOC) --plot $(MODEL_PLOT)

plot: $(VENV_STAMP) ## redraw docs/model-predictions.png (predicted vs actual volume, time split) from EVALUATE_DIR
	$(PY) -m stages.train.modeldoc --train-dir "$(TRAIN_DIR)" --evaluate-dir "$(EVALUATE_DIR)" --plot $(MODEL_PLOT)
