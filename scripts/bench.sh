#!/usr/bin/env bash
# The throughput measurement of BENCHMARKS.md: generate a night, then time `declaro process`
# against its baselines on the same file, in one run, and print the ratios with their targets:
# a bare csv-crate read, DuckDB (scripts/duckdb_baseline.py, 2 threads) and, for the same night
# as XML, a bare quick-xml loop that unescapes every attribute value (examples/bare_xml).
# It also prints the night's output floor, what any run that writes the contract's outputs and
# checks them pays before computing anything: the bare read, plus rendering the rows of the
# run's remittance and rejections with the csv crate's writer (examples/bare_write, counted
# as spread over two cores), plus writing the bytes the run wrote and syncing them (the faster
# of two tries each), plus a bare read of its remittance and rejections (the reconciliation
# reads them back; counted as spread over two cores). It also prints the floor with the sync
# left out, as if the disk's work were hidden entirely behind the rest.
#
#   scripts/bench.sh [LINES] [MEMBERS]      (default 10000000 lines, 1000000 members)
#
# Needs /usr/bin/time (Debian package `time`) for peak RSS and the Python `duckdb` package.
# The generated files are kept in ${BENCH_DIR:-target/bench}/night1-LINES-MEMBERS/.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-10000000}
MEMBERS=${2:-1000000}
WORK=${BENCH_DIR:-target/bench}
cargo build --release --quiet --bin declaro --example bare_read --example bare_xml \
  --example bare_write
BIN=target/release/declaro
BARE=target/release/examples/bare_read
BARE_XML=target/release/examples/bare_xml
BARE_WRITE=target/release/examples/bare_write
GEN=$WORK/night1-$LINES-$MEMBERS
mkdir -p "$GEN"
for format in csv xml; do
  if [ ! -f "$GEN/claims.$format" ]; then
    echo "generating $LINES lines, $MEMBERS members ($format) ..."
    rm -rf "$WORK/gen"
    /usr/bin/time -f "generate: %e s" "$BIN" generate --lines "$LINES" --members "$MEMBERS" \
      --seed 42 --night 1 --format "$format" --out "$WORK/gen"
    mv "$WORK/gen/claims.$format" "$GEN/claims.$format"
    mv "$WORK/gen/members.csv" "$GEN/members.csv"
  fi
done
CLAIMS=$GEN/claims.csv
XML=$GEN/claims.xml
MEMBERS_CSV=$GEN/members.csv
SIZE_KB=$(( $(stat -c %s "$CLAIMS") / 1024 ))
XML_KB=$(( $(stat -c %s "$XML") / 1024 ))

measure() { # label, command...: prints "label seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1 ||
    { echo "$label failed: $(head -1 "$WORK/time.txt")" >&2; exit 1; }
  echo "$label $(tail -1 "$WORK/time.txt")"
}
run_process() { # threads, input
  rm -rf "$WORK/out"
  "$BIN" process --quiet --policy fixtures/policies --members "$MEMBERS_CSV" \
    --run-date 2025-12-31 --threads "$1" --out "$WORK/out" "$2"
}
export -f run_process; export BIN BARE WORK MEMBERS_CSV CLAIMS XML

# Every timed read starts from the page cache: the files are read once, untimed.
cat "$CLAIMS" "$MEMBERS_CSV" >/dev/null
bare=$(measure bare "$BARE" "$CLAIMS")
p2=$(measure process2 bash -c 'run_process 2 "$CLAIMS"')
p1=$(measure process1 bash -c 'run_process 1 "$CLAIMS"')
written=("$WORK/out/remittance.csv" "$WORK/out/rejections.csv" "$WORK/out/ledger.db")
read -r r1 w1 s1 _ <<<"$("$BARE_WRITE" "$WORK/floor" "${written[@]}")"
read -r r2 w2 s2 _ <<<"$("$BARE_WRITE" "$WORK/floor" "${written[@]}")"
OUT_KB=$(( $(cat "${written[@]}" | wc -c) / 1024 ))
rb=$(measure read_back bash -c '"$BARE" "$WORK/out/remittance.csv" && "$BARE" "$WORK/out/rejections.csv"')
duck=$(python3 scripts/duckdb_baseline.py "$CLAIMS" 2)
cat "$XML" >/dev/null
bare_xml=$(measure bare_xml "$BARE_XML" "$XML")
x2=$(measure xml2 bash -c 'run_process 2 "$XML"')
read -r _ tb _ <<<"$bare"; read -r _ t2 m2 <<<"$p2"; read -r _ t1 m1 <<<"$p1"
read -r td _ <<<"$duck"; read -r _ tbx _ <<<"$bare_xml"; read -r _ tx2 mx2 <<<"$x2"
read -r _ trb _ <<<"$rb"
echo "file: $CLAIMS ($LINES lines, $SIZE_KB KB)"
echo "bare csv ByteRecord read:    ${tb} s"
echo "declaro process, 2 threads:  ${t2} s, peak RSS ${m2} KB"
echo "declaro process, 1 thread:   ${t1} s, peak RSS ${m1} KB"
echo "duckdb, 2 threads:           ${td} s (the one statement: $duck)"
awk -v tb="$tb" -v t2="$t2" -v t1="$t1" -v m2="$m2" -v size="$SIZE_KB" -v lines="$LINES" \
    -v td="$td" 'function ratio(a, b) { return b > 0 ? a / b : 0 }
BEGIN {
  printf "ratio process/bare:          %.1fx (target <= 3x)\n", ratio(t2, tb)
  printf "lines per second:            %d\n", ratio(lines, t2)
  printf "peak RSS / input size:       %.2f (target <= 1.0)\n", ratio(m2, size)
  printf "speed-up 2 threads vs 1:     %.2fx (target >= 1.6x)\n", ratio(t1, t2)
  printf "ratio duckdb/process:        %.1fx (target >= 4x)\n", ratio(td, t2)
}'
awk -v tb="$tb" -v r1="$r1" -v r2="$r2" -v w1="$w1" -v w2="$w2" -v s1="$s1" -v s2="$s2" \
    -v trb="$trb" -v t2="$t2" -v kb="$OUT_KB" 'function ratio(a, b) { return b > 0 ? a / b : 0 }
function min(a, b) { return a < b ? a : b }
BEGIN {
  r = min(r1, r2); w = min(w1, w2); sy = min(s1, s2)
  floor = tb + r / 2 + w + sy + trb / 2
  low = tb + r / 2 + w + trb / 2
  printf "output floor:                %.2f s = %.1fx the bare read (target <= 3x); process is %.1fx it\n", floor, ratio(floor, tb), ratio(t2, floor)
  printf "  with the sync hidden:      %.2f s = %.1fx the bare read\n", low, ratio(low, tb)
  printf "  bare read %.2f s + csv render %.2f s / 2 cores + write %d KB %.2f s + sync %.2f s + read back %.2f s / 2 cores (tries: render %.2f %.2f, write %.2f %.2f, sync %.2f %.2f)\n", tb, r, kb, w, sy, trb, r1, r2, w1, w2, s1, s2
}'
echo "file: $XML ($LINES lines, $XML_KB KB)"
echo "bare quick-xml unescape loop: ${tbx} s"
echo "declaro process, 2 threads:  ${tx2} s, peak RSS ${mx2} KB"
awk -v tbx="$tbx" -v tx2="$tx2" 'function ratio(a, b) { return b > 0 ? a / b : 0 }
BEGIN {
  printf "ratio XML process/bare:      %.1fx (target <= 2.5x)\n", ratio(tx2, tbx)
}'
