# The whole local pipeline in one container, for a machine with Docker and no cluster:
# the local runner runs ingest, features and train on the bundled sample (make pipeline).
#   docker build -t stockpipe/pipeline:0.1.0 .          (or: make local-image)
#   docker run --rm stockpipe/pipeline:0.1.0
# Another dataset: mount a folder in the Kaggle layout or the Kaggle zip and name it in RAW:
#   docker run --rm -v ~/Downloads/stock-market-dataset.zip:/raw/kaggle.zip:ro -e RAW=/raw/kaggle.zip stockpipe/pipeline:0.1.0
# Keep the results (the runner's repos and commits) in a named volume:
#   docker run --rm -v stockpipe-pfs:/app/.pfs stockpipe/pipeline:0.1.0
# Then serve the model of that run:
#   docker run --rm -p 8000:8000 -v stockpipe-pfs:/app/.pfs stockpipe/pipeline:0.1.0 make serve HOST=0.0.0.0
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# make runs the pipeline; LightGBM's wheel links the system OpenMP runtime (libgomp.so.1).
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 stockpipe \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash stockpipe

WORKDIR /app

# The virtualenv exactly as `make venv` builds it on a developer's machine, in its own layer.
COPY Makefile requirements-dev.txt requirements-runner.txt ./
COPY stages/ingest/requirements.txt stages/ingest/requirements.txt
COPY stages/features/requirements.txt stages/features/requirements.txt
COPY stages/train/requirements.txt stages/train/requirements.txt
COPY stages/evaluate/requirements.txt stages/evaluate/requirements.txt
COPY api/requirements.txt api/requirements.txt
RUN make venv

# The repository (.dockerignore keeps .venv, .pfs, build, data/synth, data/kaggle and .git out).
# The stamp is touched last so that make does not reinstall the virtualenv at run time.
COPY --chown=1000:1000 . .
RUN touch .venv/.installed \
    && mkdir -p .pfs \
    && chown 1000:1000 /app .pfs

USER 1000:1000
EXPOSE 8000
CMD ["make", "pipeline"]
