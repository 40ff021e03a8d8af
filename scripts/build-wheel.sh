#!/usr/bin/env bash
# `make wheel`: dist/mopps-<version>-py3-none-manylinux_<glibc>_x86_64.whl with the Python client and
# a self-contained moppsd: the Swift runtime linked statically (--static-swift-stdlib), libzmq,
# libprotobuf-c and what they load vendored into the wheel by auditwheel (which sets the binary's
# RPATH to them), stripped. Nothing outside the wheel is needed but the C runtime that manylinux
# allows (glibc, libstdc++, libgcc_s). Usage: scripts/build-wheel.sh [OUT_DIR] (default: dist).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)"
cd "$repo"
python="${PY:-python3}"
version="$(cat VERSION)"

# No CPU flags: the binary carries every kernel variant and picks one from CPUID at start, so the
# one wheel runs on any x86-64 CPU at that CPU's full speed.
echo "== building moppsd $version with the static Swift runtime (.build-wheel)"
swift build -c release --static-swift-stdlib --scratch-path .build-wheel --product moppsd

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
echo "== staging the package in $stage"
cp -r clients/python/mopps clients/python/pyproject.toml clients/python/README.md "$stage/"
find "$stage/mopps" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$stage/mopps/_bin"
cp .build-wheel/release/moppsd "$stage/mopps/_bin/moppsd"
strip --strip-unneeded "$stage/mopps/_bin/moppsd"
# The wheel (only) installs a `moppsd` command that runs the bundled binary.
sed -i 's/^\[project.scripts\]$/[project.scripts]\nmoppsd = "mopps._bundled:main"/' "$stage/pyproject.toml"

echo "== building the wheel"
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$stage/dist" "$stage"
plain="$(ls "$stage"/dist/mopps-*.whl)"
"$python" -m wheel tags --remove --python-tag py3 --abi-tag none --platform-tag linux_x86_64 "$plain" >/dev/null
tagged="$(ls "$stage"/dist/mopps-*linux_x86_64.whl)"

echo "== vendoring shared libraries (auditwheel)"
"$python" -m auditwheel repair -w "$out" "$tagged"
ls -la "$out"/mopps-"$version"-*.whl
