#!/usr/bin/env bash
# A check the team runs by hand: declaro over real Vektis files written by others, in
# ../shared/samples/ when that folder exists (it is never part of the project: the files carry
# no licence to redistribute, so nothing here copies them, and no test reads them).
#
#   scripts/real-samples.sh [SAMPLES_DIR]
#
# Expected: the PM304 file read (its one line, speech therapy code 4000 of 2018, is
# UNKNOWN_CODE under the fixture policies, or UNKNOWN_MEMBER without its member register) and
# answered in PM305; the MZ301 file read (4 lines, UNKNOWN_MEMBER: its
# insured are in no register of ours), line ends "CR LF" without a final one, answered in MZ302
# without its 03 records; the GZ321 file refused as UNSUPPORTED_FORMAT naming code 195.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-../shared/samples}
if [ ! -d "$samples" ]; then
  echo "no samples folder at $samples: nothing to check" >&2
  exit 0
fi
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
members=fixtures/members.csv
[ -f "$samples/pm304-eicooker-test1.members.csv" ] && members="$samples/pm304-eicooker-test1.members.csv"
shopt -s nullglob
inputs=("$samples"/*.dat "$samples"/*.asc)
set +e
target/release/declaro process --quiet --policy fixtures/policies --members "$members" \
  --run-date 2025-12-31 --out "$work/out" --ei-return "$work/ei" "${inputs[@]}"
echo "exit code $? (2 expected: the GZ321 file is refused)"
set -e
python3 - "$work" <<'PY'
import json, sys, collections
work = sys.argv[1]
s = json.load(open(f"{work}/out/summary.json"))
for f in s["input_files"]:
    print(f"{f['file']}: {f['format']}, {f['records']} line(s), line ends {f.get('line_ends', '-')}"
          f"{'' if f.get('final_line_end', True) else ' (none after the last record)'}"
          + (f", refused {f['reason']} {f.get('vektis_code') or ''}: {f['refused']}" if f['refused'] else ""))
print("outcomes", s["outcomes"], "rejections", s["rejected_by_reason"])
PY
for r in "$work"/ei/*; do
  printf '%s: %s records, lengths %s\n' "$(basename "$r")" "$(grep -c '' "$r")" \
    "$(awk '{ print length($0) }' "$r" | sort -u | tr '\n' ' ')"
done
