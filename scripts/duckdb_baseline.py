#!/usr/bin/env python3
"""The DuckDB baseline of scripts/bench.sh: one SQL statement that does the core of a night.

    python3 scripts/duckdb_baseline.py FILE THREADS

Reads the claims CSV (all columns as text), charges a 385.00 deductible per member and calendar
year of service_date in service-date order (ties in input order), and writes every line with the
deductible charged on it, in input order, to a CSV file in a temporary directory:

    deductible = least(amount, greatest(0, 385 - sum of the amounts before the line))

Prints the wall time of that one statement (not of the Python start-up) and the row count.
Broken amounts and dates (the generator's ~1% bad lines) become NULL and get no deductible.
`ignore_errors` is what lets DuckDB's sniffer accept the generator's rows with one field too many
(an unquoted amount "12,50", about 0.2% of the lines); DuckDB reads them with the last field
dropped, so their amount is 12 (declaro rejects them), a difference that does not matter for a
timing baseline.
The input row number is row_number() OVER () on the CSV scan, which is the file order because
DuckDB preserves insertion order (preserve_insertion_order, on by default).
"""
import os
import sys
import tempfile
import time

import duckdb


def sql_string(s):
    return "'" + s.replace("'", "''") + "'"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: duckdb_baseline.py FILE THREADS")
    path, threads = sys.argv[1], int(sys.argv[2])
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.csv")
        statement = f"""
        COPY (
          WITH line AS (
            SELECT *,
                   row_number() OVER () AS rn,
                   TRY_CAST(amount AS DECIMAL(18, 2)) AS amt,
                   TRY_CAST(service_date AS DATE) AS sd
            FROM read_csv({sql_string(path)}, header = true, all_varchar = true,
                          ignore_errors = true)
          ),
          running AS (
            SELECT *,
                   coalesce(sum(amt) OVER (
                     PARTITION BY member_id, year(sd)
                     ORDER BY sd, rn
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
            FROM line
          )
          SELECT * EXCLUDE (rn, amt, sd, before),
                 least(amt, greatest(0, 385 - before)) AS deductible
          FROM running
          ORDER BY rn
        ) TO {sql_string(out)} (HEADER)
        """
        start = time.perf_counter()
        rows = con.execute(statement).fetchone()[0]
        seconds = time.perf_counter() - start
    print(f"{seconds:.3f} s {rows} rows")


if __name__ == "__main__":
    main()
