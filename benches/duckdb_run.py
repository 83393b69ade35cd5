"""The benchmark's other reference: a mart's SQL run by DuckDB.

    python benches/duckdb_run.py PROJECT MANIFEST OUT

Reads the project's manifest.json (written by `mart build`) for the sources
and the models in build order, makes each source a view `raw.<source>` over
its raw files, and runs each model: `COPY (sql) TO '<out>/<model>.parquet'`
for stored models, then a view over that file; a view otherwise. Prints each
model's time and the total, in seconds.
"""
import json
import os
import sys
import time

import duckdb

project, manifest_path, out = sys.argv[1:4]
manifest = json.load(open(manifest_path))
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute("create schema raw")
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
    sql = open(os.path.join(project, model["sql"])).read().strip().rstrip(";")
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
