# serverlessplane operator. `make run` starts the local cluster with the operator; `make test`
# runs every test tier. See README.md.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN ?= $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
# The Kubernetes binaries (kube-apiserver, etcd, kubectl, kube-controller-manager,
# kube-scheduler, kwok), built from their Go modules into a cache outside the work tree.
KUBEBINS = $(shell hack/kubebins/build.sh)
# The same plus a real node's binaries (kubelet, kube-proxy, containerd, runc, CNI, kube-router)
# and Prometheus, which the real-node tier scrapes the gateway and the operator with.
NODEBINS = $(shell hack/kubebins/build.sh --node)

GO_PACKAGES = ./...
ENVTEST_PACKAGES = ./test/integration/...
E2E_PACKAGES = ./test/e2e
REALNODE_PACKAGES = ./test/e2e/realnode

.PHONY: all
all: build

##@ Development

$(CONTROLLER_GEN): hack/tools/go.mod
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: generate
generate: $(CONTROLLER_GEN) thrift ## Generate deepcopy code and the HiveServer2 protocol's code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: thrift
thrift: ## Generate internal/thrift/tcliservice from internal/thrift/TCLIService.thrift (Debian's thrift-compiler 0.17, installed when missing).
	hack/thrift/gen.sh

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and the API reference.
	$(CONTROLLER_GEN) crd paths=./api/v1alpha1/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=serverlessplane-operator paths=./controllers/... output:rbac:artifacts:config=config/rbac
	go run ./hack/apidocs config/crd/bases > docs/api.md
	go run ./hack/configdocs > docs/configuration.md
	go run ./hack/argocdcm config/argocd/health/health.lua > config/argocd/argocd-cm.yaml

.PHONY: fmt
fmt:
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## go vet and gofmt.
	go vet $(GO_PACKAGES)
	cd test/autoscalebench && go vet ./...
	cd test/gatewaybench && go vet ./...
	cd hack/image && go vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: verify
verify: generate manifests lint ## Regenerate everything and fail if the tree changed.
	@if [[ -n "$$(git status --porcelain -- api config docs internal/thrift)" ]]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config docs internal/thrift; git diff --stat -- api config docs internal/thrift; exit 1; fi

##@ Build

.PHONY: build
build: ## Build the operator binary into bin/manager.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/manager ./cmd/manager

# Every image the project ships, as `name=package`: a static binary in one layer, no base image,
# built without a Docker engine by one builder (hack/image) into $(IMAGE_DIR)/<image>.oci.tar.
# The data plane: the gateway, the model proxy sidecar and the default model server. The pause
# and probe images are the local cluster's (pod sandboxes, reachability probes).
IMAGES := operator=./cmd/manager gateway=./cmd/gateway model-proxy=./cmd/model-proxy model-server=./cmd/model-server \
	pause=./hack/pause probe=./test/netprobe/cmd/probe
# REGISTRY prefixes every image name (e.g. registry.example.com/); TAG is their tag (not
# "latest", for which Kubernetes defaults imagePullPolicy to Always: a local node cannot pull).
REGISTRY ?=
TAG ?= dev
IMAGE_DIR ?= $(BIN)/images
IMG ?= serverlessplane-operator:dev
GATEWAY_IMG ?= $(REGISTRY)serverlessplane-gateway:$(TAG)
IMAGE_ARCHIVE ?= $(BIN)/serverlessplane-operator.oci.tar

