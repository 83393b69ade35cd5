//! Sources read from a real PostgreSQL server. `.ci/run` starts one
//! (tests/databases/start.sh) and sets `MART_TEST_POSTGRES_URL` to a
//! superuser's connection string; each test makes a database of its own.
//! Elsewhere the tests say they are skipped and pass, unless `CI` is set.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Lcg, Run, TestProject};

/// A database of its own on the test server, dropped afterwards.
struct Pg {
    admin: String,
    name: String,
    url: String,
}

impl Pg {
    fn new(test: &str) -> Option<Pg> {
        let Some(admin) = std::env::var("MART_TEST_POSTGRES_URL").ok() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MART_TEST_POSTGRES_URL is needed: .ci/run starts a server"
            );
            eprintln!("skipped: no PostgreSQL server (MART_TEST_POSTGRES_URL)");
            return None;
        };
        let name = format!("mart_{test}_{}", std::process::id());
        let base = admin.rsplit_once('/').expect("a URL with a database").0;
        let url = format!("{base}/{name}");
        psql(&admin, &format!("drop database if exists {name}"));
        psql(&admin, &format!("create database {name}"));
        Some(Pg { admin, name, url })
    }

    /// Run SQL; its rows as lines of fields split by `\u{1f}`.
    fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }

    /// The password in the connection string, which no output may show.
    fn password(&self) -> String {
        let auth = self
            .url
            .split("://")
            .nth(1)
            .unwrap()
            .split('@')
            .next()
            .unwrap();
        auth.split(':').nth(1).unwrap().to_string()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin,
                "-qc",
                &format!("drop database if exists {} with (force)", self.name),
            ])
            .output();
    }
}

#[track_caller]
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-F",
            "\u{1f}",
            "-P",
            "null=<NULL>",
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project whose YAML is `yaml` (sources reading `$SHOP_DB`).
fn project(yaml: &str) -> TestProject {
    let p = TestProject::empty();
    p.write("marts/sources.yml", yaml);
    p
}

fn mart(p: &TestProject, pg: &Pg, args: &[&str]) -> Run {
    p.mart_env(args, &[("SHOP_DB", &pg.url)])
}

/// The rows of a query as `mart query` prints them in JSON, each as its
/// columns `c0`, `c1`, ... in text (`<NULL>` for null).
fn mart_rows(p: &TestProject, pg: &Pg, sql: &str, columns: usize) -> Vec<String> {
    let run = mart(p, pg, &["query", "--format", "json", sql]);
    run.success();
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&run.stdout).expect("JSON rows");
    rows.iter()
        .map(|r| {
            (0..columns)
                .map(|i| match r.get(&format!("c{i}")) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "<NULL>".into(),
                })
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect()
}

/// The types a source lands, each with how PostgreSQL and `mart` print a
/// value of it the same way: the landed values equal what the server holds.
type Kind = (&'static str, &'static str, &'static str, &'static str);

const TYPES: &[Kind] = &[
    // (column, PostgreSQL type, text in PostgreSQL, text in mart)
    ("i2", "smallint", "$::text", "cast($ as varchar)"),
    ("i4", "integer", "$::text", "cast($ as varchar)"),
    ("i8", "bigint", "$::text", "cast($ as varchar)"),
    (
        "f4",
        "real",
        "case when $ = 'Infinity' then 'inf' when $ = '-Infinity' then '-inf' else $::text end",
        "cast($ as varchar)",
    ),
    (
        "f8",
        "double precision",
        "case when $ = 'Infinity' then 'inf' when $ = '-Infinity' then '-inf' else $::text end",
        "cast($ as varchar)",
    ),
    ("n", "numeric(12, 3)", "$::text", "cast($ as varchar)"),
    ("n38", "numeric(38, 10)", "$::text", "cast($ as varchar)"),
    ("b", "boolean", "$::text", "cast($ as varchar)"),
    ("t", "text", "$", "$"),
    ("vc", "varchar(10)", "$", "$"),
    ("ch", "char(3)", "nullif(format('%s|', $), '|')", "$ || '|'"),
    ("e", "mood", "$::text", "$"),
    ("dom", "positive", "$::text", "cast($ as varchar)"),
    ("by", "bytea", "encode($, 'hex')", "encode($, 'hex')"),
    ("d", "date", "$::text", "cast($ as varchar)"),
    (
        "tm",
        "time",
        "to_char('2000-01-01'::date + $, 'HH24:MI:SS.US')",
        "to_char($, '%H:%M:%S%.6f')",
    ),
    (
        "ttz",
        "timetz",
        "to_char('2000-01-01'::date + ($ at time zone 'UTC')::time, 'HH24:MI:SS.US')",
        "to_char($, '%H:%M:%S%.6f')",
    ),
    (
        "ts",
        "timestamp",
        "to_char($, 'YYYY-MM-DD HH24:MI:SS.US')",
        "to_char($, '%Y-%m-%d %H:%M:%S%.6f')",
    ),
    (
        "tz",
        "timestamptz",
        "to_char($ at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        "to_char($, '%Y-%m-%d %H:%M:%S%.6f')",
    ),
    (
        "iv",
        "interval",
        "(extract(epoch from $) * 1000000)::bigint::text",
        "cast(cast($ as bigint) as varchar)",
    ),
    ("j", "json", "$::text", "$"),
    ("jb", "jsonb", "$::text", "$"),
    ("u", "uuid", "$::text", "$"),
    (
        "ai",
        "integer[]",
        "array_to_string($, ',', 'null') || '|' || cardinality($)",
        "array_to_string($, ',', 'null') || '|' || cast(cardinality($) as varchar)",
    ),
    (
        "at",
        "text[]",
        "array_to_string($, ',', 'null')",
        "array_to_string($, ',', 'null')",
    ),
    ("o", "oid", "$::text", "cast($ as varchar)"),
];

