#!/usr/bin/env bash
# The throughput measurement of BENCHMARKS.md: generate a night, then time `declaro process`
# against a bare csv-crate read of the same file, in one run, and print the ratios.
#
#   scripts/bench.sh [LINES] [MEMBERS]      (default 10000000 lines, 1000000 members)
#
# Needs /usr/bin/time (Debian package `time`) for peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-10000000}
MEMBERS=${2:-1000000}
WORK=${BENCH_DIR:-target/bench}
cargo build --release --quiet --bin declaro --example bare_read
BIN=target/release/declaro
BARE=target/release/examples/bare_read
mkdir -p "$WORK"
if [ ! -f "$WORK/claims-$LINES.csv" ]; then
  echo "generating $LINES lines, $MEMBERS members ..."
  /usr/bin/time -f "generate: %e s" "$BIN" generate --lines "$LINES" --members "$MEMBERS" --seed 42 --out "$WORK/gen"
  mv "$WORK/gen/claims.csv" "$WORK/claims-$LINES.csv"
  mv "$WORK/gen/members.csv" "$WORK/members-$LINES.csv"
fi
CLAIMS=$WORK/claims-$LINES.csv
SIZE_KB=$(( $(stat -c %s "$CLAIMS") / 1024 ))

measure() { # label, command...: prints "label seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1
  echo "$label $(tail -1 "$WORK/time.txt")"
}
run_process() { # threads
  rm -rf "$WORK/out"
  "$BIN" process --quiet --policy fixtures/policies --members "$WORK/members-$LINES.csv" \
    --run-date 2025-12-31 --threads "$1" --out "$WORK/out" "$CLAIMS"
}
export -f run_process; export BIN WORK LINES CLAIMS

bare=$(measure bare "$BARE" "$CLAIMS")
p2=$(measure process2 bash -c 'run_process 2')
p1=$(measure process1 bash -c 'run_process 1')
read -r _ tb _ <<<"$bare"; read -r _ t2 m2 <<<"$p2"; read -r _ t1 m1 <<<"$p1"
echo "file: $CLAIMS ($LINES lines, $SIZE_KB KB)"
echo "bare csv ByteRecord read:    ${tb} s"
echo "declaro process, 2 threads:  ${t2} s, peak RSS ${m2} KB"
echo "declaro process, 1 thread:   ${t1} s, peak RSS ${m1} KB"
awk -v tb="$tb" -v t2="$t2" -v t1="$t1" -v m2="$m2" -v size="$SIZE_KB" -v lines="$LINES" 'BEGIN {
  printf "ratio process/bare:          %.1fx (target <= 1.5x)\n", t2 / tb
  printf "lines per second:            %d\n", lines / t2
  printf "peak RSS / input size:       %.2f (target <= 0.5)\n", m2 / size
  printf "speed-up 2 threads vs 1:     %.2fx (target >= 1.6x)\n", t1 / t2
}'
