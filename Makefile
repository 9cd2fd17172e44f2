# nexcage: every target installs what is missing first, so a fresh Debian 12 machine needs only
# `make run` or `make test` (as root). Node 24 comes from npm (node_modules/.bin/node), not the host.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# The CRIU the daemon checkpoints with (make run/test/conformance): the private build of
# scripts/install-criu.sh when there is one. Evaluated per recipe, so after `deps` built it.
export NEXCAGE_CRIU_PATH ?= $(shell scripts/install-criu.sh --path)
NODE := $(CURDIR)/node_modules/.bin/node
GEN_STAMP := src/cri/generated/.stamp

.PHONY: all deps gen build run test test-unit test-e2e test-reliability coverage lint bench clean conformance

all: build

# Everything to build, run and test; `make deb` asks only for the build toolchain (DEPS=build).
DEPS ?= all
deps:
	@scripts/install-deps.sh $(DEPS)

# TypeScript types for the CRI messages and services, generated from cri-api/ (never hand-edited).
$(GEN_STAMP): cri-api/runtime/v1/api.proto package-lock.json
	@rm -rf src/cri/generated
	@npm run -s gen >/dev/null
	@echo '{ "type": "commonjs" }' > src/cri/generated/package.json
	@touch $@

gen: deps
	@$(MAKE) -s $(GEN_STAMP)

NATIVE_HELPERS = $(patsubst native/%.c,dist/native/%,$(wildcard native/*.c))
build: gen $(NATIVE_HELPERS)
	@tsc -p tsconfig.json

# The C helpers get Debian's hardening flags, as dpkg-buildflags gives them to packages (stack
# protector, _FORTIFY_SOURCE, format checks, full RELRO + BIND_NOW; Debian's gcc builds PIE).
BUILDFLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
NATIVE_CFLAGS = $(shell $(BUILDFLAGS) CPPFLAGS) $(shell $(BUILDFLAGS) CFLAGS) -Wall -Wextra
NATIVE_LDFLAGS = $(shell $(BUILDFLAGS) LDFLAGS)

# The C helpers, each doing what Node cannot call itself:
#   nexcage-pty     exec with a TTY (a terminal through runc's console socket)
#   nexcage-attach  conmon's attach socket (SOCK_SEQPACKET)
#   nexcage-idmap   idmapped mounts for user-namespaced pods (open_tree/mount_setattr/move_mount)
#   nexcage-dial    port-forward: connect inside a pod's netns (setns) and pass the socket back
#   nexcage-netns   a pod's network namespace, lo up and pinned, in one process (unshare)
#   nexcage-mount   a container's overlay rootfs mounted/unmounted without mount(8)'s mount-table parse
#   nexcage-pageout the daemon's cold file pages handed back to the kernel (process_madvise)
dist/native/%: native/%.c Makefile
	@mkdir -p dist/native
	@cc $(NATIVE_CFLAGS) $(NATIVE_LDFLAGS) -o $@ $<

# Starts the daemon in the foreground on its default socket with the embedded defaults.
# With the daemon's V8 flags and environment (deploy/node-flags, deploy/node-env), as the installed
# wrapper runs it.
DAEMON_NODE_FLAGS = $(shell sed -e 's/\#.*//' deploy/node-flags)
DAEMON_NODE_ENV = $(shell sed -e 's/\#.*//' deploy/node-env)
run: build
	env $(DAEMON_NODE_ENV) $(NODE) $(DAEMON_NODE_FLAGS) dist/src/cli/main.js serve $(ARGS)

lint: gen
	@tsc -p tsconfig.json --noEmit
	@eslint --max-warnings 0 .

test: build lint
	vitest run

test-unit: build
	vitest run --project unit

test-e2e: build
	vitest run --project e2e

# Reliability at full scale (30 pods / 60 containers, 20 kill -9s, long fuzz run); `make test`
# runs the same files at a short scale.
test-reliability: build
	NEXCAGE_RELIABILITY=full vitest run --project reliability $(ARGS)

# Line and branch coverage of unit + e2e + the short reliability tests together (what `make test`
# runs), per directory of src/: the test processes through vitest's v8 provider, the daemon children
# (and CLI runs) through NODE_V8_COVERAGE; both are converted by the same AST-aware mapper to
# src/*.ts and merged exactly (test/support/coverage-table.ts).
# Children killed -9 write nothing (their share is lost). Coverage is reported even if a test fails.
coverage: build
	@rm -rf coverage && mkdir -p coverage/daemon-raw
	-NODE_V8_COVERAGE=$(CURDIR)/coverage/daemon-raw vitest run --project unit --project e2e --project reliability $(ARGS) \
	  --coverage.enabled --coverage.provider=v8 --coverage.include='src/**/*.ts' \
	  --coverage.exclude='src/cri/generated/**' --coverage.exclude='**/*.test.ts' \
	  --coverage.reportOnFailure --coverage.reporter=json --coverage.reportsDirectory=coverage/tests
	@$(NODE) dist/test/support/coverage-table.js coverage/tests/coverage-final.json coverage/daemon-raw

# The upstream CRI validation suite (critest from ../shared/conformance; CRITEST=path overrides it)
# against the built daemon, with the kit's stand-in images in a private loopback registry.
# Results in build/conformance/; fails on any failure but the digest spec stand-ins cannot pass.
conformance: build
	$(NODE) dist/test/conformance/run.js

bench: build
	$(NODE) dist/bench/run.js $(ARGS)

clean:
	rm -rf dist src/cri/generated coverage

# Shipping: the .deb from the current dist/ (build/deb/, lintian-checked), its install test in a
# fresh Debian root (slow, not part of `make test`), the Helm chart archive, a local install.
.PHONY: deb test-deb helm-package install
PREFIX ?= /usr/local

deb: DEPS = build
deb: build
	@scripts/build-deb.sh

test-deb: deb
	@scripts/test-deb.sh

helm-package: deps
	@vitest run --project unit test/deploy
	@scripts/helm-package.sh

install: build
	@DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" scripts/install.sh

# The container image (the chart's agent) without Docker: the .deb in a Debian 12 minbase root,
# packed by umoci into build/image/oci (tag = version) as $(IMAGE):<version>; push-image copies it
# with skopeo to $(REGISTRY)/nexcage/nexcage:<version> (TLS_VERIFY=false for a plain-HTTP registry).
.PHONY: image push-image
IMAGE ?= ghcr.io/nexcage/nexcage
TLS_VERIFY ?= true
image: deb
	@IMAGE="$(IMAGE)" scripts/build-image.sh

push-image:
	@test -n "$(REGISTRY)" || { echo "push-image: set REGISTRY=host:port" >&2; exit 2; }
	@REGISTRY="$(REGISTRY)" TLS_VERIFY="$(TLS_VERIFY)" scripts/push-image.sh

# docs/dashboard.png: the chart's Grafana dashboard drawn from a live daemon scraped by a real
# Prometheus, screenshot by headless Chromium (a few minutes; ARGS = seconds of load, default 180).
.PHONY: dashboard-png
dashboard-png: build
	@scripts/dashboard-png.sh $(ARGS)
