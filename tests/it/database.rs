//! Sources read from real PostgreSQL and MariaDB servers. `.ci/run` starts
//! them (tests/databases/start.sh) and sets `MART_TEST_POSTGRES_URL` and
//! `MART_TEST_MYSQL_URL` to a superuser's connection string; each test makes
//! a database of its own.
//! Elsewhere the tests say they are skipped and pass, unless `CI` is set.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Lcg, Run, TestProject};

/// A database of its own on a test server, dropped afterwards.
struct Db {
    mysql: bool,
    admin: String,
    name: String,
    url: String,
}

impl Db {
    fn postgres(test: &str) -> Option<Db> {
        Db::new(test, false)
    }

    fn mysql(test: &str) -> Option<Db> {
        Db::new(test, true)
    }

    fn new(test: &str, mysql: bool) -> Option<Db> {
        let var = match mysql {
            true => "MART_TEST_MYSQL_URL",
            false => "MART_TEST_POSTGRES_URL",
        };
        let Some(admin) = std::env::var(var).ok() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is needed: .ci/run starts a server"
            );
            eprintln!("skipped: no database server ({var})");
            return None;
        };
        let name = format!("mart_{test}_{}", std::process::id());
        let base = admin.rsplit_once('/').expect("a URL with a database").0;
        let url = format!("{base}/{name}");
        let db = Db {
            mysql,
            admin: admin.clone(),
            name: name.clone(),
            url,
        };
        run_sql(mysql, &admin, &format!("drop database if exists {name}"));
        run_sql(mysql, &admin, &format!("create database {name}"));
        Some(db)
    }

    /// Run SQL; its rows as lines of fields split by `\u{1f}`, nulls as `<NULL>`.
    fn sql(&self, sql: &str) -> String {
        run_sql(self.mysql, &self.url, sql)
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

impl Drop for Db {
    fn drop(&mut self) {
        let drop = match self.mysql {
            true => format!("drop database if exists {}", self.name),
            false => format!("drop database if exists {} with (force)", self.name),
        };
        let _ = std::panic::catch_unwind(|| run_sql(self.mysql, &self.admin, &drop));
    }
}

#[track_caller]
fn run_sql(mysql: bool, url: &str, sql: &str) -> String {
    if !mysql {
        return psql(url, sql);
    }
    // mysql://user:password@host:port/database
    let rest = url.strip_prefix("mysql://").unwrap();
    let (auth, at) = rest.split_once('@').unwrap();
    let (user, password) = auth.split_once(':').unwrap();
    let (host, db) = at.split_once('/').unwrap();
    let (host, port) = host.split_once(':').unwrap();
    let out = Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h",
            host,
            "-P",
            port,
            "-u",
            user,
            "-N",
            "-B",
            db,
        ])
        .arg(format!("-p{password}"))
        .args(["-e", sql])
        .output()
        .expect("mariadb");
    assert!(
        out.status.success(),
        "mariadb failed on {sql}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split('\t')
                .map(|f| if f == "NULL" { "<NULL>" } else { f })
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .map(|l| l + "\n")
        .collect()
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

fn mart(p: &TestProject, pg: &Db, args: &[&str]) -> Run {
    p.mart_env(args, &[("SHOP_DB", &pg.url)])
}

/// The rows of a query as `mart query` prints them in JSON, each as its
/// columns `c0`, `c1`, ... in text (`<NULL>` for null).
fn mart_rows(p: &TestProject, pg: &Db, sql: &str, columns: usize) -> Vec<String> {
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
    let Some(pg) = Db::postgres("types") else {
        return;
    };
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
    compare_types(&p, &pg, TYPES, "");
}

/// Every column of `raw.kinds` printed by `mart` as the server prints the
/// column it was landed from.
fn compare_types(p: &TestProject, db: &Db, types: &[Kind], setup: &str) {
    let select = |side: fn(&Kind) -> &'static str| {
        types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{} as c{i}", side(t).replace('$', t.0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let expected: Vec<String> = db
        .sql(&format!(
            "{setup}select {} from kinds order by id",
            select(|t| t.2)
        ))
        .lines()
        .map(str::to_string)
        .collect();
    let landed = mart_rows(
        p,
        db,
        &format!("select {} from raw.kinds order by id", select(|t| t.3)),
        types.len(),
    );
    assert_eq!(landed.len(), expected.len());
    for (row, (got, want)) in landed.iter().zip(&expected).enumerate() {
        for (i, (g, w)) in got.split('\u{1f}').zip(want.split('\u{1f}')).enumerate() {
            assert_eq!(g, w, "row {row}, column `{}` ({})", types[i].0, types[i].1);
        }
    }
}

/// The rows of two tables are the same: as many, and none in one but not
/// the other.
#[track_caller]
fn same_rows(p: &TestProject, pg: &Db, a: &str, b: &str) {
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
fn a_million_rows_land_as_copy_to_csv_has_them_in_one_part_or_split_by_key_or_pages() {
    let Some(pg) = Db::postgres("million") else {
        return;
    };
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
  - name: pages
    postgres: {url_env: SHOP_DB, table: big}
    partitions: 3
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
    same_rows(&p, &pg, "raw.pages", "raw.one");
}

/// Landing by cursor gives what a whole landing gives, after any sequence
/// of inserts, updates, rows that share the largest cursor value and rows
/// committed late (within `lag`); rows with new keys alone are appends.
fn cursor_increments_equal_a_whole_landing(db: &Db) {
    // PostgreSQL's increments are read in two parts, split by pages (a
    // few rows each: pages filled to a tenth).
    let (system, time, split, fill) = match db.mysql {
        true => ("mysql", "datetime(6)", "", ""),
        false => (
            "postgres",
            "timestamp",
            "\n    partitions: 2",
            " with (fillfactor = 10)",
        ),
    };
    db.sql(&format!(
        "create table events (id bigint primary key, v int, note text, updated_at {time} not null){fill}"
    ));
    let p = project(&format!(
        "sources:
  - name: inc
    {system}: {{url_env: SHOP_DB, table: events}}
    incremental: {{cursor: updated_at, primary_key: [id], lag: 30min}}{split}
  - name: whole
    {system}: {{url_env: SHOP_DB, table: events}}
"
    ));
    let at = |minutes: u64| {
        format!(
            "'2026-01-{:02} {:02}:{:02}:00'",
            1 + minutes / 1440,
            minutes / 60 % 24,
            minutes % 60
        )
    };
    let insert = |from: u64, n: u64, note: &str, when: u64| {
        let rows: Vec<String> = (from..from + n)
            .map(|i| format!("({i}, {}, '{note}{i}', {})", i % 10, at(when)))
            .collect();
        db.sql(&format!("insert into events values {}", rows.join(", ")));
    };
    for seed in [1u64, 7, 2026] {
        db.sql("delete from events");
        let _ = std::fs::remove_dir_all(p.warehouse());
        let mut rng = Lcg(seed);
        let (mut next_id, mut clock) = (1u64, 60u64);
        let mut log = Vec::new();
        for step in 0..8 {
            let kind = if step == 0 { 0 } else { rng.next(4) };
            let n = 1 + rng.next(20);
            match kind {
                // New rows, some at the same instant as the newest.
                0 => {
                    clock += rng.next(3);
                    insert(next_id, n, "n", clock);
                    next_id += n;
                    log.push(format!("insert {n} at {clock}"));
                }
                // Rows changed, their cursor moved to now.
                1 => {
                    clock += 1;
                    db.sql(&format!(
                        "update events set v = v + 1, updated_at = {} where id % {} = 0",
                        at(clock),
                        2 + rng.next(5)
                    ));
                    log.push(format!("update at {clock}"));
                }
                // Rows committed late: a cursor value before the newest, within the lag.
                2 => {
                    let late = clock - 1 - rng.next(20);
                    insert(next_id, n, "late", late);
                    next_id += n;
                    log.push(format!("insert {n} late at {late}"));
                }
                // Nothing changed.
                _ => log.push("nothing".into()),
            }
            let run = mart(&p, db, &["land"]);
            run.success();
            if kind == 3 {
                assert!(
                    run.line_for("raw.inc").starts_with("up to date"),
                    "{}",
                    run.stdout
                );
                // The first landing reads no change marker (nothing to
                // compare it with), so the second lands whole again.
                let whole = if step > 1 { "up to date" } else { "landed" };
                assert!(
                    run.line_for("raw.whole").starts_with(whole),
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
    let run = mart(&p, db, &["land", "--full-refresh", "inc"]);
    run.success();
    assert!(
        run.line_for("raw.inc").starts_with("landed"),
        "{}",
        run.stdout
    );
}

#[test]
fn postgres_cursor_increments_equal_a_whole_landing() {
    if let Some(db) = Db::postgres("cursor") {
        cursor_increments_equal_a_whole_landing(&db);
    }
}

#[test]
fn mysql_cursor_increments_equal_a_whole_landing() {
    if let Some(db) = Db::mysql("cursor") {
        cursor_increments_equal_a_whole_landing(&db);
    }
}

/// A landing that fails lands nothing: the version landed before stays,
/// and the message names the source and what to do.
#[test]
fn failures_name_the_source_and_keep_what_was_landed() {
    let Some(pg) = Db::postgres("failures") else {
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

    // A split that has nothing to split on.
    yaml("    postgres: {url_env: SHOP_DB, query: 'select id, v from t'}\n    partitions: 2\n");
    mart(&p, &pg, &["land"])
        .code(2)
        .stderr_has("`partitions: 2` on a query needs an integer column")
        .stderr_has("partition_column:");
    pg.sql("create view tv as select id, v from t");
    yaml("    postgres: {url_env: SHOP_DB, table: tv}\n    partitions: 2\n");
    mart(&p, &pg, &["land"])
        .code(2)
        .stderr_has("`tv` is not a plain table")
        .stderr_has("partition_column:");

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
    let Some(pg) = Db::postgres("killed") else {
        return;
    };
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
    let kill = |pg: &Db| {
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
    let Some(pg) = Db::postgres("redact") else {
        return;
    };
    pg.sql(
        "create table users (id int primary key, name text); insert into users values (1, 'a');",
    );
    // The connection string from a file that a variable names.
    let p = project(
        "sources:
  - name: users
    postgres: {url_file_env: SHOP_DB_FILE, table: users}
    columns:
      - name: id
        tests: [unique, not_null]
",
    );
    p.write("sql/names.sql", "select name from raw.users");
    p.write("marts/models.yml", "models:\n  - name: names\n");
    let secret = pg.password();
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("url");
    std::fs::write(&file, format!("{}\n", pg.url)).unwrap();
    let file = file.to_str().unwrap();
    let mart = |p: &TestProject, _: &Db, args: &[&str]| p.mart_env(args, &[("SHOP_DB_FILE", file)]);
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
    std::fs::write(file, pg.url.replace(&secret, "wrong-secret")).unwrap();
    let run = mart(&p, &pg, &["land", "--full-refresh"]);
    run.code(1);
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
    let Some(pg) = Db::postgres("example") else {
        return;
    };
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
    let run = mart(
        &p,
        &pg,
        &["--warehouse", "from_pg", "build", "-s", "source:orders+"],
    );
    run.success();
    assert!(!run.stdout.contains("raw.users"), "{}", run.stdout);
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

/// MySQL's types, as `TYPES` for PostgreSQL.
const MYSQL_TYPES: &[Kind] = &[
    ("ti", "tinyint", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "tu",
        "tinyint unsigned",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    ("si", "smallint", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "su",
        "smallint unsigned",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    ("mi", "mediumint", "CAST($ AS CHAR)", "cast($ as varchar)"),
    ("i", "int", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "iu",
        "int unsigned",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    ("bi", "bigint", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "bu",
        "bigint unsigned",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    ("f", "float", "CAST($ AS CHAR)", "cast($ as varchar)"),
    ("d", "double", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "de",
        "decimal(12, 3)",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    (
        "de38",
        "decimal(38, 10)",
        "CAST($ AS CHAR)",
        "cast($ as varchar)",
    ),
    ("y", "year", "CAST($ AS CHAR)", "cast($ as varchar)"),
    ("bt", "bit(10)", "CAST($ + 0 AS CHAR)", "cast($ as varchar)"),
    ("dt", "date", "CAST($ AS CHAR)", "cast($ as varchar)"),
    (
        "tm",
        "time(6)",
        "TIME_FORMAT($, '%H:%i:%s.%f')",
        "to_char($, '%H:%M:%S%.6f')",
    ),
    (
        "dtm",
        "datetime(6)",
        "DATE_FORMAT($, '%Y-%m-%d %H:%i:%s.%f')",
        "to_char($, '%Y-%m-%d %H:%M:%S%.6f')",
    ),
    (
        "ts",
        "timestamp(6) null",
        "DATE_FORMAT($, '%Y-%m-%d %H:%i:%s.%f')",
        "to_char($, '%Y-%m-%d %H:%M:%S%.6f')",
    ),
    ("c", "char(3)", "$", "$"),
    ("vc", "varchar(10)", "$", "$"),
    ("tx", "text", "$", "$"),
    ("bl", "blob", "HEX($)", "upper(encode($, 'hex'))"),
    ("vb", "varbinary(10)", "HEX($)", "upper(encode($, 'hex'))"),
    ("e", "enum('sad', 'happy')", "$", "$"),
    ("st", "set('x', 'y')", "$", "$"),
    ("j", "json", "$", "$"),
];

#[test]
fn every_mysql_type_lands_as_the_server_holds_it() {
    let Some(db) = Db::mysql("types") else { return };
    let columns: Vec<String> = MYSQL_TYPES
        .iter()
        .map(|(c, t, ..)| format!("{c} {t}"))
        .collect();
    db.sql(&format!(
        "create table kinds (id int primary key, {})",
        columns.join(", ")
    ));
    db.sql(
        "set time_zone = '+00:00';
         insert into kinds values
         (1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808,
          18446744073709551615, 1.5, 2.25, -12345.678, 1234567890123456789012345678.0123456789, 2024,
          b'1010101010', '2024-02-29', '13:45:01.5', '2024-01-01 00:00:00.123456', '2024-01-01 00:00:00',
          'ab', 'v', 'héllo 한국어', x'0102ff', x'00', 'happy', 'x,y', '{\"a\": [1, 2]}'),
         (2, 127, 0, 0, 0, 8388607, 2147483647, 0, 9223372036854775807, 0, -0.25, -1e300, 0.001,
          -99999999.9999999999, 1901, b'0', '1000-01-01', '00:00:00', '9999-12-31 23:59:59.999999',
          '2038-01-19 03:14:07.999999', '', '', '', '', '', 'sad', '', 'null'),
         (3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
          null, null, null, null, null, null, null, null, null, null, null, null);",
    );
    let p = project("sources:\n  - name: kinds\n    mysql: {url_env: SHOP_DB, table: kinds}\n");
    mart(&p, &db, &["land"]).success().stdout_has("3 rows");
    compare_types(&p, &db, MYSQL_TYPES, "set time_zone = '+00:00'; ");
}

/// MySQL: failures name the source and keep what was landed; zero dates
/// land as null with a warning; a split read is refused (no shared snapshot).
#[test]
fn mysql_failures_zero_dates_and_no_split() {
    let Some(db) = Db::mysql("failures") else {
        return;
    };
    db.sql(
        "create table t (id int primary key, g point, d date, v text);
         set sql_mode = '';
         insert into t values (1, point(1, 2), '0000-00-00', 'a'), (2, null, '2024-01-02', 'b');",
    );
    let p = project(
        "sources:
  - name: t
    mysql: {url_env: SHOP_DB, query: 'select id, d, v from t', retries: 0}
",
    );
    let run = mart(&p, &db, &["land"]);
    run.success()
        .stderr_has("source `t`: 1 zero dates (0000-00-00) landed as null");
    assert_eq!(
        mart_rows(&p, &db, "select d as c0 from raw.t order by id", 1),
        ["<NULL>", "2024-01-02"]
    );
    let landed = p.snapshot();
    let yaml = |body: &str| {
        p.write(
            "marts/sources.yml",
            &format!("sources:\n  - name: t\n{body}"),
        )
    };

    let wrong = db.url.replace(&db.password(), "not-the-password");
    let run = p.mart_env(&["land"], &[("SHOP_DB", &wrong)]);
    run.code(1)
        .stderr_has("source `t`")
        .stderr_has("Access denied");
    assert!(!run.stderr.contains("not-the-password"));

    yaml("    mysql: {url_env: SHOP_DB, table: nope, retries: 0}\n");
    mart(&p, &db, &["land"])
        .code(1)
        .stderr_has("source `t`")
        .stderr_has("doesn't exist")
        .stderr_has("check `table:`");

    yaml("    mysql: {url_env: SHOP_DB, table: t}\n");
    mart(&p, &db, &["land"])
        .code(1)
        .stderr_has("column `g` of table t")
        .stderr_has("is not one `mart` lands");

    yaml("    mysql: {url_env: SHOP_DB, table: t}\n    partitions: 2\n    partition_column: id\n");
    mart(&p, &db, &["land"])
        .code(2)
        .stderr_has("MySQL cannot share one snapshot between connections");

    assert_eq!(
        p.snapshot(),
        landed,
        "a failed landing changed the warehouse"
    );
}
