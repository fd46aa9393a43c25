.DEFAULT_GOAL := help
GO        ?= go
RUN_FLAGS ?= -server.http-listen-address=127.0.0.1 -server.grpc-listen-address=127.0.0.1
BENCH     ?= .
BENCHTIME ?= 1s

# Tools, pinned, installed from the Go module proxy into ./bin.
BIN                        := $(CURDIR)/bin
BUF_VERSION                := v1.75.0
GRPCURL_VERSION            := v1.9.4
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
TOOL_STAMPS := $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.grpcurl-$(GRPCURL_VERSION) \
	$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) $(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
# buf runs the local protoc-gen-go* plugins found on PATH.
BUF := PATH="$(BIN):$$PATH" $(BIN)/buf

.PHONY: help build run test test-unit test-e2e test-deploy test-mimir mimir bench lint tools protos check-protos

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build ./pushguard.
	$(GO) build -o pushguard ./cmd/pushguard

run: ## Run pushguard on 127.0.0.1:8080 (HTTP) and :9095 (gRPC) with the embedded TSDB in ./data.
	$(GO) run ./cmd/pushguard $(RUN_FLAGS) $(ARGS)

test: lint check-protos ## Run every test with the race detector, unit and end-to-end, and the deploy manifests' tests.
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -run 'TestStoreStorm' ./validator/report
	# Memory tests the race detector distorts (it makes sync.Pool drop items).
	$(GO) test -count=1 -run 'TestHTTPPushAllocation|TestSteadyStateHeapDoesNotGrow|TestHugeBuffersAreNotPooled' ./upstream ./validator
	$(MAKE) test-deploy

test-unit: ## Run the unit tests only.
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /tests)

test-e2e: ## Run the end-to-end tests only (they build and start the real binary).
	$(GO) test -race -count=1 -timeout 15m ./tests/...

test-deploy: ## Render the Helm chart and Kustomize manifests and decode them strictly (own Go module in deploy/).
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

mimir: ## Build Mimir from the Go module proxy into the cache (once per version); prints the binary's path.
	@./scripts/build-mimir.sh

test-mimir: ## End-to-end tests against a real Mimir (built by `make mimir`), straight and through pushguard, and the load benchmark behind it.
	MIMIR_BIN=$$(./scripts/build-mimir.sh) && MIMIR_BIN=$$MIMIR_BIN $(GO) test -race -count=1 -timeout 15m -v ./tests/mimir/ && \
		MIMIR_BIN=$$MIMIR_BIN $(GO) test -count=1 -timeout 5m -v -run TestLoadBenchBehindMimir ./tests/loadbench/

bench: ## Run the Go benchmarks, each next to its baseline.
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -benchtime=$(BENCHTIME) $$($(GO) list ./... | grep -v /tests)

lint: tools ## gofmt, go vet and buf lint.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BUF) lint

tools: $(TOOL_STAMPS) ## Install the pinned tools (buf, grpcurl, protoc plugins) into ./bin.

$(BIN)/.buf-%:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$*
	@touch $@
$(BIN)/.grpcurl-%:
	GOBIN=$(BIN) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$*
	@touch $@
$(BIN)/.protoc-gen-go-grpc-%:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$*
	@touch $@
$(BIN)/.protoc-gen-go-%:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$*
	@touch $@

protos: tools ## Regenerate the Go code of the .proto files under proto/.
	$(BUF) generate

check-protos: tools ## Fail when the committed generated code differs from what the .proto files generate.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp" && \
	diff -ru -x '*.proto' proto "$$tmp/proto" || { echo "generated code is stale: run make protos"; exit 1; }

.PHONY: docs
docs: ## Regenerate the configuration reference in README.md from the flags.
	$(GO) test ./cmd/pushguard -run TestREADMEConfigReference -update-readme

.PHONY: bench-e2e
BENCH_E2E_FLAGS ?= -duration=10s
bench-e2e: ## Load benchmark behind a discarding and a decoding stub upstream: bare proxy, gogo re-encoding proxy and pushguard; samples/s, CPU per sample, p50/p99, steady-rate latency, CPU profile.
	$(GO) build -o bin/pushguard ./cmd/pushguard
	$(GO) build -o bin/loadbench ./tests/loadbench
	bin/loadbench -pushguard=bin/pushguard -cpuprofile=bin/pushguard.cpu $(BENCH_E2E_FLAGS)
	$(GO) tool pprof -top -nodecount=25 bin/pushguard bin/pushguard.cpu

.PHONY: bench-e2e-mimir
bench-e2e-mimir: ## The load benchmark behind a real Mimir (built by `make mimir`) on this machine.
	$(GO) build -o bin/pushguard ./cmd/pushguard
	$(GO) build -o bin/loadbench ./tests/loadbench
	bin/loadbench -pushguard=bin/pushguard -upstreams=mimir -mimir=$$(./scripts/build-mimir.sh) $(BENCH_E2E_FLAGS)

.PHONY: fuzz
FUZZTIME ?= 30s
# Every Fuzz function of validator/, so that a new target is fuzzed without
# being listed here.
FUZZ_TARGETS = $(shell grep -ho '^func Fuzz[A-Za-z0-9_]*' validator/*_test.go | cut -c6-)
fuzz: ## Run every fuzz target for FUZZTIME each, a duration or a count of inputs such as 30000x (the committed corpus runs in make test).
	@for t in $(FUZZ_TARGETS); do \
		$(GO) test ./validator -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) || exit 1; done
