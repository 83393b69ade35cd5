"""The benchmark's other reference: a mart's SQL run by DuckDB.

    python benches/duckdb_run.py PROJECT MANIFEST OUT

Reads the project's manifest.json (written by `mart build`) for the sources
and the models in build order, makes each source a view `raw.<source>` over
its raw files, and runs each model: `COPY (sql) TO '<out>/<model>.parquet'`
for stored models, then a view over that file; a view otherwise. Prints each
model's time and the total, in seconds.
"""
import json
import math
import os
import re
import sys
import time

import duckdb
DOUBLE = duckdb.sqltype("DOUBLE")

project, manifest_path, out = sys.argv[1:4]
manifest = json.load(open(manifest_path))
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
if os.environ.get("DUCKDB_MEMORY_LIMIT"):
    con.execute(f"set memory_limit = '{os.environ['DUCKDB_MEMORY_LIMIT']}'")
con.execute("create schema raw")


def mart_functions(con):
    """`mart`'s own SQL functions (src/engine/functions) as DuckDB can run
    them: the calendar functions and arm_stats as macros (periods_between
    as date_diff, equal on the month starts the example passes it), the A/B
    test's as Python functions with normal approximations (they run on one
    row per variant). retention() is rewritten in the SQL (`portable`)."""
    con.execute("create macro cohort_period(unit, d) as cast(date_trunc(unit, d) as date)")
    con.execute("create macro periods_between(unit, a, b) as date_diff(unit, a, b)")
    con.execute("create macro arm_stats(v) as {'users': count(v), 'mean': avg(v), 'variance': var_samp(v)}")
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))

    def z_pvalue(xa, na, xb, nb):
        p = (xa + xb) / (na + nb)
        se = math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
        return 2 * (1 - phi(abs(xa / na - xb / nb) / se)) if se > 0 else None

    def lift(sign):
        def f(xa, na, xb, nb, level):
            z = 1.959963984540054 if level == 0.95 else 2.5758293035489
            log_ratio = math.log((xa / na) / (xb / nb))
            se = math.sqrt(1 / xa - 1 / na + 1 / xb - 1 / nb)
            return math.exp(log_ratio + sign * z * se) - 1
        return f

    def welch(na, ma, va, nb, mb, vb):
        se = math.sqrt(va / na + vb / nb)
        return 2 * (1 - phi(abs(ma - mb) / se)) if se > 0 else None

    def srm(na, nb, share):
        n = na + nb
        chi = (na - n * share) ** 2 / (n * share) + (nb - n * (1 - share)) ** 2 / (n * (1 - share))
        return math.erfc(math.sqrt(chi / 2))

    for name, f, n in [("ab_z_pvalue", z_pvalue, 4), ("ab_lift_low", lift(-1), 5),
                       ("ab_lift_high", lift(1), 5), ("welch_t_pvalue", welch, 6), ("srm_pvalue", srm, 3)]:
        con.create_function(name, f, [DOUBLE] * n, DOUBLE)


def portable(sql):
    """retention(active, period) over (partition by ...): active over the
    active of period 0 in the same partition."""
    return re.sub(
        r"retention\((\w+),\s*(\w+)\)\s+over\s*\((partition by [^)]*)\)",
        r"\1 / nullif(max(case when \2 = 0 then \1 end) over (\3), 0)",
        sql,
    )


mart_functions(con)
started = time.perf_counter()
for source in manifest["sources"]:
    path = os.path.join(project, source["input"])
    fmt = source.get("format") or {"csv": "csv", "json": "json", "jsonl": "json", "ndjson": "json"}.get(
        path.rsplit(".", 1)[-1], "parquet")
    if os.path.isdir(path):
        path = os.path.join(path, "**", "*")
    reader = {"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}[fmt]
    con.execute(f"create view raw.{source['name']} as select * from {reader}('{path}')")
for model in manifest["models"]:
    name = model["name"]
    sql = portable(open(os.path.join(project, model["sql"])).read().strip().rstrip(";"))
    t = time.perf_counter()
    if model["materialized"] in ("table", "incremental"):
        partition_by = model.get("partition_by") or []
        if partition_by:
            target = os.path.join(out, name)
            con.execute(f"copy ({sql}) to '{target}' (format parquet, partition_by ({', '.join(partition_by)}))")
            con.execute(f"create view {name} as select * from read_parquet('{target}/**/*.parquet', hive_partitioning = true)")
        else:
            target = os.path.join(out, f"{name}.parquet")
            con.execute(f"copy ({sql}) to '{target}' (format parquet)")
            con.execute(f"create view {name} as select * from read_parquet('{target}')")
    else:
        con.execute(f"create view {name} as {sql}")
    print(f"{name:<28} {time.perf_counter() - t:>8.3f}")
print(f"{'total':<28} {time.perf_counter() - started:>8.3f}")
