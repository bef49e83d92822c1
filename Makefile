# Secure Input Gateway. `make run` and `make test` work on a fresh machine.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 10s
BIN           := bin/gateway

.PHONY: all build run test deps lint vet fmt-check staticcheck unit race fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gateway

# Until the server exists, `make run` shows the redactor on a demo text.
run: build
	@printf '%s\n' \
	  'Hi! My card is 4111 1111 1111 1111, exp 09/28.' \
	  'Or try the Amex: 3782-822463-10005. Order #10004567, call (555) 010-0199.' \
	  'Full-width digits too: ４２４２ ４２４２ ４２４２ ４２４２' \
	  | ./$(BIN) redact
	@echo
	@echo "That was: printf '...' | $(BIN) redact   (see README.md for --expr, --jsonl, ...)"

# Everything the tests need that Go does not fetch by itself. The race
# detector needs cgo, hence a C compiler.
deps:
	@command -v gcc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc libc6-dev; }

test: deps lint unit race fuzz

unit:
	$(GO) test -count=1 ./...

race:
	CGO_ENABLED=1 $(GO) test -race -short -count=1 ./...

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRedact$$' -fuzztime $(FUZZTIME) ./redact
	$(GO) test -run '^$$' -fuzz '^FuzzExpressionWindows$$' -fuzztime $(FUZZTIME) ./redact
	$(GO) test -run '^$$' -fuzz '^FuzzPossible$$' -fuzztime $(FUZZTIME) ./card

# Benchmarks on one core; compare runs with benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 6 ./redact | tee bench.txt
	@echo "compare with: go run golang.org/x/perf/cmd/benchstat@latest old.txt bench.txt"

clean:
	rm -rf bin bench.txt
