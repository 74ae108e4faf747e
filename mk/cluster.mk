# The scale-out path: the same specs on Pachyderm in a local kind cluster (docs/running.md).
#   make cluster images kind-load deploy put-raw predict-url
# None of this runs on the development machines (no Docker engine, no Kubernetes); each target
# first checks that its tools are installed and says where to get the missing ones.

KIND_CLUSTER       ?= stockpipe
# Pachyderm release of the helm chart; pachctl and pachyderm-sdk (requirements-dev.txt) match it.
PACHYDERM_VERSION  ?= 2.12.2
# Pachyderm's proxy NodePort (30080) is mapped to port 80 of this machine by kind-cluster.yaml.
PACHD_ADDRESS      ?= http://localhost:80
# deploy and put-raw use the Python script on pachyderm-sdk (python) or pachctl (pachctl).
DEPLOY_WITH        ?= python

.PHONY: cluster cluster-delete kind-load deploy put-raw predict-url hadolint

# $(call require_tools,tool ...): stop with one line per missing tool and where to get it.
define require_tools
	@missing=""; for tool in $(1); do command -v "$$tool" >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make $@: missing tool(s):$$missing" >&2; \
	  for tool in $$missing; do case "$$tool" in \
	    docker)  echo "  docker:  Docker Engine or Desktop, https://docs.docker.com/get-docker/" >&2 ;; \
	    kind)    echo "  kind:    https://kind.sigs.k8s.io/docs/user/quick-start/#installation" >&2 ;; \
	    helm)    echo "  helm:    https://helm.sh/docs/intro/install/" >&2 ;; \
	    kubectl) echo "  kubectl: https://kubernetes.io/docs/tasks/tools/" >&2 ;; \
	    pachctl) echo "  pachctl: $(PACHYDERM_VERSION), https://docs.pachyderm.com/latest/set-up/pachctl/ (brew install pachyderm/tap/pachctl@2.12, or the .deb of the GitHub release)" >&2 ;; \
	    *)       echo "  $$tool" >&2 ;; \
	  esac; done; exit 1; \
	fi
endef

cluster: ## kind cluster (kind-cluster.yaml) + Pachyderm (helm, deployTarget=LOCAL, proxy NodePort) + pachctl connect
	$(call require_tools,docker kind helm kubectl pachctl)
	@if kind get clusters 2>/dev/null | grep -qx "$(KIND_CLUSTER)"; then \
	  echo "kind cluster $(KIND_CLUSTER) exists"; \
	else \
	  kind create cluster --name "$(KIND_CLUSTER)" --config kind-cluster.yaml; \
	fi
	helm repo add pachyderm https://helm.pachyderm.com --force-update
	helm repo update pachyderm
	helm upgrade --install pachyderm pachyderm/pachyderm --version "$(PACHYDERM_VERSION)" \
	  --kube-context "kind-$(KIND_CLUSTER)" \
	  --set deployTarget=LOCAL \
	  --set proxy.enabled=true --set proxy.service.type=NodePort --set proxy.service.httpNodePort=30080 \
	  --wait --timeout 15m
	pachctl connect "$(PACHD_ADDRESS)"
	pachctl version

cluster-delete: ## delete the kind cluster (and Pachyderm with it)
	$(call require_tools,kind)
	kind delete cluster --name "$(KIND_CLUSTER)"

kind-load: ## kind load every image of images.txt (built by make images) into the cluster's nodes
	$(call require_tools,docker kind)
	@set -e; for name in $(IMAGE_NAMES); do \
	  echo "kind load docker-image --name $(KIND_CLUSTER) stockpipe/$$name:$(VERSION)"; \
	  kind load docker-image --name "$(KIND_CLUSTER)" "stockpipe/$$name:$(VERSION)"; \
	done

deploy: $(VENV_STAMP) ## create the raw repo and every pipeline of specs/ on Pachyderm (DEPLOY_WITH=python|pachctl)
ifeq ($(DEPLOY_WITH),pachctl)
	$(call require_tools,pachctl)
	@set -e; for repo in $$($(PY) -m deploy repos -f specs/); do \
	  pachctl inspect repo "$$repo" >/dev/null 2>&1 || pachctl create repo "$$repo"; \
	done; \
	for spec in $$($(PY) -m deploy order -f specs/); do \
	  echo "pachctl update pipeline -f $$spec"; pachctl update pipeline -f "$$spec"; \
	done
else
	$(PY) -m deploy pipelines -f specs/
endif

put-raw: $(VENV_STAMP) ## put RAW (folder, Kaggle zip or `kaggle`) into raw@master in one commit (DEPLOY_WITH=python|pachctl)
ifeq ($(DEPLOY_WITH),pachctl)
	$(call require_tools,pachctl)
	@set -e; raw="$$($(PY) -m tools.fetch_raw "$(RAW)")"; \
	if [ -f "$$raw" ]; then \
	  echo "unpacking $$raw into build/put-raw (pachctl puts a zip as one file)"; \
	  rm -rf build/put-raw; $(PY) -m zipfile -e "$$raw" build/put-raw; raw=build/put-raw; \
	fi; \
	echo "pachctl put file -r raw@master:/ -f $$raw"; pachctl put file -r raw@master:/ -f "$$raw"
else
	$(PY) -m deploy put-raw -f "$(RAW)"
endif

predict-url: $(VENV_STAMP) ## print the base URL of the serve pipeline on kind (http://localhost:30800), checking its Service
	$(call require_tools,kubectl)
	@url="$$($(PY) -m deploy predict-url)" && port="$$($(PY) -m deploy predict-url --node-port)" && \
	if kubectl --context "kind-$(KIND_CLUSTER)" get svc -A -o jsonpath='{.items[*].spec.ports[*].nodePort}' | tr ' ' '\n' | grep -qx "$$port"; then \
	  echo "$$url"; \
	else \
	  echo "$$url"; echo "make predict-url: no Service has NodePort $$port yet: is the serve pipeline running? (pachctl list pipeline)" >&2; exit 1; \
	fi

hadolint: $(VENV_STAMP) ## lint every Dockerfile of the repository with hadolint
	@files="$$(find . -path ./.venv -prune -o -path ./.git -prune -o -path ./build -prune -o -path ./.pfs -prune -o \
	  \( -name Dockerfile -o -name '*.Dockerfile' \) -type f -print | sort)"; \
	echo "hadolint" $$files; $(VENV)/bin/hadolint $$files && echo "hadolint: no findings"
