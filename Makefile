# eniway developer targets. `make test` is the test command the README and
# CI use; `make check` adds the static checks CI runs before it.

GO ?= go
# The race detector needs cgo (a C compiler); use it whenever cgo works.
RACE ?= $(if $(filter 1,$(shell $(GO) env CGO_ENABLED)),-race,)
STATICCHECK_VERSION := v0.8.2
# Test-only modules nested in the repository, tested on their own.
SUBMODULES := internal/ciliumdiff internal/ciliumdiff117

.PHONY: test kube-assets check fmt vet cross staticcheck tidy generate bench fuzz examples loadtest

## test: every test of the library and of the nested test modules. The envtest
## tests (internal/kubetest and its users) run the kube-apiserver and etcd in
## KUBEBUILDER_ASSETS; unless it is set, kube-assets builds them (once).
test:
	@assets="$${KUBEBUILDER_ASSETS:-}"; \
	if [ -z "$$assets" ]; then assets="$$(GO="$(GO)" bash .ci/kube-assets)" || exit 1; fi; \
	export KUBEBUILDER_ASSETS="$$assets"; \
	echo "KUBEBUILDER_ASSETS=$$assets $(GO) test $(RACE) -count=1 ./..."; \
	$(GO) test $(RACE) -count=1 ./... || exit 1; \
	for m in $(SUBMODULES); do \
		echo "cd $$m && $(GO) test $(RACE) -count=1 ./..."; \
		(cd $$m && $(GO) test $(RACE) -count=1 ./...) || exit 1; \
	done

## kube-assets: build the kube-apiserver and etcd envtest runs from the Go module
## proxy (hack/kubeassets pins them) into a cache outside the repository, once,
## and print the directory.
kube-assets:
	@GO="$(GO)" bash .ci/kube-assets

## check: formatting, vet (also for macOS and Windows), staticcheck, go.mod
## tidiness and generated-code drift.
check: fmt vet cross staticcheck tidy generate

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	@for m in $(SUBMODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

## cross: the library and its tests still compile off Linux (fakes and stubs).
cross:
	CGO_ENABLED=0 GOOS=darwin $(GO) vet ./...
	CGO_ENABLED=0 GOOS=windows $(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@for m in $(SUBMODULES); do (cd $$m && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...) || exit 1; done

tidy:
	$(GO) mod tidy -diff
	@for m in $(SUBMODULES); do (cd $$m && $(GO) mod tidy -diff) || exit 1; done

## generate: regenerate the committed generated code (controller-gen deep
## copies, CRD and RBAC of gatewayapi; the BPF objects and bindings of
## datapath/ebpf, which need clang-16, llvm-16 and libbpf-dev) and fail if it
## differs from what is committed.
GENERATED := gatewayapi/apis gatewayapi/config datapath/ebpf
generate:
	$(GO) generate ./gatewayapi/...
	@command -v clang-16 >/dev/null && command -v llvm-strip-16 >/dev/null || \
		{ echo "make generate needs clang-16 and llvm-16 (apt-get install clang-16 llvm-16 libbpf-dev)"; exit 1; }
	$(GO) generate ./datapath/...
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]; then \
		echo "generated code differs from what is committed (run make generate and commit):"; \
		git status --short -- $(GENERATED); git diff -- $(GENERATED) | head -50; exit 1; fi

## examples: build every example and smoke-run it: the programs that finish
## run to the end, the servers must still be serving after 3 seconds.
examples:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	echo "go build -o $$d ./examples/..." && $(GO) build -o "$$d" ./examples/... && \
	echo "maglev" && "$$d/maglev" > /dev/null && \
	echo "ipam-plan" && "$$d/ipam-plan" > /dev/null && \
	echo "ipam-sim" && "$$d/ipam-sim" -nodes 10 -mode pd -throttle -latency 50ms > /dev/null && \
	echo "gateway-translate" && "$$d/gateway-translate" -strict -controller-name io.cilium/gateway-controller \
		-f gatewayapi/testdata/guide-basic-route.in.yaml > /dev/null && \
	echo "fake-ec2 (3 s)" && { timeout -s INT 3 "$$d/fake-ec2" -listen 127.0.0.1:0 > /dev/null; rc=$$?; \
		if [ $$rc -ne 124 ]; then echo "fake-ec2 exited with $$rc before its 3 s were up"; exit 1; fi; } && \
	echo "gateway-proxy (3 s)" && { timeout -s INT 3 "$$d/gateway-proxy" -listen-address 127.0.0.1 \
		-f examples/gateway-proxy/testdata/quickstart.yaml > /dev/null; rc=$$?; \
		if [ $$rc -ne 124 ]; then echo "gateway-proxy exited with $$rc before its 3 s were up"; exit 1; fi; } && \
	echo "datapath-agent -fake (3 s)" && { timeout -s INT 3 "$$d/datapath-agent" -fake \
		-f examples/datapath-agent/testdata/node.yaml 2> /dev/null; rc=$$?; \
		if [ $$rc -ne 124 ]; then echo "datapath-agent exited with $$rc before its 3 s were up"; exit 1; fi; }

## bench: the maglev figures, eniway next to Cilium in the same run, and the
## gatewayapi translation figures.
bench:
	$(GO) test -run '^$$' -bench Translate -benchtime 5x ./gatewayapi/
	$(GO) test -run '^$$' -bench 'Build|Lookup' -benchtime 20x ./maglev/
	cd internal/ciliumdiff && $(GO) test -run '^$$' -bench Build -benchtime 3x ./...
	$(GO) test -run '^$$' -bench Disruption -benchtime 1x ./maglev/
	$(GO) test -run '^$$' -bench TranslateXDS -benchtime 5x ./l7/xds/
	$(GO) test -run '^$$' -bench Proxy -benchtime 3s ./l7/proxy/

## loadtest: the embedded data plane next to nginx under wrk (hack/l7-loadtest.sh).
loadtest:
	bash hack/l7-loadtest.sh

## fuzz: run each fuzz test for FUZZTIME (default 30s).
FUZZTIME ?= 30s
FUZZ_TARGETS := maglev:FuzzBuild maglev:FuzzParseSeed ipam:FuzzPlan ipam:FuzzDecide eni/internal/limitsfile:FuzzDecode \
	eni/aws:FuzzFromENI internal/testutils:FuzzParseKernelRelease gatewayapi:FuzzTranslate gatewayapi/manifest:FuzzDecode \
	l7/proxy:FuzzLoad
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "go test -run '^$$' -fuzz '^$$fn$$' -fuzztime $(FUZZTIME) ./$$pkg/"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || exit 1; \
	done
