#!/usr/bin/env bash
# The ledger measurements of BENCHMARKS.md, in one run:
#  (a) history: nights 1..NIGHTS of LINES lines over one register of MEMBERS members run on one
#      ledger, then night NIGHTS+1 timed on (a copy of) that ledger against the same night on a
#      new, empty ledger (target: <= 1.25x);
#  (b) the small night: a 1000-line night over a register of SMALL_MEMBERS members on a new
#      ledger (targets: <= 0.5 s and <= 100 MB peak RSS).
#
#   scripts/bench-ledger.sh [LINES] [MEMBERS] [NIGHTS] [SMALL_MEMBERS]
#                           (default 1000000 100000 10 1000000)
#
# Generated nights and the history ledger are kept in ${BENCH_DIR:-target/bench}/ledger-*/ and
# reused; the timed runs work on copies. Needs /usr/bin/time (Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
MEMBERS=${2:-100000}
NIGHTS=${3:-10}
SMALL_MEMBERS=${4:-1000000}
WORK=${BENCH_DIR:-target/bench}
cargo build --release --quiet --bin declaro
BIN=target/release/declaro
NEXT=$((NIGHTS + 1))

generate() { # dir lines members night: writes dir/members.csv and dir/night<K>.csv once
  local dir=$1 lines=$2 members=$3 night=$4
  if [ ! -f "$dir/night$night.csv" ]; then
    echo "generating night $night: $lines lines, $members members ..."
    rm -rf "$dir/gen"
    /usr/bin/time -f "generate: %e s" "$BIN" generate --lines "$lines" --members "$members" \
      --seed 42 --night "$night" --out "$dir/gen"
    mv "$dir/gen/claims.csv" "$dir/night$night.csv"
    mv "$dir/gen/members.csv" "$dir/members.csv"
  fi
}
process() { # dir ledger night
  rm -rf "$1/out"
  "$BIN" process --quiet --policy fixtures/policies --members "$1/members.csv" \
    --run-date 2025-12-31 --threads 2 --ledger "$2" --out "$1/out" "$1/night$3.csv"
}
measure() { # label, command...: prints "label seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1 ||
    { echo "$label failed: $(head -1 "$WORK/time.txt")" >&2; exit 1; }
  echo "$label $(tail -1 "$WORK/time.txt")"
}
export -f process; export BIN

# (a) A night on top of NIGHTS nights of history.
D=$WORK/ledger-$LINES-$MEMBERS
mkdir -p "$D"
for k in $(seq 1 "$NEXT"); do generate "$D" "$LINES" "$MEMBERS" "$k"; done
if [ "$(cat "$D/history.nights" 2>/dev/null)" != "$NIGHTS" ]; then
  rm -f "$D/history.db" "$D/history.nights"
  for k in $(seq 1 "$NIGHTS"); do
    echo "night $k on the history ledger ..."
    /usr/bin/time -f "night $k: %e s, peak RSS %M KB" bash -c "process '$D' '$D/history.db' $k"
  done
  echo "$NIGHTS" >"$D/history.nights"
fi
rm -f "$D/timed.db" "$D/fresh.db"
cp "$D/history.db" "$D/timed.db"
# The copy's dirty pages would otherwise be written back by the timed run's commit (its fsync).
sync
hist=$(measure history bash -c "process '$D' '$D/timed.db' $NEXT")
fresh=$(measure fresh bash -c "process '$D' '$D/fresh.db' $NEXT")
read -r _ th mh <<<"$hist"; read -r _ tf mf <<<"$fresh"
echo "history: $NIGHTS nights of $LINES lines over $MEMBERS members ($(( $(stat -c %s "$D/history.db") / 1024 )) KB ledger)"
echo "night $NEXT on the history ledger: ${th} s, peak RSS ${mh} KB"
echo "night $NEXT on a new ledger:       ${tf} s, peak RSS ${mf} KB"
awk -v th="$th" -v tf="$tf" 'BEGIN {
  printf "ratio history/new ledger:        %.2fx (target <= 1.25x)\n", (tf > 0 ? th / tf : 0)
}'

# (b) A small night over a large register.
S=$WORK/ledger-small-$SMALL_MEMBERS
mkdir -p "$S"
generate "$S" 1000 "$SMALL_MEMBERS" 1
rm -f "$S/fresh.db"
small=$(measure small bash -c "process '$S' '$S/fresh.db' 1")
read -r _ ts ms <<<"$small"
echo "small night: 1000 lines over $SMALL_MEMBERS members, new ledger"
awk -v ts="$ts" -v ms="$ms" 'BEGIN {
  printf "wall time:                       %.2f s (target <= 0.5 s)\n", ts
  printf "peak RSS:                        %.1f MB (target <= 100 MB)\n", ms / 1024
}'
