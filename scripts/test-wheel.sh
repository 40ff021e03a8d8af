#!/usr/bin/env bash
# `make test-wheel`: installs the wheel from `make wheel` into a fresh venv and checks, with the Swift
# toolchain off PATH and an empty LD_LIBRARY_PATH, that the installed moppsd loads no Swift library
# and nothing from outside the wheel but the C runtime manylinux allows, that `moppsd --version`
# runs, and that mopps.launch() starts the bundled binary for a create/select/update/get round trip.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
wheel="$(ls -t "$repo"/dist/mopps-"$(cat "$repo/VERSION")"-py3-none-manylinux_*_x86_64.whl | head -n 1)"
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
echo "== $wheel ($(du -h "$wheel" | cut -f1)) into a fresh venv"
"${PY:-python3}" -m venv "$venv"
"$venv/bin/pip" install -q "$wheel"

# A clean environment: no Swift on PATH, no library path, not the repository's source tree.
clean=(env -i HOME="$HOME" PATH="$venv/bin:/usr/bin:/bin" LD_LIBRARY_PATH= MOPPSD=)
site="$("${clean[@]}" "$venv/bin/python" -c 'import mopps, os; print(os.path.dirname(mopps.__file__))')"
binary="$site/_bin/moppsd"
echo "== ldd $binary"
"${clean[@]}" ldd "$binary" | tee "$(dirname "$venv")/ldd.txt"
# Allowed from outside the wheel: glibc's own libraries and the C++/gcc runtime (manylinux policy).
allowed='^(linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|libstdc\+\+\.so|libgcc_s\.so)'
bad=0
while read -r name arrow path _; do
  [ "$arrow" = "=>" ] || continue
  case "$path" in
    "$(dirname "$site")"/*) continue ;;  # vendored into the wheel (mopps.libs/)
  esac
  if [ "$path" = "not" ]; then echo "missing: $name"; bad=1; continue; fi
  if ! [[ "$name" =~ $allowed ]]; then echo "from outside the wheel: $name => $path"; bad=1; fi
done < "$(dirname "$venv")/ldd.txt"
if grep -qi swift "$(dirname "$venv")/ldd.txt"; then echo "a Swift library is loaded"; bad=1; fi
[ "$bad" = 0 ] || { echo "FAIL: the bundled moppsd is not self-contained"; exit 1; }

echo "== moppsd --version (the wheel's command)"
"${clean[@]}" "$venv/bin/moppsd" --version
test "$("${clean[@]}" "$venv/bin/moppsd" --version | cut -d' ' -f1)" = "$(cat "$repo/VERSION")"

echo "== one binary for every x86-64 CPU: the kernel is chosen at start (older CPUs emulated by qemu-user)"
if command -v qemu-x86_64 >/dev/null; then
  for cpu in Westmere:baseline Haswell:avx2; do
    line="$("${clean[@]}" qemu-x86_64 -cpu "${cpu%%:*}" "$binary" --version 2>/dev/null)"
    echo "  -cpu ${cpu%%:*}: $line"
    [[ "$line" == *"(kernel ${cpu##*:};"* ]] || { echo "FAIL: expected kernel ${cpu##*:}"; exit 1; }
  done
else
  echo "FAIL: qemu-x86_64 not found (make deps installs qemu-user)"; exit 1
fi

echo "== mopps.launch() round trip"
cd "$(dirname "$venv")"
"${clean[@]}" "$venv/bin/python" - <<'PY'
import numpy as np
import mopps
from mopps.launch import find_moppsd
from mopps._bundled import bundled_moppsd

assert find_moppsd() == bundled_moppsd(), (find_moppsd(), bundled_moppsd())
with mopps.launch() as c:
    c.create_pool("p", seed=1)
    batch = c.select("p", 4, candidates=np.arange(32))
    c.update("p", batch.ids, np.ones(4), rollouts=2)
    post = c.get("p", batch.ids)
    assert np.all(post.alpha == 2) and np.all(post.beta == 2), post
    print("round trip ok:", batch.ids.tolist(), c.health())
PY
echo "1 passed, 0 failed"