#[test]
fn every_type_lands_as_the_server_holds_it() {
    let Some(pg) = Pg::new("types") else { return };
    let columns: Vec<String> = TYPES.iter().map(|(c, t, ..)| format!("{c} {t}")).collect();
    pg.sql(&format!(
        "create type mood as enum ('sad', 'ok', 'happy');
         create domain positive as integer check (value > 0);
         create table kinds (id int primary key, {});",
        columns.join(", ")
    ));
    pg.sql(
        "insert into kinds values
         (1, 1, 2147483647, 10000000000, 1.5, 2.25, 12345.678, 1234567890123456789012345678.0123456789, true,
          'héllo 한국어', 'v', 'ab', 'happy', 7, '\\x0102ff', '2024-02-29', '13:45:01.5', '13:45:01.25+02',
          '2024-01-01 00:00:00.123456', '2024-01-01 00:00:00+05', '1 year 2 mons 3 days 04:05:06.7',
          '{\"a\": 1}', '{\"b\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{x,\"y z\"}', 42),
         (2, -32768, -2147483648, -9223372036854775808, 'NaN', '-Infinity', -0.001, -99999999.9999999999, false,
          '', '', '', 'sad', 1, '', '0001-01-01', '00:00:00', '23:59:59.999999-11',
          '1900-01-01 00:00:00', '2262-04-11 23:47:16+00', '-1 day -00:00:01',
          'null', '[]', '00000000-0000-0000-0000-000000000000', '{}', '{NULL}', 0),
         (3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
          null, null, null, null, null, null, null, null, null, null);",
    );
    let p = project(
        "sources:\n  - name: kinds\n    postgres: {url_env: SHOP_DB, table: public.kinds}\n",
    );
    mart(&p, &pg, &["land"]).success().stdout_has("3 rows");
    let select = |side: fn(&Kind) -> &'static str| {
        TYPES
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{} as c{i}", side(t).replace('$', t.0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let expected: Vec<String> = pg
        .sql(&format!(
            "select {} from kinds order by id",
            select(|t| t.2)
        ))
        .lines()
        .map(str::to_string)
        .collect();
    let landed = mart_rows(
        &p,
        &pg,
        &format!("select {} from raw.kinds order by id", select(|t| t.3)),
        TYPES.len(),
    );
    assert_eq!(landed.len(), 3);
    for (row, (got, want)) in landed.iter().zip(&expected).enumerate() {
        for (i, (g, w)) in got.split('\u{1f}').zip(want.split('\u{1f}')).enumerate() {
            assert_eq!(g, w, "row {row}, column `{}` ({})", TYPES[i].0, TYPES[i].1);
        }
    }
}

/// The rows of two tables are the same: as many, and none in one but not
/// the other.
#[track_caller]
fn same_rows(p: &TestProject, pg: &Pg, a: &str, b: &str) {
    let count = |t: &str| mart_rows(p, pg, &format!("select count(*) as c0 from {t}"), 1);
    let missing = |x: &str, y: &str| {
        mart_rows(
            p,
            pg,
            &format!("select count(*) as c0 from (select * from {x} except select * from {y})"),
            1,
        )
    };
    assert_eq!(count(a), count(b), "{a} and {b} differ in rows");
    assert_eq!(missing(a, b), ["0"], "rows of {a} not in {b}");
    assert_eq!(missing(b, a), ["0"], "rows of {b} not in {a}");
}

