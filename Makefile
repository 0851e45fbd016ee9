# postdesk. `make run` and `make test` do all the set-up on a fresh machine:
# they install and start what they need through scripts/.

GO        ?= go
BIN       := bin/postdesk
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 5s
FUZZ_LONG ?= 2m
# The browser tests' screenshots are kept here.
export POSTDESK_ARTIFACTS ?= $(CURDIR)/var/artifacts
.PHONY: all build run test test-go deps db check fuzz fuzz-short bench clean docker-check

all: build

build:
	$(GO) build -o $(BIN) ./cmd/postdesk

# The whole service on its embedded demo settings, on a local database
# (started under ./var when none answers on 127.0.0.1:5432).
run: build
	DATABASE_URL="$${DATABASE_URL:-$$(scripts/postgres postdesk_dev)}" ./$(BIN) dev

deps:
	scripts/install-deps chromium

# Everything the tests need is installed and started here; then vet, the race
# detector over every package, and a short run of every fuzz target.
test: deps
	$(GO) mod download
	$(GO) vet ./...
	POSTDESK_TEST_DATABASE_URL="$$(scripts/postgres --install)" $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz-short

fuzz-short:
	scripts/fuzz $(FUZZTIME)

# Longer fuzzing: make fuzz FUZZ_LONG=10m
fuzz:
	$(MAKE) --no-print-directory fuzz-short FUZZTIME=$(FUZZ_LONG)

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The figures of docs and issue 13, each benchmark once within its budget
# (internal/cmd/benchreport): one line per figure beside its baseline from
# the same run, and a JSON summary in bench/results/. BENCH_SCALE=0.1 for a
# quick look; FIGURES=latency,web (names or numbers) for a subset.
BENCH_SCALE ?= 1
FIGURES   ?=
bench:
	scripts/install-deps bench
	POSTDESK_TEST_DATABASE_URL="$$(scripts/postgres --install)" BENCH_SCALE="$(BENCH_SCALE)" \
		$(GO) run ./internal/cmd/benchreport -figures "$(FIGURES)"

# The container image and compose.yaml, built and started, /healthz checked;
# skipped with a message where docker is missing (CI runs it: .ci/).
docker-check:
	scripts/docker-check

clean:
	rm -rf bin

# Many faults at once against real servers, then a check that nothing was
# lost or doubled (README "Soak"); not part of make test. SOAK_MINUTES
# (default 10), SOAK_SEED (default random, printed), SOAK_INSTANCES (default 2).
.PHONY: soak
soak:
	$(GO) run ./internal/cmd/soak
