#!/usr/bin/env bash
# Generates the C (protoc-c), Python and C++ (protoc) code for proto/ into a root folder (default: the
# repo), laid out as committed: C headers under CModules/MoPPSProtoC/include, C sources under
# CModules/MoPPSProtoC/src, Python modules under clients/python, C++ (lite runtime) under
# clients/cpp/gen, Rust (Debian's protoc-gen-rust 2.27) under clients/rust/src/gen. The proto-sync test runs this into a
# temporary folder and compares, so the committed code cannot drift from proto/.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$repo/proto"
protos=$(find mopps -name '*.proto' | sort)
mkdir -p "$tmp/c"
# The C side needs the messages only (see service.proto for why it is left out).
protoc-c --c_out="$tmp/c" $(echo "$protos" | grep -v '/service\.proto$')
mkdir -p "$tmp/py"
protoc --python_out="$tmp/py" --pyi_out="$tmp/py" $protos
# C++: the messages only, like C (service.proto has no messages), for the lite runtime.
mkdir -p "$tmp/cpp"
protoc --cpp_out=lite:"$tmp/cpp" $(echo "$protos" | grep -v '/service\.proto$')
mkdir -p "$tmp/rs"
protoc --rust_out="$tmp/rs" $(echo "$protos" | grep -v '/service\.proto$')
for f in $(cd "$tmp/c" && find . -name '*.pb-c.h'); do
  mkdir -p "$out/CModules/MoPPSProtoC/include/$(dirname "$f")"
  cp "$tmp/c/$f" "$out/CModules/MoPPSProtoC/include/$f"
done
for f in $(cd "$tmp/c" && find . -name '*.pb-c.c'); do
  mkdir -p "$out/CModules/MoPPSProtoC/src/$(dirname "$f")"
  cp "$tmp/c/$f" "$out/CModules/MoPPSProtoC/src/$f"
done
for f in $(cd "$tmp/py" && find . -name '*_pb2.py' -o -name '*_pb2.pyi'); do
  mkdir -p "$out/clients/python/$(dirname "$f")"
  cp "$tmp/py/$f" "$out/clients/python/$f"
done
for f in $(cd "$tmp/cpp" && find . -name '*.pb.h' -o -name '*.pb.cc'); do
  mkdir -p "$out/clients/cpp/gen/$(dirname "$f")"
  cp "$tmp/cpp/$f" "$out/clients/cpp/gen/$f"
done
mkdir -p "$out/clients/rust/src/gen"
cp "$tmp/rs/"*.rs "$out/clients/rust/src/gen/"
