# The whole local pipeline in one container, for a machine with Docker and no cluster:
# the local runner runs ingest, features and train on the bundled sample (make pipeline).
#   make local-image                    (or: DOCKER_BUILDKIT=1 docker build -t stockpipe/pipeline:0.1.0 .)
#   docker run --rm stockpipe/pipeline:0.1.0
# Another dataset: mount a folder in the Kaggle layout or the Kaggle zip and name it in RAW:
#   docker run --rm -v ~/Downloads/stock-market-dataset.zip:/raw/kaggle.zip:ro -e RAW=/raw/kaggle.zip stockpipe/pipeline:0.1.0
# Keep the results (the runner's repos and commits) in a named volume:
#   docker run --rm -v stockpipe-pfs:/app/.pfs stockpipe/pipeline:0.1.0
# Then serve the model of that run:
#   docker run --rm -p 127.0.0.1:8000:8000 -v stockpipe-pfs:/app/.pfs stockpipe/pipeline:0.1.0 make serve HOST=0.0.0.0

# The official image, pinned by tag and digest. To update it, on a machine that reaches Docker Hub:
#   docker pull python:3.11.X-slim-bookworm
#   docker image inspect --format '{{index .RepoDigests 0}}' python:3.11.X-slim-bookworm
# and put the printed name@sha256:... in every Dockerfile (tests/images/test_dockerfiles.py checks
# they agree). Without Docker Hub: make base-image, then BASE_IMAGE=stockpipe/base:bookworm-py3.11.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
FROM ${BASE_IMAGE}

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
# One COPY line per image of images.txt (tests/images/test_image_list.py checks they agree).
# The CA bundle is a BuildKit secret for pip (a TLS-intercepting proxy), never a layer.
COPY Makefile images.txt requirements-dev.txt requirements-runner.txt ./
COPY stages/ingest/requirements.txt stages/ingest/requirements.txt
COPY stages/features/requirements.txt stages/features/requirements.txt
COPY stages/train/requirements.txt stages/train/requirements.txt
COPY stages/evaluate/requirements.txt stages/evaluate/requirements.txt
COPY api/requirements.txt api/requirements.txt
RUN --mount=type=secret,id=ca_bundle,target=/run/secrets/ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && make venv

# The repository through the allow-list .dockerignore (code, specs, the bundled sample; never
# credentials, local state or generated data), owned by root: the runtime user reads it and
# writes only its state folder .pfs. The stamp is touched last so make does not reinstall the venv.
COPY . .
RUN touch .venv/.installed \
    && mkdir -p .pfs \
    && chown 1000:1000 .pfs

USER 1000:1000
EXPOSE 8000
CMD ["make", "pipeline"]