#[test]
fn a_million_rows_land_as_copy_to_csv_has_them_in_one_part_or_four() {
    let Some(pg) = Pg::new("million") else { return };
    pg.sql(
        "create table big (id bigint primary key, amount numeric(12, 2), note text,
                           at timestamptz, ok boolean, ratio double precision);
         insert into big select g, (g % 100000) / 100.0, case when g % 7 = 0 then null else 'note ' || g end,
                '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 second', g % 3 = 0, g / 3.0
         from generate_series(1, 1000000) g;",
    );
    let p = project(
        "sources:
  - name: one
    postgres: {url_env: SHOP_DB, table: big}
  - name: four
    postgres: {url_env: SHOP_DB, query: select * from big}
    partitions: 4
    partition_column: id
  - name: csv
    path: big.csv
    columns:
      - {name: id, type: bigint}
      - {name: amount, type: 'decimal(12, 2)'}
      - {name: note, type: text}
      - {name: at, type: timestamp, timezone: UTC}
      - {name: ok, type: boolean}
      - {name: ratio, type: double}
",
    );
    let csv = p.path().join("big.csv");
    psql(
        &pg.url,
        &format!(
            "\\copy (select id, amount, note, to_char(at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as at, case when ok then 'true' else 'false' end as ok, ratio from big) to '{}' csv header",
            csv.display()
        ),
    );
    let run = mart(&p, &pg, &["land"]);
    run.success();
    assert!(
        run.line_for("raw.one").contains("1,000,000 rows"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("raw.four").contains("1,000,000 rows"),
        "{}",
        run.stdout
    );
    same_rows(&p, &pg, "raw.one", "raw.csv");
    same_rows(&p, &pg, "raw.four", "raw.one");
}

/// Landing by cursor gives what a whole landing gives, after any sequence
/// of inserts, updates, rows that share the largest cursor value and rows
/// committed late (within `lag`); rows with new keys alone are appends.
#[test]
fn cursor_increments_equal_a_whole_landing() {
    let Some(pg) = Pg::new("cursor") else { return };
    pg.sql(
        "create table events (id bigint primary key, v int, note text, updated_at timestamptz not null);",
    );
    let p = project(
        "sources:
  - name: inc
    postgres: {url_env: SHOP_DB, table: events}
    incremental: {cursor: updated_at, primary_key: [id], lag: 30min}
  - name: whole
    postgres: {url_env: SHOP_DB, table: events}
",
    );
    for seed in [1u64, 7, 2026] {
        pg.sql("truncate events");
        let _ = std::fs::remove_dir_all(p.warehouse());
        let mut rng = Lcg(seed);
        let (mut next_id, mut clock) = (1u64, 0u64);
        let mut log = Vec::new();
        for step in 0..8 {
            let at =
                |minutes: u64| format!("'2026-01-01'::timestamptz + interval '{minutes} minutes'");
            let kind = if step == 0 { 0 } else { rng.next(4) };
            let n = 1 + rng.next(20);
            match kind {
                // New rows, some at the same instant as the newest.
                0 => {
                    clock += rng.next(3);
                    pg.sql(&format!(
                        "insert into events select g, g % 10, 'n' || g, {} from generate_series({next_id}, {}) g",
                        at(clock),
                        next_id + n - 1
                    ));
                    next_id += n;
                    log.push(format!("insert {n} at {clock}"));
                }
                // Rows changed, their cursor moved to now.
                1 => {
                    clock += 1;
                    pg.sql(&format!(
                        "update events set v = v + 1, updated_at = {} where id % {} = 0",
                        at(clock),
                        2 + rng.next(5)
                    ));
                    log.push(format!("update at {clock}"));
                }
                // Rows committed late: a cursor value before the newest, within the lag.
                2 => {
                    let late = clock.saturating_sub(1 + rng.next(20));
                    pg.sql(&format!(
                        "insert into events select g, 0, 'late', {} from generate_series({next_id}, {}) g",
                        at(late),
                        next_id + n - 1
                    ));
                    next_id += n;
                    log.push(format!("insert {n} late at {late}"));
                }
                // Nothing changed.
                _ => log.push("nothing".into()),
            }
            let run = mart(&p, &pg, &["land"]);
            run.success();
            if kind == 3 && step > 0 {
                assert!(
                    run.line_for("raw.inc").starts_with("up to date"),
                    "{}",
                    run.stdout
                );
                assert!(
                    run.line_for("raw.whole").starts_with("up to date"),
                    "{}",
                    run.stdout
                );
            }
            if kind == 0 && step > 0 {
                assert!(
                    run.line_for("raw.inc").contains("appended"),
                    "{log:?}\n{}",
                    run.stdout
                );
            }
            let rows = |t: &str| p.sorted_rows("warehouse", t);
            assert_eq!(
                rows("raw.inc"),
                rows("raw.whole"),
                "seed {seed}, after {log:?}"
            );
        }
    }
    // A full refresh lands whole again.
    let run = mart(&p, &pg, &["land", "--full-refresh", "inc"]);
    run.success();
    assert!(
        run.line_for("raw.inc").starts_with("landed"),
        "{}",
        run.stdout
    );
}