$(BIN)/image: $(wildcard hack/image/*.go) hack/image/go.mod
	cd hack/image && go build -o $(BIN)/image .

.PHONY: images
# The SQL engine links DuckDB (cgo) statically: the image has no base, so no C library either.
# netgo and osusergo keep name and user lookups in Go.
SQL_ENGINE_BUILD = CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"'
# The TPC-H data the engine image carries (the default scale), generated once by the engine's own
# generator (internal/tpch) and kept in bin/, keyed by scale.
TPCH_SCALE ?= 0.01
TPCH_DIR = $(BIN)/tpch
TPCH_DATA = $(TPCH_DIR)/sf$(TPCH_SCALE)/lineitem.parquet
images: $(BIN)/image $(TPCH_DATA) ## Build every image (operator, gateway, model proxy, model server, SQL engine, pause, probe) as OCI archives in bin/images, and check each.
	@mkdir -p $(IMAGE_DIR)
	@for spec in $(IMAGES); do \
		name=$${spec%%=*}; pkg=$${spec#*=}; bin=$(IMAGE_DIR)/$$name/$$(basename $$pkg); \
		[[ $$name == operator ]] && bin=$(IMAGE_DIR)/$$name/manager; \
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $$bin $$pkg; \
		$(BIN)/image -binary $$bin -tag $(REGISTRY)serverlessplane-$$name:$(TAG) -out $(IMAGE_DIR)/serverlessplane-$$name.oci.tar; \
		$(BIN)/image -check $(IMAGE_DIR)/serverlessplane-$$name.oci.tar >/dev/null; \
	done
	$(SQL_ENGINE_BUILD) -o $(IMAGE_DIR)/sql-engine/sql-engine ./cmd/sql-engine
	$(BIN)/image -binary $(IMAGE_DIR)/sql-engine/sql-engine -add $(TPCH_DIR)=/usr/share/serverlessplane/tpch \
		-tag $(REGISTRY)serverlessplane-sql-engine:$(TAG) -out $(IMAGE_DIR)/serverlessplane-sql-engine.oci.tar
	$(BIN)/image -check $(IMAGE_DIR)/serverlessplane-sql-engine.oci.tar >/dev/null

$(TPCH_DATA):
	go run ./cmd/sql-engine gen-tpch -scale $(TPCH_SCALE) -out $(TPCH_DIR)/sf$(TPCH_SCALE) >/dev/null

.PHONY: image
image: build $(BIN)/image ## Build the operator image alone as bin/serverlessplane-operator.oci.tar (tag IMG) and check it.
	$(BIN)/image -binary $(BIN)/manager -tag $(IMG) -out $(IMAGE_ARCHIVE)
	$(BIN)/image -check $(IMAGE_ARCHIVE)

.PHONY: kubebins
kubebins: ## Build (or reuse) the Kubernetes binaries and print their directory.
	@hack/kubebins/build.sh

.PHONY: bench-autoscaler
bench-autoscaler: ## Replay load traces through this autoscaler, the Kubernetes HPA and the Knative KPA into docs/autoscaler-benchmark.md.
	cd test/autoscalebench && go run ./cmd/autoscalebench > ../../docs/autoscaler-benchmark.md
	@cat docs/autoscaler-benchmark.md

# SQLBENCH_ARGS tunes it, e.g. SQLBENCH_ARGS='-scale 1 -runs 10'.
.PHONY: bench-sql
bench-sql: ## TPC-H through the gateway and an engine vs. embedded DuckDB, and statements/s of one cluster, into docs/sql-benchmark.md.
	cd test/gatewaybench && go run ./cmd/sqlbench -data $(BIN)/tpch $(SQLBENCH_ARGS) > ../../docs/sql-benchmark.md
	@cat docs/sql-benchmark.md

# GATEWAYBENCH_ARGS tunes it, e.g. GATEWAYBENCH_ARGS='-duration 30s -rates 1000'.
.PHONY: bench-gateway
bench-gateway: ## Latency the model proxy and the gateway add to the model server at 1,000 and 200 req/s (vegeta, loopback) into docs/gateway-benchmark.md.
	cd test/gatewaybench && go run ./cmd/gatewaybench $(GATEWAYBENCH_ARGS) > ../../docs/gateway-benchmark.md
	@cat docs/gateway-benchmark.md

# SCALEBENCH_ARGS tunes it, e.g. SCALEBENCH_ARGS='-workspaces 100 -warehouses 100 -endpoints 100'.
.PHONY: bench-scale
bench-scale: build ## Provision 1,000 workspaces, 1,500 warehouses and 1,500 endpoints through the operator (its own process, envtest, with the soft memory limit of a 150Mi container) against a plain client creating the same objects; idle writes and peak RSS, into docs/scale-benchmark.md.
	KUBEBUILDER_ASSETS="$(KUBEBINS)" go run ./test/scalebench -manager $(BIN)/manager $(SCALEBENCH_ARGS) > docs/scale-benchmark.md
	@cat docs/scale-benchmark.md

.PHONY: bench-ledger
bench-ledger: ## Reserve quota for 10,000 warehouses of one region through the ledger (envtest): writes and bytes per change at the start and the end, into docs/ledger-benchmark.md.
	KUBEBUILDER_ASSETS="$(KUBEBINS)" go run ./test/scalebench/ledger $(LEDGERBENCH_ARGS) > docs/ledger-benchmark.md
	@cat docs/ledger-benchmark.md

# CHAOS_ARGS tunes it, e.g. CHAOS_ARGS='-seed 7 -kill-max 4s'.
.PHONY: bench-chaos
bench-chaos: build ## Kill the operator (SIGKILL) at random points while 200 workspaces, 50 warehouses and 20 endpoints are created and deleted on the local cluster; duplicates, orphans and the ledger once it converges, into docs/restart-safety.md.
	KUBEBINS="$(KUBEBINS)" go run ./test/chaos -manager $(BIN)/manager $(CHAOS_ARGS) > docs/restart-safety.md.tmp; rc=$$?; mv docs/restart-safety.md.tmp docs/restart-safety.md; cat docs/restart-safety.md; exit $$rc

##@ Run

# `make run KUBECONFIG=path` (on the command line) runs against that cluster; a KUBECONFIG in
# the environment does not, so that `make run` always means the local cluster.
.PHONY: run
run: build images ## Local cluster (a real node where this machine can run one, else kwok) plus the operator, in the foreground (ARGS=--node=kwok; make run KUBECONFIG=... for an existing cluster).
	go build -o $(BIN)/localcluster ./hack/localcluster
ifeq ($(origin KUBECONFIG),command line)
	KUBECONFIG=$(KUBECONFIG) $(BIN)/localcluster --existing --bin-dir "$(KUBEBINS)" --manager $(BIN)/manager $(ARGS)
else
	$(BIN)/localcluster --bin-dir "$(NODEBINS)" --manager $(BIN)/manager --images $(IMAGE_DIR) $(ARGS)
endif

##@ Deploy

KUBECTL ?= $(KUBEBINS)/kubectl

.PHONY: deploy
deploy: ## Install config/default (CRDs, RBAC, the operator with IMG, the gateway with GATEWAY_IMG) in the cluster of KUBECONFIG.
	$(KUBECTL) kustomize config/default | sed -e 's|image: serverlessplane-operator:latest|image: $(IMG)|' \
		-e 's|image: serverlessplane-gateway:latest|image: $(GATEWAY_IMG)|' | $(KUBECTL) apply --server-side -f -

# Removing the CRDs removes every workspace, warehouse and endpoint with them.
.PHONY: undeploy
undeploy: ## Remove everything config/default installed, CRDs (and so every serverlessplane object) included.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Test

.PHONY: test
test: test-unit test-integration test-e2e test-realnode ## Every tier: unit, envtest, end-to-end on kwok, end-to-end on a real node.

.PHONY: test-unit
test-unit: ## Unit tests of the pure packages, and of the autoscaler benchmark's harness.
	go test $$(go list $(GO_PACKAGES) | grep -v -e /test/integration -e /test/e2e)
	cd test/autoscalebench && go test ./...
	cd test/gatewaybench && go test ./...
	cd hack/image && go test ./...

.PHONY: test-integration
test-integration: ## Controllers against a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS="$(KUBEBINS)" go test $(ENVTEST_PACKAGES) -timeout 30m

.PHONY: test-realnode
test-realnode: images ## A real node (needs root): the operator as a pod, workloads running, reachability probed on packets, the machine left as found.
	KUBEBINS="$(NODEBINS)" IMAGES_DIR=$(IMAGE_DIR) go test $(REALNODE_PACKAGES) -timeout 30m -v -count=1

.PHONY: test-e2e
test-e2e: build ## The operator binary in the local simulated cluster (kwok nodes).
	KUBEBINS="$(KUBEBINS)" MANAGER_BINARY=$(BIN)/manager go test $(E2E_PACKAGES) -timeout 30m -v -count=1
