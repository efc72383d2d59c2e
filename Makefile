# webserv build. `make` = release binary ./webserv; `make asan` = ./webserv-asan.
CC      ?= gcc
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ASANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DBUF_MOVE_ON_RESERVE

SRCS    := $(wildcard src/*.c)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
UNITSRCS := $(wildcard tests/unit/*.c)
HDRS    := $(wildcard src/*.h)
PYTEST  := /usr/bin/python3 -m pytest
LIBS    := -lssl -lcrypto -lnghttp2 -lpcre2-8 -lcrypt

.PHONY: all asan run cert test unit integration deps build-deps clean bench fuzz fuzz-smoke soak test-valgrind

all: webserv

# The embedded default configuration resolves relative paths against the
# source tree's conf/ folder (see src/default_conf.c).
DEFS := -DWEBSERV_CONF_DIR='"$(CURDIR)/conf"'

webserv: $(SRCS) $(HDRS) conf/default.conf | build-deps
	$(CC) $(CSTD) $(WARN) $(CFLAGS) $(DEFS) -o $@ $(SRCS) $(LIBS)

webserv-asan: $(SRCS) $(HDRS) conf/default.conf | build-deps
	$(CC) $(CSTD) $(WARN) $(ASANFLAGS) $(DEFS) -o $@ $(SRCS) $(LIBS)

asan: webserv-asan

tests/unit/run: $(LIBSRCS) $(UNITSRCS) $(HDRS) $(wildcard tests/unit/*.h) | build-deps
	$(CC) $(CSTD) $(WARN) $(ASANFLAGS) $(DEFS) -Isrc -o $@ $(LIBSRCS) $(UNITSRCS) $(LIBS)

run: webserv
	@./tests/install-deps.sh run
	./webserv

# A local CA and a certificate for localhost in certs/ (conf/https.conf).
cert:
	@./scripts/make-cert.sh

unit: tests/unit/run
	./tests/unit/run

deps:
	@./tests/install-deps.sh

# OpenSSL's headers (libssl-dev), installed when missing.
build-deps:
	@./tests/install-deps.sh build

# Unit tests (sanitized); the integration suite against the release build,
# the sanitizer build and the release build under valgrind memcheck; a
# 20-second smoke run of each fuzzer; the browser test of the demo.
test: deps webserv webserv-asan tests/unit/run
	./tests/unit/run
	$(PYTEST) -q tests
	WEBSERV_BIN=./webserv-asan $(PYTEST) -q tests
	WEBSERV_VALGRIND=1 $(PYTEST) -q tests
	FUZZ_BUILD=$${FUZZ_BUILD:-/tmp/webserv-fuzz-smoke} ./fuzz/run.sh 20
	bash tests/testssl/run.sh
	bash tests/browser/run.sh

# webserv against nginx, side by side (bench/README.md); BENCH_ARGS=--quick for a short run.
bench: webserv
	/usr/bin/python3 bench/bench.py $(BENCH_ARGS)

# libFuzzer harnesses (fuzz/README.md): FUZZ_TIME seconds each.
FUZZ_TIME ?= 600
fuzz:
	./fuzz/run.sh $(FUZZ_TIME)

fuzz-smoke:
	./fuzz/run.sh 20

# siege against a mix of static, CGI and upload URLs (tests/soak.py).
soak: webserv
	/usr/bin/python3 tests/soak.py

# The integration suite with the release build under valgrind memcheck.
test-valgrind: deps webserv
	WEBSERV_VALGRIND=1 $(PYTEST) -q tests

clean:
	rm -f webserv webserv-asan tests/unit/run
	rm -rf tests/__pycache__ .pytest_cache
