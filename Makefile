# make test  - install missing Debian packages, build, run every test
# make demo  - install, build, run the daemon against the sandbox and narrate
# make bench - the C++ benchmarks, then bench/*.sh (webhook ingest against nginx
#              and Node-RED, backlog drain at the rate limit; see bench/README.md)
# make test SANITIZE=1 - the same tests built with address and UB sanitizers
# CTEST_ARGS=...      - passed to ctest (e.g. -R NAME, -LE integration_tests)
# make fuzz  - build the libFuzzer harnesses (clang 14) in build-fuzz and run
#              each door for FUZZ_SECONDS (default 60); see tests/fuzz/README.md
# make console-screenshots - the staff console's browser test, keeping its
#              screenshots in docs/console/ (docs/operations.md links them)
# make package - the Debian package (CPack) in build/, path printed at the end;
#              see docs/operations.md, "Installing from the Debian package"
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san
CMAKE_FLAGS += -DORDERFLOW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
BUILD ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif

.PHONY: all deps configure build test demo bench fuzz package console-screenshots clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 300 $(CTEST_ARGS)

demo: build
	scripts/demo.sh $(BUILD)

bench: deps configure
	cmake --build $(BUILD) --target benchmarks orderflowd orderflowctl orderflow-sandbox
	@for b in $(BUILD)/bench/*_bench; do echo "== $$b"; $$b; done
	@for s in bench/*.sh; do echo "== $$s"; $$s $(BUILD) || exit 1; done

fuzz: deps
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) scripts/fuzz.sh

console-screenshots: build
	cd $(BUILD) && ORDERFLOW_CONSOLE_SHOTS=$(CURDIR)/docs/console ./tests/integration_tests "Staff resolve a flagged order*"

# cpack would build `all` itself (its preinstall step); building first shows
# compiler errors the usual way.
package: deps configure
ifeq ($(SANITIZE),1)
	@echo "make package: a package of sanitized binaries makes no sense; run it without SANITIZE=1" >&2; exit 1
endif
	cmake --build $(BUILD)
	rm -f $(BUILD)/orderflow_*.deb
	cd $(BUILD) && cpack -G DEB
	@echo "package: $$(ls $(BUILD)/orderflow_*.deb)"

clean:
	rm -rf build build-san build-fuzz
