#!/usr/bin/env bash
# The PostgreSQL ledger and sharded nights of BENCHMARKS.md, in one run on one machine:
# generate a night, then time against the bare csv-crate read of the same file
#   - the whole night on a SQLite ledger and on a PostgreSQL ledger,
#   - the night as SHARDS shards started at once on one PostgreSQL ledger, and their merge,
# check that the merged outputs are the SQLite run's byte for byte, and print the ratios.
#
#   scripts/bench-shards.sh PG_URL [LINES] [MEMBERS] [SHARDS]
#
# PG_URL names a database to connect to (e.g. the URL .ci/postgres prints); the script creates
# and drops databases of its own beside it. Defaults: 2000000 lines, 200000 members, 4 shards.
# Needs /usr/bin/time (Debian package `time`) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${1:?usage: scripts/bench-shards.sh PG_URL [LINES] [MEMBERS] [SHARDS]}
LINES=${2:-2000000}
MEMBERS=${3:-200000}
SHARDS=${4:-4}
WORK=${BENCH_DIR:-target/bench}/shards-$LINES-$MEMBERS
cargo build --release --quiet --bin declaro --example bare_read
BIN=target/release/declaro
BARE=target/release/examples/bare_read
mkdir -p "$WORK"
if [ ! -f "$WORK/claims.csv" ]; then
  "$BIN" generate --lines "$LINES" --members "$MEMBERS" --seed 42 --out "$WORK" >/dev/null
fi
BASE=${PG%%\?*}; BASE=${BASE%/*}
db() { psql -q "$PG" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1; }
process() { # claims ledger out [args...]
  local claims=$1 ledger=$2 out=$3; shift 3
  rm -rf "$out"
  "$BIN" process --quiet --policy fixtures/policies --members "$WORK/members.csv" \
    --run-date 2025-12-31 --ledger "$ledger" --out "$out" "$@" "$claims"
}
timed() { # label command...: "label seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1 ||
    { echo "$label failed" >&2; exit 1; }
  echo "$label $(tail -1 "$WORK/time.txt")"
}
export -f process; export BIN WORK

# One night (claims file, suffix of its output directories): whole on SQLite, whole on
# PostgreSQL, and as SHARDS shards at once on PostgreSQL, merged and checked byte for byte.
# Sets lite, lite_kb, pgw, pgw_kb, wall and merge.
night() {
  local claims=$1 k=$2 i
  read -r _ lite lite_kb <<<"$(timed sqlite bash -c "process '$claims' '$WORK/whole.db' '$WORK/sqlite$k'")"
  read -r _ pgw pgw_kb <<<"$(timed pg bash -c "process '$claims' '$BASE/declaro_bench_whole' '$WORK/pg$k'")"
  local start end dirs
  start=$(date +%s.%N)
  for i in $(seq 1 "$SHARDS"); do
    ( /usr/bin/time -o "$WORK/shard$i$k.time" -f "%e %M" bash -c \
        "process '$claims' '$BASE/declaro_bench_shards' '$WORK/shard$i$k' --shard $i/$SHARDS" ) &
  done
  wait
  end=$(date +%s.%N)
  wall=$(echo "$end - $start" | bc)
  dirs=$(for i in $(seq 1 "$SHARDS"); do echo "$WORK/shard$i$k"; done)
  rm -rf "$WORK/merged$k"
  read -r _ merge _ <<<"$(timed merge "$BIN" merge --out "$WORK/merged$k" $dirs)"
  for f in remittance.csv rejections.csv report.html; do
    cmp -s "$WORK/sqlite$k/$f" "$WORK/pg$k/$f" || { echo "pg$k/$f differs from sqlite$k/$f"; exit 1; }
    cmp -s "$WORK/sqlite$k/$f" "$WORK/merged$k/$f" || { echo "merged$k/$f differs"; exit 1; }
  done
}

read -r _ bare _ <<<"$(timed bare "$BARE" "$WORK/claims.csv")"
rm -f "$WORK/whole.db"
db declaro_bench_whole
db declaro_bench_shards
night "$WORK/claims.csv" ""
# Night 2 over the same members (fresh line ids, credits of night 1) on the ledgers night 1
# left: the look-ups now find a ledger of 1.6M lines.
if [ ! -f "$WORK/n2/claims.csv" ]; then
  "$BIN" generate --lines "$LINES" --members "$MEMBERS" --seed 42 --night 2 --out "$WORK/n2" >/dev/null
fi
first=("$lite" "$lite_kb" "$pgw" "$pgw_kb" "$wall" "$merge")
night "$WORK/n2/claims.csv" "-2"
lite2=$lite pgw2=$pgw wall2=$wall
lite=${first[0]} lite_kb=${first[1]} pgw=${first[2]} pgw_kb=${first[3]} wall=${first[4]} merge=${first[5]}
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "file: $WORK/claims.csv ($LINES lines, $MEMBERS members, $SHARDS shards, $(nproc) cores)"
echo "bare csv ByteRecord read:             ${bare} s"
echo "whole night, SQLite ledger:           ${lite} s  $(ratio "$lite" "$bare")x bare  peak ${lite_kb} KB"
echo "whole night, PostgreSQL ledger:       ${pgw} s  $(ratio "$pgw" "$bare")x bare  $(ratio "$pgw" "$lite")x SQLite  peak ${pgw_kb} KB"
for i in $(seq 1 "$SHARDS"); do
  read -r t kb <"$WORK/shard$i.time"
  lines=$(python3 -c "import json;print(json.load(open('$WORK/shard$i/summary.json'))['lines'])")
  echo "shard $i/$SHARDS: ${t} s, $lines lines, $(echo "$lines / $t" | bc) lines/s, peak ${kb} KB"
done
echo "$SHARDS shards at once, wall:          ${wall} s  $(ratio "$wall" "$bare")x bare  $(ratio "$wall" "$pgw")x the whole PostgreSQL night"
echo "merge:                                ${merge} s  $(ratio "$merge" "$bare")x bare"
echo "merged outputs = SQLite run's outputs: byte for byte (remittance, rejections, report)"
echo "night 2 on the ledgers of night 1:"
echo "  whole night, SQLite ledger:         ${lite2} s  $(ratio "$lite2" "$bare")x bare"
echo "  whole night, PostgreSQL ledger:     ${pgw2} s  $(ratio "$pgw2" "$bare")x bare  $(ratio "$pgw2" "$lite2")x SQLite"
for i in $(seq 1 "$SHARDS"); do
  read -r t kb <"$WORK/shard$i-2.time"
  echo "  shard $i/$SHARDS: ${t} s, peak ${kb} KB"
done
echo "  $SHARDS shards at once, wall:        ${wall2} s  $(ratio "$wall2" "$pgw2")x the whole PostgreSQL night"
echo "  merged outputs = SQLite run's outputs: byte for byte"
psql -q "$PG" -c "DROP DATABASE declaro_bench_whole" -c "DROP DATABASE declaro_bench_shards" >/dev/null 2>&1 || true
