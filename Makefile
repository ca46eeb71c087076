# Entry points. `make demo` and `make test` install what is missing (scripts/setup), then build.
PRESET ?= release
JOBS ?= $(shell nproc)

.PHONY: all setup build test demo asan bench format tidy clean

all: build

setup: .deps/setup.stamp

.deps/setup.stamp: scripts/setup
	bash scripts/setup

build: setup
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	ctest --preset $(PRESET) -j $(JOBS)

demo: build
	bash scripts/demo build/$(PRESET)

asan:
	$(MAKE) test PRESET=asan

# Every benchmark, one after the other (docs/PERFORMANCE.md records their latest figures).
bench: build
	bash bench/run build/$(PRESET)
	build/$(PRESET)/bin/runtime_bench
	build/$(PRESET)/bin/engine_bench --models build/$(PRESET)/bench-models
	build/$(PRESET)/bin/catalogue_bench
	build/$(PRESET)/bin/model_open

format:
	git ls-files '*.h' '*.cpp' | xargs clang-format -i

tidy: build
	git ls-files 'src/*.cpp' | xargs clang-tidy -p build/$(PRESET) --quiet

clean:
	rm -rf build
