"""Real PostgreSQL clients against `mart serve`, for tests/it/serve.rs.

    python clients.py COMMAND DSN [ARGS...]

Each command prints one JSON document on stdout: what the client saw.
"""
import json
import sys
import threading
import time
from datetime import date, datetime
from decimal import Decimal

import psycopg


def sqlstate_of(fn):
    try:
        fn()
        return None
    except psycopg.Error as e:
        return e.sqlstate


def auth(dsn):
    """The SQLSTATE of connecting with `dsn` (None: it connected). libpq
    (psycopg) does not report the SQLSTATE of a refused connection;
    asyncpg does."""
    import asyncio
    import asyncpg

    try:
        psycopg.connect(dsn).close()
        return {"sqlstate": None}
    except psycopg.OperationalError:
        pass
    params = dict(kv.split("=", 1) for kv in dsn.split())

    async def connect():
        conn = await asyncpg.connect(
            host=params["host"], port=int(params["port"]), user=params["user"],
            password=params.get("password"), database=params.get("dbname"), ssl=False)
        await conn.close()

    try:
        asyncio.run(connect())
        return {"sqlstate": "asyncpg connected where psycopg could not"}
    except asyncpg.PostgresError as e:
        return {"sqlstate": e.sqlstate, "message": str(e)}


def types(dsn):
    """Literals of each type, through the extended protocol (parameters)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select %s::bigint as i, cast(%s as decimal(10,2)) as d, %s::date as day,"
            " %s::timestamp as ts, %s as t, cast(null as varchar) as n, %s::boolean as b",
            [42, Decimal("12.34"), date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5),
             "it's ☃ \"quoted\"", True],
        ).fetchone()
    expected = (42, Decimal("12.34"), date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5),
                "it's ☃ \"quoted\"", None, True)
    return {"same": row == expected, "got": [repr(v) for v in row]}


def rows(dsn, sql, *params):
    """The rows of `sql` with `params` (extended protocol), as JSON values."""
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(sql, list(params))
        names = [c.name for c in cur.description]
        out = []
        for r in cur.fetchall():
            out.append({n: json_value(v) for n, v in zip(names, r)})
    return out


def json_value(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v


def cursor(dsn, table, size):
    """A server-side cursor fetching `table` in pieces of `size` rows."""
    size = int(size)
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            cur = conn.cursor(name="pieces")
            cur.execute(f"select * from {table}")
            pieces, total = 0, 0
            while True:
                got = cur.fetchmany(size)
                if not got:
                    break
                pieces += 1
                total += len(got)
            cur.close()
    return {"pieces": pieces, "rows": total}


WRITES = [
    "insert into daily_revenue select * from daily_revenue",
    "update daily_revenue set orders = 0",
    "delete from daily_revenue",
    "create table evil (a int)",
    "create view evil as select 1",
    "drop table daily_revenue",
    "alter table daily_revenue add column x int",
    "truncate daily_revenue",
    "copy daily_revenue to '/tmp/mart-evil.csv'",
    "select 1 into evil",
    "create external table evil stored as csv location '/etc/passwd'",
]


def writes(dsn):
    """The SQLSTATE of each write form, by the simple and the extended protocol."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in WRITES:
            simple = sqlstate_of(lambda: conn.execute(sql.encode(), prepare=False))
            extended = sqlstate_of(lambda: conn.execute(sql, [], prepare=True))
            out[sql] = [simple, extended]
        # The session still works.
        out["after"] = conn.execute("select 1").fetchone()[0]
    return out


def chatter(dsn):
    """What BI tools send first: all accepted."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in ["SET extra_float_digits = 3", "SET application_name = 'Metabase'",
                    "SHOW TRANSACTION ISOLATION LEVEL", "BEGIN READ ONLY", "COMMIT",
                    "SELECT current_schema()", "SHOW server_version"]:
            conn.execute(sql.encode())
        version = conn.execute("select version()").fetchone()[0]
        server_version = conn.info.server_version
    return {"version": version, "server_version": server_version}


SLOW = "select sum(v) from generate_series(1, 20000000000) as t(v)"


def cancel(dsn):
    """A long query cancelled from another thread; then one over its timeout."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        timer = threading.Timer(1.0, conn.cancel)
        timer.start()
        started = time.time()
        cancelled = sqlstate_of(lambda: conn.execute(SLOW))
        cancel_s = time.time() - started
        after_cancel = conn.execute("select 1").fetchone()[0]
        conn.execute(b"SET statement_timeout = '500ms'")
        started = time.time()
        timed_out = sqlstate_of(lambda: conn.execute(SLOW))
        timeout_s = time.time() - started
        after_timeout = conn.execute("select 2").fetchone()[0]
    return {"cancelled": cancelled, "cancel_s": cancel_s, "after_cancel": after_cancel,
            "timed_out": timed_out, "timeout_s": timeout_s, "after_timeout": after_timeout}


def cancel_backend(dsn):
    """A long query found in pg_stat_activity by another session and
    cancelled there with pg_cancel_backend."""
    with psycopg.connect(dsn, autocommit=True, application_name="slow one") as slow, \
            psycopg.connect(dsn, autocommit=True) as admin:
        result = {}
        thread = threading.Thread(
            target=lambda: result.update(cancelled=sqlstate_of(lambda: slow.execute(SLOW))))
        thread.start()
        found = []
        for _ in range(100):
            found = admin.execute(
                "select pid, usename, application_name, query from pg_stat_activity"
                " where state = 'active' and pid <> pg_backend_pid()").fetchall()
            if found:
                break
            time.sleep(0.1)
        pid, user, application, query = found[0]
        done = admin.execute("select pg_cancel_backend(%s::int)", [pid]).fetchone()[0]
        thread.join(10)
        mine = admin.execute("select pid from pg_stat_activity where pid = pg_backend_pid()")
        return {"found": len(found), "same_pid": pid == slow.info.backend_pid,
                "user": user, "application": application, "query": query == SLOW,
                "done": done, "cancelled": result.get("cancelled"),
                "after": slow.execute("select 1").fetchone()[0],
                "self": mine.fetchone()[0] == admin.info.backend_pid,
                "again": admin.execute("select pg_cancel_backend(%s::int)", [pid]).fetchone()[0]}


