# llconform: the two commands a fresh machine needs are `make matrix` and `make test`.
# Everything they depend on is installed here (deps) or built in Go (no cpio, no shell
# tools in the guest).

GO          ?= go
BIN         := bin
OUT         ?= out
KERNELS     ?= kernels.yaml
# The arm64 matrix: Debian's arm64 cloud kernels under qemu-system-aarch64 (make matrix-arm64).
KERNELS_ARM64 ?= kernels-arm64.yaml
KNOWN       ?= known-issues.yaml
# The VM smoke test of `make test`: no Landlock, an old ABI, the newest ABI; and on arm64
# the newest ABI (SMOKE_ARM64, from KERNELS_ARM64).
SMOKE       ?= debian-5.10,debian-6.1,debian-7.3
SMOKE_ARM64 ?= arm64-7.3
# Which specs cover which kernel selftest, generated beside conformance.yaml.
COVERAGE    ?= docs/selftest-coverage.md
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The suites binary (plan.SuitesName): every folder of suites/ is a suite, linked into the one
# binary that suites/suites_test.go makes, which llconform asks for its list of suites.
SUITES_BIN  := llconform-suites
# The 32-bit build of the suites (plan.CompatArch): where llconform looks for them.
COMPAT_ARCH := 386
COMPAT_BIN  := $(BIN)/$(COMPAT_ARCH)/suites
# Suites and the agent run in a bare initramfs: they must be static.
export CGO_ENABLED := 0
# ... and every byte of them is copied into each guest's memory: without the symbol table
# and DWARF (which nothing in a guest reads; Go's own tracebacks keep function names and
# lines) and with module-relative file names, the initramfs shrinks by a third.
GUESTFLAGS  := -trimpath -ldflags='-s -w'

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# make bench-matrix: the default matrix BENCH_RUNS times, then where each kernel's time went,
# beside the figures of TIMINGS_BASELINE (the runs before a change; see llconform timings).
BENCH_RUNS       ?= 2
TIMINGS_BASELINE ?= docs/matrix-timings-before.json

# The guest binaries of another architecture (agent, suites, and llconform, which runs the
# guest's benchmarks) go to bin/<arch>/, where llconform looks for them (vm/arch.Binary):
# make build-arm64. A kernel list with an arm64 kernel needs them.
needs-arm64 = $(if $(shell grep -ls 'arch: *arm64' $(1)),build-arm64)

.PHONY: all build build-arm64 deps test-deps matrix matrix-arm64 run bench bench-matrix test lint conformance selftest-gaps selftests unit host vm-smoke clean

all: build