/// A landing that fails lands nothing: the version landed before stays,
/// and the message names the source and what to do.
#[test]
fn failures_name_the_source_and_keep_what_was_landed() {
    let Some(pg) = Pg::new("failures") else {
        return;
    };
    pg.sql("create table t (id int primary key, p point, v text); insert into t values (1, '(1,2)', 'a');");
    let p = project(
        "sources:
  - name: t
    postgres: {url_env: SHOP_DB, query: 'select id, v from t', retries: 0}
",
    );
    mart(&p, &pg, &["land"]).success();
    let landed = p.snapshot();
    let yaml = |body: &str| {
        p.write(
            "marts/sources.yml",
            &format!("sources:\n  - name: t\n{body}"),
        )
    };

    // A wrong password: refused, and the password is not shown.
    let wrong = pg.url.replace(&pg.password(), "not-the-password");
    let run = p.mart_env(&["land"], &[("SHOP_DB", &wrong)]);
    run.code(1)
        .stderr_has("source `t`")
        .stderr_has("password authentication failed");
    assert!(!run.stderr.contains("not-the-password") && !run.stdout.contains("not-the-password"));

    // No server there.
    let closed = format!("postgres://mart:x@127.0.0.1:{}/db", free_port());
    let run = p.mart_env(&["land"], &[("SHOP_DB", &closed)]);
    run.code(1).stderr_has("source `t`").stderr_has("reachable");

    // The variable unset.
    let run = p.mart(&["land"]);
    run.code(1).stderr_has("`SHOP_DB` is not set");

    // A missing table.
    yaml("    postgres: {url_env: SHOP_DB, table: public.nope, retries: 0}\n");
    mart(&p, &pg, &["land"])
        .code(1)
        .stderr_has("source `t`: relation \"public.nope\" does not exist")
        .stderr_has("check `table:`");

    // A type mart does not land, named before anything is read.
    yaml("    postgres: {url_env: SHOP_DB, table: t}\n");
    mart(&p, &pg, &["land"])
        .code(1)
        .stderr_has("column `p` of table t: type `point` is not one `mart` lands")
        .stderr_has("cast it");

    // A column the options name that the table lacks: a bad project.
    yaml(
        "    postgres: {url_env: SHOP_DB, query: 'select id, v from t'}\n    incremental: {cursor: updatd, primary_key: [id]}\n",
    );
    mart(&p, &pg, &["land"])
        .code(2)
        .stderr_has("has no column `updatd`");

    // A statement timeout.
    yaml(
        "    postgres: {url_env: SHOP_DB, query: 'select id, v from t, pg_sleep(2)', statement_timeout: 200ms, retries: 0}\n",
    );
    mart(&p, &pg, &["land"])
        .code(1)
        .stderr_has("canceling statement due to statement timeout")
        .stderr_has("statement_timeout");

    assert_eq!(
        p.snapshot(),
        landed,
        "a failed landing changed the warehouse"
    );
    let rows = mart_rows(&p, &pg, "select v as c0 from raw.t", 1);
    assert_eq!(rows, ["a"]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The server ends the connection in the middle of a landing
/// (`pg_terminate_backend`): without retries the landing fails and lands
/// nothing; with one, it starts over and lands every row.
#[test]
fn a_connection_killed_mid_landing_lands_nothing_or_is_retried() {
    let Some(pg) = Pg::new("killed") else { return };
    pg.sql("create table slow (id int); insert into slow select generate_series(1, 10);");
    // Slow to read: a sleep per row once there are many.
    let source = |retries: u32| {
        format!(
            "sources:
  - name: slow
    postgres:
      url_env: SHOP_DB
      query: select id from slow where (select count(*) from slow) < 100 or pg_sleep(0.001) is not null
      retries: {retries}
"
        )
    };
    let p = project(&source(0));
    mart(&p, &pg, &["land"]).success();
    pg.sql("insert into slow select generate_series(11, 5000)");
    let kill = |pg: &Pg| {
        let started = Instant::now();
        loop {
            let killed = pg.sql(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity
                 where application_name = 'mart' and query like 'COPY%'",
            );
            if killed.trim() != "0" {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no landing to kill"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let run_killed = |p: &TestProject| {
        let path = p.path().to_path_buf();
        let url = pg.url.clone();
        let landing = std::thread::spawn(move || {
            let output = assert_cmd::Command::cargo_bin("mart")
                .unwrap()
                .arg("land")
                .current_dir(path)
                .env("NO_COLOR", "1")
                .env("SHOP_DB", url)
                .output()
                .unwrap();
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        });
        kill(&pg);
        landing.join().unwrap()
    };
    let before = p.snapshot();
    let (code, stderr) = run_killed(&p);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("source `slow`") && stderr.contains("terminating connection"),
        "{stderr}"
    );
    assert_eq!(
        p.snapshot(),
        before,
        "a killed landing changed the warehouse"
    );
    // One retry: the landing starts over and lands every row.
    p.write("marts/sources.yml", &source(1));
    let (code, stderr) = run_killed(&p);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("retry 1 of 1"), "{stderr}");
    assert_eq!(
        mart_rows(&p, &pg, "select count(*) as c0 from raw.slow", 1),
        ["5000"]
    );
}

/// The password never shows: not in output, not in any file `mart` writes.
#[test]
fn the_password_is_in_no_output_or_file() {
    let Some(pg) = Pg::new("redact") else { return };
    pg.sql(
        "create table users (id int primary key, name text); insert into users values (1, 'a');",
    );
    let p = project(
        "sources:
  - name: users
    postgres: {url_env: SHOP_DB, table: users}
    columns:
      - name: id
        tests: [unique, not_null]
",
    );
    p.write("sql/names.sql", "select name from raw.users");
    p.write("marts/models.yml", "models:\n  - name: names\n");
    let secret = pg.password();
    let mut outputs = Vec::new();
    for args in [
        &["build"][..],
        &["land", "--full-refresh"],
        &["test"],
        &["docs"],
        &["ls"],
        &["graph"],
    ] {
        let run = mart(&p, &pg, args);
        run.success();
        outputs.push(run.stdout + &run.stderr);
    }
    let wrong = pg.url.replace(&secret, "wrong-secret");
    let run = p.mart_env(&["land"], &[("SHOP_DB", &wrong)]);
    outputs.push(run.stdout + &run.stderr);
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            !out.contains(&secret) && !out.contains("wrong-secret"),
            "output {i}: {out}"
        );
    }
    let mut files = 0;
    for entry in walk(p.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&secret),
            "{} holds the password",
            entry.display()
        );
    }
    assert!(files > 5, "the run wrote its files");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The example mart with its orders in PostgreSQL builds the same tables
