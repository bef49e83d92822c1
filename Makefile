# Secure Input Gateway. `make run` and `make test` work on a fresh machine.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 10s
BIN           := bin/gateway

.PHONY: all build build-pkcs11 run test test-fast deps screenshots lint vet fmt-check staticcheck unit pkcs11 race fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gateway

# The gateway with PKCS#11 key-encryption keys (an HSM): needs cgo. The
# default build stays pure Go.
build-pkcs11:
	CGO_ENABLED=1 $(GO) build -tags pkcs11 -o $(BIN) ./cmd/gateway

# Build and start the gateway on its embedded demo configuration (SQLite in
# ./data, demo agent demo/demo, demo shop page). LISTEN overrides the address.
LISTEN ?= 127.0.0.1:8080
run: build
	./$(BIN) serve --listen $(LISTEN) --data ./data

# Everything the tests need that Go does not fetch by itself. The race
# detector needs cgo, hence a C compiler.
# Chromium drives the browser tests (web/browser_test.go); Dovecot serves
# IMAP to the mail ingest tests (internal/testenv starts it per test); isync
# (mbsync) is the other side of the mail side-by-side benchmark; SoftHSM2 is
# the PKCS#11 token of the key tests (make pkcs11); espeak-ng and sox make the
# speech and music of the DTMF talk-off test (voice/talkoff_test.go).
# axe-core, from npm at a pinned version, checks the pages' accessibility in
# the browser tests (internal/testenv.AxeCore reads it from AXE_DIR; it is
# never committed).
AXE_VERSION := 4.10.3
AXE_DIR     := .cache/npm
deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -x /usr/sbin/dovecot ] || missing="$$missing dovecot-imapd"; \
	command -v mbsync >/dev/null 2>&1 || missing="$$missing isync"; \
	[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null 2>&1 || missing="$$missing sox"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@grep -qs '"version": "$(AXE_VERSION)"' $(AXE_DIR)/node_modules/axe-core/package.json || \
	  npm install --prefix $(AXE_DIR) --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)

# The README's screenshots: the browser tests write them to docs/screenshots.
screenshots:
	SCREENSHOTS=1 $(GO) test -count=1 -run 'TestBrowser' ./web

test: deps lint unit pkcs11 race fuzz

# The edit loop: formatting, vet and the short tests, no race detector, no
# fuzzing, no package installs (tests that need Chromium or Dovecot skip
# without CI set when they are missing). The mail tests that run on either
# IMAP server run on go-imap's in-memory one (internal/testenv.StartIMAP);
# make test-fast GATEWAY_TEST_IMAP=dovecot runs them on Dovecot, and make
# test (CI) always does.
GATEWAY_TEST_IMAP ?= memory
test-fast: fmt-check vet
	GATEWAY_TEST_IMAP=$(GATEWAY_TEST_IMAP) $(GO) test -short -count=1 ./...

unit:
	$(GO) test -count=1 ./...

# The PKCS#11 provider and the gateway on it, against a SoftHSM2 token.
pkcs11:
	CGO_ENABLED=1 $(GO) vet -tags pkcs11 ./keys ./cmd/gateway
	CGO_ENABLED=1 $(GO) test -tags pkcs11 -count=1 ./keys
	CGO_ENABLED=1 $(GO) test -tags pkcs11 -count=1 -run 'SoftHSM|Keys' ./cmd/gateway

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
# Go before 1.27 can end a -fuzztime run with a bare "context deadline
# exceeded" when the deadline races a worker (go.dev/issue/75804): such a
# run, which wrote no failing input, runs once more; any other failure fails.
define fuzz_one
@out=$$($(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(FUZZTIME) $(2) 2>&1); rc=$$?; \
echo "$$out" | grep -v '^fuzz: elapsed'; \
if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
	echo "$(1): the fuzz engine's deadline race, no failing input: once more"; \
	exec $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(FUZZTIME) $(2); \
fi; exit $$rc
endef

fuzz:
	$(call fuzz_one,FuzzRedact,./redact)
	$(call fuzz_one,FuzzExpressionWindows,./redact)
	$(call fuzz_one,FuzzPossible,./card)
	$(call fuzz_one,FuzzStream,./redact)
	$(call fuzz_one,FuzzReference,./redact)
	$(call fuzz_one,FuzzParseConfig,./cmd/gateway)
	$(call fuzz_one,FuzzParseReply,./secure)
	$(call fuzz_one,FuzzRedactMail,./mail)
	$(call fuzz_one,FuzzAppenderResponses,./mail)
	$(call fuzz_one,FuzzEventDecoder,./voice)
	$(call fuzz_one,FuzzFrameTracker,./internal/wsconn)
	$(call fuzz_one,FuzzOpenBody,./store)

# Benchmarks on one core; compare runs with benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -count 6 ./redact ./mail ./voice | tee bench.txt
	@echo "compare with: go run golang.org/x/perf/cmd/benchstat@latest old.txt bench.txt"

clean:
	rm -rf bin bench.txt