def sqlstates(dsn, *statements):
    """Each statement's SQLSTATE (None: it ran), on one session."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [sqlstate_of(lambda: conn.execute(sql).fetchall()) for sql in statements]


def idle(dsn, seconds):
    """A session that queries, waits `seconds`, and queries again."""
    conn = psycopg.connect(dsn, autocommit=True)
    first = conn.execute("select 1").fetchone()[0]
    time.sleep(float(seconds))
    try:
        conn.execute("select 1").fetchone()
        after = "open"
    except psycopg.OperationalError:
        after = "closed"
    return {"first": first, "after": after}


def prepared_across(dsn, sql, folder, rounds):
    """Run `sql` as one prepared statement (Parse once, then Bind and
    Execute), twice per round; before each round after the first, write
    `folder`/ready.N and wait for `folder`/go.N. The answers, by round."""
    import os

    answers = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for r in range(int(rounds)):
            if r > 0:
                open(os.path.join(folder, f"ready.{r}"), "w").close()
                while not os.path.exists(os.path.join(folder, f"go.{r}")):
                    time.sleep(0.05)
            try:
                answers.append([conn.execute(sql, prepare=True).fetchall()[0][0]
                                for _ in range(2)])
            except psycopg.Error as e:
                answers.append([f"{e.sqlstate} {e}"])
    return answers


def cursor_across(dsn, table, ready, go):
    """Read `table` through a server-side cursor: 10 rows, then (after
    writing the file `ready`) wait for the file `go`, then the rest."""
    import os

    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            cur = conn.cursor(name="across")
            cur.execute(f"select build from {table}")
            rows = cur.fetchmany(10)
            open(ready, "w").close()
            deadline = time.time() + 120
            while not os.path.exists(go) and time.time() < deadline:
                time.sleep(0.05)
            rows += cur.fetchall()
            cur.close()
    return {"rows": len(rows), "builds": sorted({r[0] for r in rows})}


def replay(dsn, tool):
    """The first queries `tool` (metabase, dbeaver) sends, recorded by
    datafusion-postgres' tests (bi_startup.json): those that fail."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    queries = json.load(open(os.path.join(here, "bi_startup.json")))[tool]
    failed = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in queries:
            try:
                cur = conn.execute(sql.encode(), prepare=False)
                if cur.description:
                    cur.fetchall()
            except psycopg.Error as e:
                failed.append({"sql": sql[:120], "error": f"{e.sqlstate} {e}"})
    return {"queries": len(queries), "failed": failed}


def hold(dsn, seconds):
    """Hold a connection open for `seconds`; its SQLSTATE if refused."""
    try:
        conn = psycopg.connect(dsn)
    except psycopg.Error as e:
        return {"sqlstate": e.sqlstate, "message": str(e)}
    time.sleep(float(seconds))
    conn.close()
    return {"sqlstate": None}


def load(dsn, seconds, clients, table):
    """`clients` threads querying for `seconds`: each answer must come from
    one version of `table` (every row of a version carries its build number)."""
    deadline = time.time() + float(seconds)
    errors, mixed, answers, builds = [], [], [0], set()
    lock = threading.Lock()

    def client(i):
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as e:
            with lock:
                errors.append(f"connect: {e.sqlstate} {e}")
            return
        n = 0
        while time.time() < deadline:
            try:
                if n % 2 == 0:
                    got = conn.execute(
                        f"select min(build), max(build), count(*) from {table}").fetchone()
                else:
                    got = conn.execute(
                        f"select min(build), max(build), count(*) from {table} where id >= %s",
                        [0]).fetchone()
                with lock:
                    answers[0] += 1
                    builds.add(got[0])
                    if got[0] != got[1]:
                        mixed.append(list(got))
            except psycopg.Error as e:
                with lock:
                    errors.append(f"{e.sqlstate} {e}")
            n += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(int(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"answers": answers[0], "errors": errors[:10], "error_count": len(errors),
            "mixed": mixed[:10], "builds": sorted(b for b in builds if b is not None)}


def inspect(url):
    """What Superset asks SQLAlchemy's inspector for."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    insp = sqlalchemy.inspect(engine)
    out = {
        "schemas": insp.get_schema_names(),
        "public": insp.get_table_names(),
        "raw": insp.get_table_names(schema="raw"),
        "views": insp.get_view_names(),
        "columns": [
            {"name": c["name"], "type": str(c["type"]), "nullable": c["nullable"],
             "comment": c.get("comment")}
            for c in insp.get_columns("daily_revenue")
        ],
        "table_comment": insp.get_table_comment("daily_revenue")["text"],
        # Superset's table preview asks for keys and indexes: there are none.
        "keys": [insp.get_pk_constraint(t, schema=s)["constrained_columns"]
                 + insp.get_foreign_keys(t, schema=s) + insp.get_indexes(t, schema=s)
                 + insp.get_unique_constraints(t, schema=s)
                 + insp.get_check_constraints(t, schema=s)
                 for s, t in [(None, "daily_revenue"), ("raw", "events")]],
    }
    with engine.connect() as conn:
        out["count"] = conn.execute(sqlalchemy.text("select count(*) from daily_revenue")).scalar()
    return out


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    print(json.dumps(globals()[command](*args), default=str))