/// as with the CSV export, and a new order is landed as an append that the
/// models downstream pick up.
#[test]
fn the_example_builds_the_same_from_the_database() {
    let Some(pg) = Pg::new("example") else { return };
    let p = TestProject::example();
    p.mart(&["build"]).success();
    let fixture = crate::common::repo_root().join("tests/fixtures/shop_postgres");
    pg.sql(&std::fs::read_to_string(fixture.join("orders.sql")).unwrap());
    let csv = p.path().join("seeds/orders.csv");
    psql(
        &pg.url,
        &format!("\\copy shop.orders from '{}' csv header", csv.display()),
    );
    p.write(
        "marts/sources.yml",
        &std::fs::read_to_string(fixture.join("marts/sources.yml")).unwrap(),
    );
    let run = mart(&p, &pg, &["--warehouse", "from_pg", "build"]);
    run.success();
    let models = [
        "stg_orders",
        "orders_enriched",
        "daily_revenue",
        "cohort_retention",
        "ab_test_results",
        "channel_summary",
    ];
    for m in models {
        assert_eq!(
            p.sorted_rows("from_pg", m),
            p.sorted_rows("warehouse", m),
            "{m} differs when orders come from PostgreSQL"
        );
    }
    pg.sql(
        "insert into shop.orders select max(order_id) + 1, 1, max(ordered_at) + interval '1 hour', 10, 'completed' from shop.orders",
    );
    let run = mart(&p, &pg, &["--warehouse", "from_pg", "build"]);
    run.success();
    assert!(
        run.line_for("raw.orders").contains("(1 appended)"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("daily_revenue").starts_with("built"),
        "{}",
        run.stdout
    );
}
