# pinwatch — the user's entry point. `make run` and `make test` work on a fresh Debian 12
# machine as root, from a clone in any folder: they install what is missing first. `make run`
# installs only what building and running need; `make demo` and `make test` add their tools.

RUN_PACKAGES := build-essential cmake pkg-config ca-certificates openssl curl python3 \
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libpq-dev libssl-dev libidn2-dev libarchive-dev \
	libmaxminddb-dev zlib1g-dev libxml2-dev libplist-dev postgresql-15 postgresql-client-15 postgresql-15-hll \
	libjs-chart.js
DEMO_PACKAGES := jq
TEST_PACKAGES := libcriterion-dev libmaxmind-db-writer-perl clang-format docker-compose \
	chromium chromium-driver
# Everything CI installs on a fresh machine.
DEBIAN_PACKAGES := $(RUN_PACKAGES) $(DEMO_PACKAGES) $(TEST_PACKAGES)
BENCH_PACKAGES := wrk
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps deps-run build run stop-db demo test bench fuzz format clean

all: build

# Install the Debian packages that are not installed yet (apt-get update only when needed).
PACKAGES ?= $(DEBIAN_PACKAGES)
deps:
	@missing=""; for p in $(PACKAGES) $(EXTRA_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps-run:
	@$(MAKE) --no-print-directory deps PACKAGES="$(RUN_PACKAGES)"

build: deps-run
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINWATCH_TESTS=OFF >/dev/null
	cmake --build build -j $(JOBS) --target pinwatch

run: build
	@scripts/run.sh

# `make run` leaves its PostgreSQL running for the next run; this stops it (the data stays).
stop-db:
	@if [ -f var/pg-home ]; then scripts/pgcluster.sh stop var && echo "stop-db: stopped"; fi

# Sample reports (examples/) through the public ingest API into the server `make run` started.
demo:
	@$(MAKE) --no-print-directory deps PACKAGES="$(RUN_PACKAGES) $(DEMO_PACKAGES)"
	@python3 examples/demo.py

# Warnings as errors, AddressSanitizer + UndefinedBehaviorSanitizer, a throwaway PostgreSQL
# (CTest fixture, removed even when tests fail), every test through ctest.
test: deps
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DPINWATCH_WERROR=ON -DPINWATCH_SANITIZERS=ON >/dev/null
	cmake --build build-test -j $(JOBS)
	cd build-test && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

bench:
	@$(MAKE) --no-print-directory deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	@bench/run.sh

# libFuzzer harnesses (fuzz/, clang with ASan + UBSan), FUZZ_SECONDS each; fails on a finding.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_PACKAGES="clang libclang-rt-14-dev"
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) fuzz/run.sh

format:
	clang-format -i $$(git ls-files "*.c" "*.h")

clean:
	rm -rf build build-test build-bench build-fuzz
