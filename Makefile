# The README's quick start: `make run` and `make test`.
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)

.PHONY: run test build vet fmt bench lint fuzz

# The fuzz targets, as package:Target; go test -fuzz runs one at a time.
FUZZ_TARGETS = ./http:FuzzDecodeJSON ./http:FuzzCursor ./http:FuzzReadApplication ./auth:FuzzParseToken
# A count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report its own deadline as a failure ("context deadline
# exceeded", no failing input; golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 500000x

run: ## start PostgreSQL if needed, then serve the API and workers on :8080
	./scripts/ensure-postgres
	$(GO) run -ldflags "-X main.version=$(VERSION)" ./cmd/jobboard serve

test: ## start PostgreSQL if needed, then run every test with the race detector
	./scripts/ensure-postgres
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/jobboard ./cmd/jobboard

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt would change the files above"; exit 1)

bench: ## the projection-lag and append benchmarks recorded in bench/README.md
	./scripts/ensure-postgres
	$(GO) test -run '^$$' -bench 'ProjectionLag|Append' -benchtime 3000x ./projections/ ./eventstore/

fuzz: ## run each fuzz target for FUZZTIME executions (default 500000x); a failing input lands in testdata/fuzz/
	./scripts/ensure-postgres
	@set -e; for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; name=$${target#*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
