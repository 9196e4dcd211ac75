# radmark — see README.md. `make run` and `make test` are the quick start.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/radmark
DATA ?= radmark-data
ADDR ?= 127.0.0.1:8080
SHARED ?= ../shared/data
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
STATICCHECK := .tools/staticcheck

.PHONY: all build run dev test test-go test-ui lint bench bench-ui deps deps-build ui-deps ui-build clean

all: build

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh test

# The web UI (ui/, see ui/README.md): npm ci when the lock file is newer than
# the installed modules, the Vite build when a source is newer than the
# build; go build then embeds ui/dist (ui/embed.go).
UI_STAMP := ui/node_modules/.package-lock.json
UI_SRC := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package-lock.json

$(UI_STAMP): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

ui-deps: $(UI_STAMP)

ui/dist/app/index.html: $(UI_STAMP) $(UI_SRC)
	cd ui && npm run -s build

ui-build: ui/dist/app/index.html

build: deps-build ui-build
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/radmark

# Starts the server with phantom studies and, when ../shared is present, a
# real CT loaded into the embedded default storage.
run: build
	$(BIN) demo --data $(DATA)
	@if [ -d "$(SHARED)/ct/tcia_lung-pet-ct-dx_A0002_chest-8mm" ]; then \
		$(BIN) ingest --quiet --data $(DATA) "$(SHARED)/ct/tcia_lung-pet-ct-dx_A0002_chest-8mm"; fi
	$(BIN) serve --data $(DATA) --addr $(ADDR)

# The UI's dev loop: radmark serves the demo studies on ADDR, Vite serves the
# app with hot reload on http://127.0.0.1:5173 and forwards /dicomweb and
# /api to it.
dev: build
	$(BIN) demo --data $(DATA)
	@$(BIN) serve --data $(DATA) --addr $(ADDR) & srv=$$!; trap 'kill $$srv 2>/dev/null' EXIT INT TERM; \
		cd ui && RADMARK_URL=http://$(ADDR) npx vite --host 127.0.0.1 --port 5173 --strictPort

test: deps build lint test-go test-ui

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# tsc, oxlint, Vitest, then the Playwright end-to-end tests against bin/radmark
# in headless Chromium (they fail, not skip, without Chromium when CI=true).
test-ui: build
	cd ui && npm run -s typecheck
	cd ui && npm run -s lint
	cd ui && npx vitest run
	cd ui && RADMARK_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 e2e/

$(STATICCHECK):
	GOBIN=$(CURDIR)/.tools $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: build
	$(GO) run ./bench -radmark $(BIN)

# Time to first image and to the full MPR volume of the 512x512x300 phantom
# CT, radmark's UI against OHIF, in headless Chromium (see BENCHMARKS.md).
bench-ui: build
	@test -d e2e/node_modules || (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
	RADMARK_BIN=$(CURDIR)/$(BIN) node bench/ui/bench.mjs $(BENCH_UI_FLAGS)

clean:
	rm -rf bin .tools ui/dist/app
