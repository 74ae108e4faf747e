# Images: one per line of images.txt (stockpipe/<name>:$(VERSION), the tags specs/*.json name) and
# the root Dockerfile's whole-pipeline image, built on either base (docs/running.md, "Docker"):
#   make base-image                                        stand-in base from Debian packages
#   make images BASE_IMAGE=stockpipe/base:bookworm-py3.11  every image on it, then their sizes
#   make lock                                              recompile every requirements.lock
# Builds use BuildKit (tools/images/buildkit-command picks `docker buildx build` or a client with
# BuildKit built in) and reuse cached layers: the locked requirements install before the code.

# Empty: each Dockerfile's own default, python:3.11.11-slim-bookworm pinned by digest.
BASE_IMAGE       ?=
LOCAL_BASE_IMAGE ?= stockpipe/base:bookworm-py3.11
CA_BUNDLE        ?= /etc/ssl/certs/ca-certificates.crt
# The root Dockerfile: the whole local pipeline (make pipeline) in one container.
LOCAL_IMAGE      ?= stockpipe/pipeline:$(VERSION)
HOSTED_IMAGE     ?= stockpipe/api-hosted:$(VERSION)
export BASE_IMAGE CA_BUNDLE

.PHONY: base-image images local-image hosting-image image-sizes lock

base-image: ## build $(LOCAL_BASE_IMAGE), a python:3.11-slim-bookworm stand-in from Debian packages (debootstrap)
	$(call require_tools,docker)
	tools/base_image/build.sh "$(LOCAL_BASE_IMAGE)"

images: ## build every image of images.txt and the root image (BASE_IMAGE=... for another base), print sizes
	$(call require_tools,docker)
	@set -e; $(foreach name,$(IMAGE_NAMES),tools/images/build.sh $(call image_folder,$(name))/Dockerfile stockpipe/$(name):$(VERSION);)
	tools/images/build.sh Dockerfile "$(LOCAL_IMAGE)"
	@$(MAKE) --no-print-directory image-sizes

local-image: ## build only the root image: make pipeline in one container ($(LOCAL_IMAGE))
	$(call require_tools,docker)
	tools/images/build.sh Dockerfile "$(LOCAL_IMAGE)"

hosting-image: hosting-model ## build api/hosting/Dockerfile with the latest model built in ($(HOSTED_IMAGE))
	$(call require_tools,docker)
	tools/images/build.sh api/hosting/Dockerfile "$(HOSTED_IMAGE)"

image-sizes: ## print the size of every image make images builds
	@for tag in $(foreach name,$(IMAGE_NAMES),stockpipe/$(name):$(VERSION)) $(LOCAL_IMAGE); do \
	  size="$$(docker image inspect --format '{{.Size}}' "$$tag" 2>/dev/null)" || { printf '  %-32s not built\n' "$$tag"; continue; }; \
	  printf '  %-32s %5d MB\n' "$$tag" "$$((size / 1000000))"; \
	done

lock: $(VENV_STAMP) ## recompile every image's requirements.lock from its requirements.txt (exact versions, hashes)
	$(PY) -m tools.locks compile