# The suites are also built as 32-bit x86 programs into $(COMPAT_BIN), which `run --compat`
# and the kernels with `compat: true` run through the kernel's 32-bit (compat) entry points.
# The one-binary-per-suite files of earlier builds (<name>.test) are removed.
build:
	@mkdir -p $(BIN)/suites $(COMPAT_BIN)
	@rm -f $(BIN)/suites/*.test $(COMPAT_BIN)/*.test $(BIN)/arm64/suites/*.test
	$(GO) build -o $(BIN)/llconform ./cmd/llconform
	$(GO) build $(GUESTFLAGS) -o $(BIN)/llconform-agent ./vm/agent
	$(GO) build $(GUESTFLAGS) -o $(BIN)/suites/llconform-sandbox ./cmd/llconform-sandbox
	GOARCH=$(COMPAT_ARCH) $(GO) build $(GUESTFLAGS) -o $(COMPAT_BIN)/llconform-sandbox ./cmd/llconform-sandbox
	$(GO) test -c $(GUESTFLAGS) -o $(BIN)/suites/$(SUITES_BIN) ./suites
	GOARCH=$(COMPAT_ARCH) $(GO) test -c $(GUESTFLAGS) -o $(COMPAT_BIN)/$(SUITES_BIN) ./suites

build-arm64: build
	@mkdir -p $(BIN)/arm64/suites
	GOARCH=arm64 $(GO) build $(GUESTFLAGS) -o $(BIN)/arm64/llconform ./cmd/llconform
	GOARCH=arm64 $(GO) build $(GUESTFLAGS) -o $(BIN)/arm64/llconform-agent ./vm/agent
	GOARCH=arm64 $(GO) build $(GUESTFLAGS) -o $(BIN)/arm64/suites/llconform-sandbox ./cmd/llconform-sandbox
	GOARCH=arm64 $(GO) test -c $(GUESTFLAGS) -o $(BIN)/arm64/suites/$(SUITES_BIN) ./suites

# QEMU is the one system package the VM runs need; apt-get download and dpkg-deb, used to
# fetch kernels, are part of every Debian system. Elsewhere, set a Debian mirror (README,
# "Kernels on any host"): kernels are then fetched and verified in Go.
# qemu-system-arm holds qemu-system-aarch64, which boots the arm64 kernels (arch: arm64).
deps:
	@missing=; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v qemu-system-aarch64 >/dev/null || missing="$$missing qemu-system-arm"; \
	[ -z "$$missing" ] || { \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; }

# The unit tests render the HTML report in a real headless browser.
test-deps:
	@command -v chromium >/dev/null || { \
		echo "installing chromium"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; }

# The main job: fetch the kernels of kernels.yaml, boot each under QEMU, run every suite,
# print the matrix.
matrix: deps build $(call needs-arm64,$(KERNELS))
	$(SUDO) $(BIN)/llconform matrix --kernels $(KERNELS) --known-issues $(KNOWN) --out $(OUT)/matrix

# The same on Debian's arm64 kernels, emulated (TCG): several times slower than make matrix.
matrix-arm64: deps build-arm64
	$(SUDO) $(BIN)/llconform matrix --kernels $(KERNELS_ARM64) --known-issues $(KNOWN) --out $(OUT)/matrix-arm64

# Every suite on the running kernel, no VM.
run: build
	$(SUDO) $(BIN)/llconform run --out $(OUT)/host

# What Landlock costs on this machine: table, bench.json, benchstat text and SVG plots.
bench: build
	$(SUDO) $(BIN)/llconform bench --out $(OUT)/bench

# How fast the matrix runs: per kernel fetch, initramfs, boot, each suite, transfer, total and
# QEMU's CPU time, as medians over the runs and beside the baseline's; the whole run's wall
# time as min / median / max, with the machine's load. The runs' own timings are kept in
# $(OUT)/bench-matrix/timings.json, to become the next baseline. The runs share one output
# directory, as make matrix's do, so that each boots the kernels the last one found longest
# first.
bench-matrix: deps build $(call needs-arm64,$(KERNELS))
	@mkdir -p $(OUT)/bench-matrix && rm -f $(OUT)/bench-matrix/run*.json $(OUT)/bench-matrix/run*.log
	@for i in $$(seq $(BENCH_RUNS)); do \
		echo "bench-matrix: run $$i of $(BENCH_RUNS) (log: $(OUT)/bench-matrix/run$$i.log)"; \
		$(SUDO) $(BIN)/llconform matrix --kernels $(KERNELS) --known-issues $(KNOWN) \
			--out $(OUT)/bench-matrix/matrix >$(OUT)/bench-matrix/run$$i.log 2>&1; \
		s=$$?; [ $$s -le 1 ] || { tail -20 $(OUT)/bench-matrix/run$$i.log; exit $$s; }; \
		cp $(OUT)/bench-matrix/matrix/result.json $(OUT)/bench-matrix/run$$i.json; \
	done
	$(BIN)/llconform timings $(if $(wildcard $(TIMINGS_BASELINE)),--baseline $(TIMINGS_BASELINE)) \
		--label "$$(git describe --always --dirty 2>/dev/null)" --save $(OUT)/bench-matrix/timings.json \
		$(OUT)/bench-matrix/run*.json

test: lint unit host vm-smoke

lint: build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	GOARCH=$(COMPAT_ARCH) $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff
	$(BIN)/llconform specs --check conformance.yaml --coverage $(COVERAGE)

# Regenerate conformance.yaml and the selftest coverage after changing specs; review their
# diffs like code.
conformance: build
	$(BIN)/llconform specs -o conformance.yaml --coverage $(COVERAGE)

# The selftests with neither a covering spec nor a reason, as entries for
# docs/selftest-gaps.yaml to complete.
selftest-gaps: build
	$(BIN)/llconform specs --gaps-todo

# Re-read the selftest inventory from a kernel tree: make selftests LINUX=~/src/linux
selftests: build
	@test -n "$(LINUX)" || { echo "usage: make selftests LINUX=<kernel source tree>"; exit 64; }
	$(BIN)/llconform specs --selftests-from $(LINUX)/tools/testing/selftests/landlock

unit: test-deps build
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/suites\(/\|$$\)')

host: build
	$(SUDO) $(BIN)/llconform run --out $(OUT)/host

vm-smoke: deps build-arm64
	$(SUDO) $(BIN)/llconform matrix --kernels $(KERNELS) --known-issues $(KNOWN) --only $(SMOKE) --out $(OUT)/smoke
	$(SUDO) $(BIN)/llconform matrix --kernels $(KERNELS_ARM64) --known-issues $(KNOWN) --only $(SMOKE_ARM64) --out $(OUT)/smoke-arm64

clean:
	rm -rf $(BIN) $(OUT)
