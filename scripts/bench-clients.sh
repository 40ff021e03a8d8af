#!/usr/bin/env bash
# Select round-trip p50 from each client language side by side: M client-given candidates, batch B,
# over ipc, against one release moppsd started here (each language on its own pool, same seed).
# Run `make clients build` first (`make bench-clients` does). A loaded machine moves every number;
# compare the languages within one run, not across runs.
#   scripts/bench-clients.sh [REPS] [M] [B]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
reps="${1:-500}" m="${2:-4096}" b="${3:-256}"
py="${PY:-python3}"
state="$(mktemp -d /tmp/mopps-bench-clients.XXXXXX)"
"$repo/.build/release/moppsd" serve --state-dir "$state" --listen "ipc://$state/s.sock" \
  --publish "ipc://$state/e.sock" 2>"$state/moppsd.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do [ -S "$state/s.sock" ] && break; sleep 0.1; done
declare -A programs=(
  [python]="env PYTHONPATH=$repo/clients/python $py -m mopps.conformance"
  [c]="$repo/clients/c/build/mopps-conformance"
  [cpp]="$repo/clients/cpp/build/mopps-conformance"
  [rust]="$repo/clients/rust/target/release/mopps-conformance"
  [swift]="$repo/.build/release/mopps-conformance"
)
echo "Select round trip, M=$m candidates from the client, B=$b, ipc, $reps calls each (p50 µs)"
for lang in python c cpp rust swift; do
  line=$(${programs[$lang]} --endpoint "ipc://$state/s.sock" --pool "bench-$lang" --seed 1 --prompts "$m" \
    --batch "$b" --steps 0 --bench-select "$reps")
  printf '%-7s %s\n' "$lang" "${line#select p50 us: }"
done
