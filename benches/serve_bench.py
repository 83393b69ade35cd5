"""The measurements of benches/serve.sh: `mart serve`, PostgreSQL and
`mart query` on the same queries. Prints a Markdown table."""
import argparse
import random
import subprocess
import threading
import time

import psycopg

TABLES = ["raw.events", "raw.orders", "daily_revenue"]
PG_TYPES = {"bigint": "bigint", "integer": "integer", "text": "text", "date": "date",
            "boolean": "boolean", "double precision": "double precision",
            "timestamp without time zone": "timestamp", "numeric": "numeric"}

POINT = "select * from raw.orders where order_id = %s"
AGGREGATE = ("select event_type, count(*) as events, count(distinct user_id) as users"
             " from raw.events group by event_type order by event_type")


def load(mart, postgres):
    """Copy the tables from `mart serve` into PostgreSQL (types from the
    server's information_schema), with the index a Postgres user would make."""
    with psycopg.connect(mart) as src, psycopg.connect(postgres, autocommit=True) as dst:
        for table in TABLES:
            schema, name = table.split(".") if "." in table else ("public", table)
            cols = src.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = %s and table_name = %s order by ordinal_position",
                [schema, name]).fetchall()
            defs = ", ".join(f'"{c}" {PG_TYPES.get(t.lower(), "text")}' for c, t in cols)
            dst.execute(f"create table {table} ({defs})")
            names = ", ".join(f'"{c}"' for c, _ in cols)
            with src.cursor(name="copy") as cur, dst.cursor().copy(
                    f"copy {table} ({names}) from stdin") as copy:
                cur.execute(f"select * from {table}")
                while rows := cur.fetchmany(10000):
                    for row in rows:
                        copy.write_row(row)
            src.commit()
        dst.execute("create index on raw.orders (order_id)")
        dst.execute("analyze")
        counts = {t: dst.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
        ids = [r[0] for r in dst.execute("select order_id from raw.orders").fetchall()]
    return counts, ids


def latencies(dsn, sql, args, runs):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql, args()).fetchall()  # warm
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            conn.execute(sql, args()).fetchall()
            out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def throughput(dsn, clients, seconds, ids):
    done = [0]
    lock = threading.Lock()
    deadline = time.time() + seconds

    def run():
        with psycopg.connect(dsn, autocommit=True) as conn:
            n = 0
            while time.time() < deadline:
                conn.execute(POINT, [random.choice(ids)]).fetchall()
                n += 1
        with lock:
            done[0] += n

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / seconds


def mart_query(binary, project, sql, runs):
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([binary, "--project", project, "query", "--format", "csv", sql],
                       check=True, capture_output=True)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mart")
    ap.add_argument("--mart-files")
    ap.add_argument("--postgres")
    ap.add_argument("--mart-bin")
    ap.add_argument("--project")
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    counts, ids = load(a.mart, a.postgres)
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print()
    print("| | mart serve | mart serve --cache 0 | PostgreSQL 15 | mart query |")
    print("|---|---|---|---|---|")
    point = lambda: [random.choice(ids)]
    none = lambda: []
    for label, sql, args, runs in [("point query", POINT, point, 300),
                                   ("aggregate over raw.events", AGGREGATE, none, 30)]:
        m = latencies(a.mart, sql, args, runs)
        f = latencies(a.mart_files, sql, args, runs)
        p = latencies(a.postgres, sql, args, runs)
        q = mart_query(a.mart_bin, a.project, sql.replace("%s", str(ids[0])), 10)
        for name, at in [("p50", .5), ("p99", .99)]:
            print(f"| {label}, {name} ms | {pct(m, at):.2f} | {pct(f, at):.2f} | {pct(p, at):.2f} "
                  f"| {pct(q, at):.0f} |")
    for clients in [1, 2, 8, 32]:
        m = throughput(a.mart, clients, a.seconds, ids)
        f = throughput(a.mart_files, clients, a.seconds, ids)
        p = throughput(a.postgres, clients, a.seconds, ids)
        print(f"| point queries/s, {clients} clients | {m:,.0f} | {f:,.0f} | {p:,.0f} | |")


if __name__ == "__main__":
    main()
