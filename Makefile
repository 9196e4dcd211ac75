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

.PHONY: all build run test test-go lint bench deps deps-build clean

all: build

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh test

build: deps-build
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/radmark

# Starts the server with phantom studies and, when ../shared is present, a
# real CT loaded into the embedded default storage.
run: build
	$(BIN) demo --data $(DATA)
	@if [ -d "$(SHARED)/ct/tcia_lung-pet-ct-dx_A0002_chest-8mm" ]; then \
		$(BIN) ingest --quiet --data $(DATA) "$(SHARED)/ct/tcia_lung-pet-ct-dx_A0002_chest-8mm"; fi
	$(BIN) serve --data $(DATA) --addr $(ADDR)

test: deps build lint test-go

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

$(STATICCHECK):
	GOBIN=$(CURDIR)/.tools $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: build
	$(GO) run ./bench -radmark $(BIN)

clean:
	rm -rf bin .tools
