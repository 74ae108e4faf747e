# The train stage (docs/model.md): regenerate the model doc and its plot from a train output.
#   make pipeline && make model-doc            (the last local run's model)
#   make model-doc TRAIN_DIR=<a train output>  (e.g. a full-scale bench run's train/master)

# The train output the doc is written from: the head of the local runner's train repo.
TRAIN_DIR   ?= $(PFS_STATE)/train/master
MODEL_DOC   := docs/model.md
MODEL_PLOT  := docs/model-predictions.png

.PHONY: model-doc plot

model-doc: $(VENV_STAMP) ## rewrite docs/model.md's numbers and its plot from TRAIN_DIR (default: the last make pipeline)
	$(PY) -m stages.train.modeldoc --model-dir "$(TRAIN_DIR)" --doc $(MODEL_DOC) --plot $(MODEL_PLOT)

plot: $(VENV_STAMP) ## redraw docs/model-predictions.png (predicted vs actual volume, time split) from TRAIN_DIR
	$(PY) -m stages.train.modeldoc --model-dir "$(TRAIN_DIR)" --plot $(MODEL_PLOT)
