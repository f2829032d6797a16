# Tessera: `make run` to try it, `make test` to check it.
SHELL := /bin/bash
GO ?= go
HTMX := static/assets/vendor/htmx.min.js

.PHONY: run test soak bench generate check-generate vet static build clean

## run: build and start Tessera with a private PostgreSQL in ./var and demo data
# Built first, with a word: the first build compiles every dependency and
# would otherwise be minutes of silence.
run: static
	@echo "building Tessera, first time takes a few minutes"
	$(GO) build -o bin/tessera ./cmd/tessera
	./bin/tessera dev

## build: compile bin/tessera
build: static generate
	$(GO) build -o bin/tessera ./cmd/tessera

## static: copy front-end packages from npm into the embedded folder
static: $(HTMX)

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

## generate: regenerate templ components
generate:
	$(GO) tool templ generate

## check-generate: fail when committed templ output is stale
check-generate:
	@$(GO) tool templ generate >/dev/null
	@git diff --exit-code -- '*_templ.go' || { echo "templ output is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- '*_templ.go')" || { echo "uncommitted templ output: commit it"; exit 1; }

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

## test: generated code check, vet, and every test against real servers
test: static check-generate vet
	$(GO) test -race -count=1 -timeout 14m ./...

## soak: the crash test at 20 kill points instead of make test's 5 (TESSERA_KILL_POINTS)
soak: static
	TESSERA_KILL_POINTS=$${TESSERA_KILL_POINTS:-20} $(GO) test -count=1 -race -timeout 40m -v -run '^TestBulkJoinSurvivesKills$$' ./e2e/

## bench: performance figures on generated data (100,000 people)
bench: static
	@mkdir -p var
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./e2e/ 2>&1 | tee var/bench.out
	@echo; echo "== figures"; grep '^figure:' var/bench.out

clean:
	rm -rf bin node_modules $(HTMX)
