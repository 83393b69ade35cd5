//! `mart serve` against real clients: psql, psycopg (tests/serve/clients.py)
//! and SQLAlchemy. `.ci/run` installs them; elsewhere a test whose client
//! is missing says so and passes, unless `CI` is set.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{TestProject, repo_root};

const PASSWORD: &str = "s3cret-for-tests";

/// A client program, or None (and a note) where it is not installed.
fn client(name: &str) -> Option<PathBuf> {
    let found = match name {
        "python" => std::env::var_os("MART_TEST_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                let venv =
                    PathBuf::from(std::env::var_os("HOME")?).join(".cache/mart-venv/bin/python");
                venv.exists().then_some(venv)
            }),
        _ => Command::new(name)
            .arg(if name == "openssl" {
                "version"
            } else {
                "--version"
            })
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from(name)),
    };
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is needed by the serve tests: .ci/run installs it"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

/// A running `mart serve`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    fn start(p: &TestProject, args: &[&str]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("mart"))
            .args(["serve", "--listen", &listen])
            .args(args)
            .current_dir(p.path())
            .env("MART_ANALYST_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mart serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let server = Server { child, port, log };
        let started = Instant::now();
        while !server.log().contains("listening on") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mart serve did not start:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait (up to 60 s) for the `n`th line of the log holding `text`;
    /// that line.
    fn wait_for(&self, text: &str, n: usize) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().filter(|l| l.contains(text)).nth(n - 1) {
                return line.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {n}th `{text}` in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn dsn(&self, user: &str, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname=mart sslmode=disable",
            self.port
        )
    }

    fn analyst(&self) -> String {
        self.dsn("analyst", PASSWORD)
    }

    /// psql with `commands` (each a -c); (exit code, stdout, stderr).
    fn psql(&self, dsn: &str, commands: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new("psql");
        cmd.arg(dsn).args(["-X", "-v", "VERBOSITY=verbose"]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        let out = cmd.output().expect("psql runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A command of tests/serve/clients.py, its JSON answer.
    fn python(&self, python: &Path, args: &[&str]) -> serde_json::Value {
        self.answer(args, clients(python, args))
    }

    /// What a run of clients.py answered; it must have succeeded.
    fn answer(&self, args: &[&str], out: Output) -> serde_json::Value {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "clients.py {args:?} failed:\n{stdout}\n{}\nserver:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_str(stdout.trim()).expect("clients.py prints JSON")
    }
}

/// Run a command of tests/serve/clients.py.
fn clients(python: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .arg(repo_root().join("tests/serve/clients.py"))
        .args(args)
        .output()
        .expect("python runs")
}

/// The same, on a thread of its own: clients that run while the test acts.
fn clients_meanwhile(python: &Path, args: &[&str]) -> JoinHandle<Output> {
    let python = python.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        clients(&python, &args)
    })
}

impl Server {
    /// SIGTERM, and how it ended: its exit code, if it exited within 10 s.
    fn stop(&mut self) -> Option<i32> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

const USERS: &str = "config:
  serve:
    users:
      - {name: analyst, password_env: MART_ANALYST_PASSWORD}
";

/// The example mart, built, with a user.
fn example() -> TestProject {
    let p = TestProject::example();
    p.write("marts/serve.yml", USERS);
    p.mart(&["build"]).success();
    p
}

#[test]
fn psql_lists_describes_and_queries_the_example() {
    if client("psql").is_none() {
        return;
    }
    let p = example();
    let server = Server::start(&p, &[]);
    let (code, out, err) = server.psql(
        &server.analyst(),
        &[
            "\\dt",
            "\\dn",
            "\\d daily_revenue",
            "select variant, users from ab_test_results order by variant",
            "\\dt+ raw.events",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}\n{}", server.log());
    for table in ["ab_test_results", "daily_revenue", "cohort_retention"] {
        assert!(out.contains(&format!("public | {table}")), "{out}");
    }
    assert!(out.contains("raw    | orders"), "{out}");
    assert!(out.contains("Table \"public.daily_revenue\""), "{out}");
    assert!(out.contains("order_date | date"), "{out}");
    assert!(out.contains(" control |"), "{out}");
    // `\dt+`: the Parquet's size and the YAML's description.
    let events = out
        .lines()
        .find(|l| l.contains("Page views"))
        .unwrap_or_default();
    assert!(events.starts_with(" raw    | events | table"), "{out}");
    assert!(events.contains(" kB | "), "{out}");
    assert!(out.contains("(2 rows)"), "{out}");
    let mut server = server;
    assert_eq!(
        server.stop(),
        Some(0),
        "SIGTERM stops it cleanly:\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(200)); // the last lines
    let log = server.log();
    assert!(log.contains("user analyst"), "{log}");
    assert!(log.contains("mart serve: stopping"), "{log}");
    assert!(
        !log.contains(PASSWORD),
        "the password is never printed:\n{log}"
    );
}

#[test]
fn wrong_passwords_and_unknown_users_are_refused_with_28p01() {
    let p = example();
    let server = Server::start(&p, &[]);
    if client("psql").is_some() {
        let (code, _, err) = server.psql(&server.dsn("analyst", "wrong"), &["select 1"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.to_lowercase()
                .contains("password authentication failed"),
            "{err}"
        );
    }
    let Some(python) = client("python") else {
        return;
    };
    for dsn in [
        server.dsn("analyst", "wrong"),
        server.dsn("mallory", PASSWORD),
    ] {
        let seen = server.python(&python, &["auth", &dsn]);
        assert_eq!(seen["sqlstate"], "28P01", "{dsn}");
    }
    let seen = server.python(&python, &["auth", &server.analyst()]);
    assert_eq!(seen["sqlstate"], serde_json::Value::Null);
}

#[test]
fn md5_and_cleartext_passwords_only_where_the_project_allows_them() {
    let Some(python) = client("python") else {
        return;
    };
    for method in ["md5", "password"] {
        let p = TestProject::example();
        p.write(
            "marts/serve.yml",
            &format!("{USERS}    password_method: {method}\n"),
        );
        p.mart(&["build"]).success();
        let server = Server::start(&p, &[]);
        assert!(
            server
                .log()
                .contains(if method == "md5" { "md5" } else { "cleartext" })
        );
        let seen = server.python(&python, &["auth", &server.analyst()]);
        assert_eq!(
            seen["sqlstate"],
            serde_json::Value::Null,
            "{method}: {seen}"
        );
        let seen = server.python(&python, &["auth", &server.dsn("analyst", "wrong")]);
        assert_eq!(seen["sqlstate"], "28P01", "{method}: {seen}");
    }
    let p = TestProject::example();
    p.write(
        "marts/serve.yml",
        &format!("{USERS}    password_method: plain\n"),
    );
    p.mart(&["serve"])
        .code(2)
        .stderr_has("password_method: `plain` is not one");
}

#[test]
fn listening_beyond_loopback_without_users_or_with_bad_tls_does_not_start() {
    let p = TestProject::example();
    let run = p.mart(&["serve", "--listen", "0.0.0.0:0"]);
    run.code(2)
        .stderr_has("no users are configured")
        .stderr_has("password_env");
    p.write("cert.pem", "not a certificate")
        .write("key.pem", "nor a key");
    let run = p.mart(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ]);
    run.code(2)
        .stderr_has("TLS: `cert.pem`: no certificate in it");
    let run = p.mart(&["serve", "--tls-cert", "missing.pem", "--tls-key", "key.pem"]);
    run.code(1).stderr_has("missing.pem");
    p.mart(&["serve", "--cache", "lots"])
        .code(2)
        .stderr_has("`lots` is not a size");
    p.write("marts/serve.yml", "config:\n  serve:\n    cache: lots\n");
    p.mart(&["serve"])
        .code(2)
        .stderr_has("cache: `lots` is not a size")
        .stderr_has("serve.yml");
}

#[test]
fn every_write_is_refused_with_25006_and_the_warehouse_is_untouched() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let before = p.snapshot();
    let server = Server::start(&p, &[]);
    let seen = server.python(&python, &["writes", &server.analyst()]);
    for (sql, codes) in seen.as_object().unwrap() {
        if sql == "after" {
            assert_eq!(codes, 1);
            continue;
        }
        // DataFusion's own DDL is not even Postgres SQL: a syntax error.
        let code = if sql.contains("external") {
            "42601"
        } else {
            "25006"
        };
        assert_eq!(codes, &serde_json::json!([code, code]), "{sql}");
    }
    drop(server);
    let after = p.snapshot();
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| !k.contains("_mart/leases") && before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert!(changed.is_empty(), "changed: {changed:?}");
    assert!(!std::path::Path::new("/tmp/mart-evil.csv").exists());
}

/// Parameters (the extended protocol) answer as `mart query` does:
/// dates, text, integers, decimals; timestamps; nulls; and literals of
/// each type round-trip.
fn answers_as_mart_query(p: &TestProject, server: &Server, python: &Path) {
    let dsn = server.analyst();
    let seen = server.python(python, &["types", &dsn]);
    assert_eq!(seen["same"], true, "{seen}");
    for (sql, param) in [
        (
            "select order_date, channel, orders, revenue from daily_revenue where channel = %s order by order_date limit 5",
            "tiktok",
        ),
        (
            "select * from raw.events where user_id = %s order by event_id",
            "7",
        ),
        (
            "select user_id, channel, cast(null as varchar) as nothing from raw.users where country = %s order by user_id limit 20",
            "ES",
        ),
    ] {
        let got = server.python(python, &["rows", &dsn, sql, param]);
        let literal = match param.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => format!("'{param}'"),
        };
        let run = p.mart(&["query", "--format", "json", &sql.replace("%s", &literal)]);
        let mut want: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        for row in want.as_array_mut().unwrap() {
            // `mart query` writes decimals as strings, psycopg reads them as numbers.
            if let Some(v) = row.get("revenue").and_then(|v| v.as_str()) {
                row["revenue"] = serde_json::json!(v.parse::<f64>().unwrap());
            }
        }
        // `mart query` leaves nulls out of its JSON objects.
        let got: Vec<serde_json::Value> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let kept = r.as_object().unwrap().iter().filter(|(_, v)| !v.is_null());
                serde_json::Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect())
            })
            .collect();
        assert_eq!(serde_json::json!(got), want, "{sql}");
    }
}

#[test]
fn psycopg_parameters_types_cursors_and_chatter() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    // Every query from the files; `tables_in_memory_...` has them decoded.
    let server = Server::start(&p, &["--cache", "0"]);
    let dsn = server.analyst();
    answers_as_mart_query(&p, &server, &python);

    // Parameters in subqueries (SQLAlchemy 2's column query has them) keep
    // their types, not those of the outer query's.
    let nested = "select %s::smallint + 1 as b from (select 1) as t \
                  where exists (select 1 where %s::varchar = 'x')";
    let seen = server.python(&python, &["rows", &dsn, nested, "1", "x"]);
    assert_eq!(seen, serde_json::json!([{"b": 2}]));
    // A subquery in the select list is dropped by datafusion-pg-catalog
    // (its value is null), and the parameters after it keep theirs.
    let dropped = "select (select %s::varchar) as a, %s::smallint + 1 as b";
    let seen = server.python(&python, &["rows", &dsn, dropped, "x", "1"]);
    assert_eq!(seen[0]["b"], 2, "{seen}");

    // A server-side cursor (DECLARE, then FETCH by the extended protocol).
    let rows = p.query_csv("select count(*) from raw.events")[1]
        .parse::<u64>()
        .unwrap();
    let seen = server.python(&python, &["cursor", &dsn, "raw.events", "100"]);
    assert_eq!(seen["rows"], rows);
    assert!(seen["pieces"].as_u64().unwrap() >= rows / 100, "{seen}");

    let seen = server.python(&python, &["chatter", &dsn]);
    assert!(
        seen["version"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL 16."),
        "{seen}"
    );
    assert_eq!(
        seen["server_version"].as_u64().unwrap() / 10000,
        16,
        "{seen}"
    );
}

#[test]
fn tables_in_memory_answer_as_their_files_and_follow_publishes() {
    let Some(python) = client("python") else {
        return;
    };
    // Decoded into memory: the same answers as from the files.
    let p = example();
    let server = Server::start(&p, &[]);
    let line = server.wait_for("in memory", 1);
    assert!(
        line.contains("raw.events") && line.contains("daily_revenue"),
        "{line}"
    );
    answers_as_mart_query(&p, &server, &python);
    drop(server);

    // Over the budget: read from the files, all the same.
    let server = Server::start(&p, &["--cache", "8KiB"]);
    let line = server.wait_for("read from files", 1);
    assert!(line.contains("raw.events"), "{line}");
    let count = "select count(*) as n from raw.events";
    let seen = server.python(&python, &["rows", &server.analyst(), count]);
    assert_eq!(seen[0]["n"].to_string(), p.query_csv(count)[1]);
    drop(server);

    // A publish is seen by the next query, before and after the new
    // version is decoded.
    let p = versioned_project(1000);
    let server = Server::start(&p, &[]);
    server.wait_for("in memory", 1);
    let builds = "select distinct build from versioned";
    let seen = server.python(&python, &["rows", &server.analyst(), builds]);
    assert_eq!(seen, serde_json::json!([{"build": 0}]));
    // Tables keep their numbers across snapshots (psql's `\d` looks a
    // table up by name, then its columns by number, in two queries).
    let oids = "select relname, oid from pg_catalog.pg_class where relname in ('seq', 'versioned', 'pg_type') order by 1";
    let before = server.python(&python, &["rows", &server.analyst(), oids]);
    p.write("sql/versioned.sql", &versioned(1));
    p.mart(&["build"]).success();
    let seen = server.python(&python, &["rows", &server.analyst(), builds]);
    assert_eq!(seen, serde_json::json!([{"build": 1}]));
    assert_eq!(
        server.python(&python, &["rows", &server.analyst(), oids]),
        before
    );
    assert!(server.wait_for("in memory", 2).contains("versioned"));
    let seen = server.python(&python, &["rows", &server.analyst(), builds]);
    assert_eq!(seen, serde_json::json!([{"build": 1}]));
}

/// SQLAlchemy 1.4 and psycopg2, as Superset (4.x) pins them.
#[test]
fn sqlalchemy_inspector_sees_schemas_tables_and_columns() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &[]);
    let url = format!(
        "postgresql+psycopg2://analyst:{PASSWORD}@127.0.0.1:{}/mart",
        server.port
    );
    let seen = server.python(&python, &["inspect", &url]);
    let has = |key: &str, name: &str| {
        seen[key]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some(name))
    };
    assert!(has("schemas", "public") && has("schemas", "raw"), "{seen}");
    assert!(
        has("public", "daily_revenue") && has("public", "ab_test_results"),
        "{seen}"
    );
    assert!(has("raw", "orders"), "{seen}");
    let columns: Vec<_> = seen["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        columns.contains(&"order_date DATE".to_string()),
        "{columns:?}"
    );
    assert!(columns.contains(&"channel TEXT".to_string()), "{columns:?}");
    assert!(seen["count"].as_u64().unwrap() > 0, "{seen}");
    // Comments from the YAML's descriptions.
    let comment = |column: &str| {
        seen["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == column)
            .map(|c| c["comment"].clone())
    };
    assert_eq!(
        comment("order_date"),
        Some(serde_json::json!("Day of the order (UTC)."))
    );
    assert_eq!(comment("orders"), Some(serde_json::Value::Null));
    let table = seen["table_comment"].as_str().unwrap();
    assert!(
        table.starts_with("Revenue per day and acquisition channel"),
        "{seen}"
    );
    assert_eq!(seen["keys"], serde_json::json!([[], []]), "{seen}");
}

/// The first queries Metabase and DBeaver send (as datafusion-postgres'
/// tests record them), replayed.
#[test]
fn metabase_and_dbeaver_startup_queries_run() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &[]);
    let seen = server.python(&python, &["replay", &server.analyst(), "metabase"]);
    assert_eq!(seen["failed"], serde_json::json!([]), "{seen}");
    let seen = server.python(&python, &["replay", &server.analyst(), "dbeaver"]);
    assert_eq!(seen["failed"], serde_json::json!([]), "{seen}");
    // DBeaver's probe for array types answers as Postgres does.
    let probe = "select oid, typinput = 'pg_catalog.array_in'::regproc as is_array \
                 from pg_catalog.pg_type where oid in (23, 1007) order by oid";
    let seen = server.python(&python, &["rows", &server.analyst(), probe]);
    assert_eq!(
        seen,
        serde_json::json!([{"oid": 23, "is_array": false}, {"oid": 1007, "is_array": true}])
    );
}

#[test]
fn cancel_and_statement_timeout_stop_a_long_query_and_the_session_goes_on() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &[]);
    let seen = server.python(&python, &["cancel", &server.analyst()]);
    assert_eq!(seen["cancelled"], "57014", "{seen}");
    assert_eq!(seen["timed_out"], "57014", "{seen}");
    assert!(seen["cancel_s"].as_f64().unwrap() < 10.0, "{seen}");
    assert!(seen["timeout_s"].as_f64().unwrap() < 10.0, "{seen}");
    assert_eq!(seen["after_cancel"], 1);
    assert_eq!(seen["after_timeout"], 2);
    // An administrator finds it in pg_stat_activity and cancels it.
    let seen = server.python(&python, &["cancel_backend", &server.analyst()]);
    assert_eq!(
        seen,
        serde_json::json!({
            "found": 1, "same_pid": true, "user": "analyst", "application": "slow one",
            "query": true, "done": true, "cancelled": "57014", "after": 1, "self": true,
            "again": false
        })
    );
}

#[test]
fn errors_carry_the_sqlstate_of_their_cause() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &[]);
    let seen = server.python(
        &python,
        &[
            "sqlstates",
            &server.analyst(),
            "select * from daily_revenu",
            "select nope from daily_revenue",
            "selec 1",
            "select 1 / 0",
            "select 1",
        ],
    );
    assert_eq!(
        seen,
        serde_json::json!(["42P01", "42703", "42601", "22012", null])
    );
    if client("psql").is_some() {
        let (_, _, err) = server.psql(&server.analyst(), &["select * from daily_revenu"]);
        assert!(err.contains("there is no table `daily_revenu`"), "{err}");
        assert!(err.contains("did you mean `daily_revenue`?"), "{err}");
    }
}

#[test]
fn a_query_over_the_memory_limit_fails_with_53200_and_the_server_goes_on() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &["--memory-limit", "16MiB"]);
    let join = "select count(*) from generate_series(1, 3000000) as a(x) \
                join generate_series(1, 3000000) as b(y) on x = y";
    let seen = server.python(
        &python,
        &[
            "sqlstates",
            &server.analyst(),
            join,
            "select count(*) from daily_revenue",
        ],
    );
    assert_eq!(seen, serde_json::json!(["53200", null]), "{}", server.log());
}

#[test]
fn tls_serves_encrypted_connections() {
    let Some(python) = client("python") else {
        return;
    };
    if client("openssl").is_none() {
        return;
    }
    let p = example();
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(p.path())
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = Server::start(&p, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert!(server.log().contains("(TLS,"), "{}", server.log());
    let dsn = server
        .analyst()
        .replace("sslmode=disable", "sslmode=require");
    let seen = server.python(&python, &["sqlstates", &dsn, "select 1"]);
    assert_eq!(seen, serde_json::json!([null]));
}

#[test]
fn the_yaml_sets_the_statement_timeout_and_closes_idle_sessions() {
    let Some(python) = client("python") else {
        return;
    };
    let p = TestProject::example();
    p.write(
        "marts/serve.yml",
        &format!("{USERS}    statement_timeout: 500ms\n    idle_timeout: 1s\n"),
    );
    p.mart(&["build"]).success();
    let server = Server::start(&p, &[]);
    let slow = "select sum(v) from generate_series(1, 20000000000) as t(v)";
    let seen = server.python(&python, &["sqlstates", &server.analyst(), slow, "select 1"]);
    assert_eq!(seen, serde_json::json!(["57014", null]));
    let seen = server.python(&python, &["idle", &server.analyst(), "2.5"]);
    assert_eq!(seen, serde_json::json!({"first": 1, "after": "closed"}));
    assert!(
        server.log().contains("closed, idle for 1s"),
        "{}",
        server.log()
    );
    let seen = server.python(&python, &["idle", &server.analyst(), "0.3"]);
    assert_eq!(seen, serde_json::json!({"first": 1, "after": "open"}));
}

#[test]
fn the_connection_limit_refuses_the_next_with_53300_and_garbage_is_survived() {
    let Some(python) = client("python") else {
        return;
    };
    let p = example();
    let server = Server::start(&p, &["--max-connections", "1"]);
    let dsn = server.analyst();
    let holder = clients_meanwhile(&python, &["hold", &dsn, "3"]);
    std::thread::sleep(Duration::from_millis(1500));
    let seen = server.python(&python, &["auth", &dsn]);
    assert_eq!(seen["sqlstate"], "53300", "{seen}");
    assert!(holder.join().unwrap().status.success());

    // Garbage, a truncated startup packet and a dropped TLS request: the
    // server logs and lives on.
    for bytes in [
        &b"\x00\x00\x00\x08\x04\xd2\x16"[..],
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0xff; 4096][..],
        &b"\x00\x00\x00\x08\x04\xd2\x16\x2f"[..],
    ] {
        let mut socket = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let _ = socket.write_all(bytes);
        drop(socket);
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = server.python(&python, &["auth", &dsn]);
    assert_eq!(
        seen["sqlstate"],
        serde_json::Value::Null,
        "{}",
        server.log()
    );
}

/// A project whose one model carries its build's number in every row.
fn versioned(build: u32) -> String {
    format!("select id, {build} as build, id * 2 as twice, id % 8 as part from raw.seq\n")
}

/// A project of one source `seq` (ids 0..n) and one model `versioned`, in
/// eight files (partitions): a reader opens them one after the other.
fn versioned_project(n: usize) -> TestProject {
    let p = TestProject::empty();
    let mut seq = String::from("id\n");
    for i in 0..n {
        seq.push_str(&format!("{i}\n"));
    }
    p.write("data/seq.csv", &seq)
        .write(
            "marts/project.yml",
            &format!("{USERS}sources:\n  - name: seq\n    path: data/seq.csv\nmodels:\n  - name: versioned\n    partition_by: [part]\n"),
        )
        .write("sql/versioned.sql", &versioned(0));
    p.mart(&["build"]).success();
    p
}

#[test]
fn a_cursor_reads_its_version_to_the_end_across_two_publishes() {
    let Some(python) = client("python") else {
        return;
    };
    let p = versioned_project(100_000);
    let server = Server::start(&p, &[]);
    let (ready, go) = (p.path().join("ready"), p.path().join("go"));
    let (ready_arg, go_arg) = (ready.display().to_string(), go.display().to_string());
    let args = [
        "cursor_across",
        &server.analyst(),
        "versioned",
        &ready_arg,
        &go_arg,
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reader = clients_meanwhile(&python, &args);
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for build in [1, 2] {
        p.write("sql/versioned.sql", &versioned(build));
        p.mart(&["build"]).success();
    }
    // Three versions: the cursor's (leased), and the current and previous.
    let versions = p.warehouse().join("_mart/data/mart/versioned");
    assert_eq!(std::fs::read_dir(&versions).unwrap().count(), 3);
    std::fs::write(&go, "").unwrap();
    let seen = server.answer(&args, reader.join().unwrap());
    assert_eq!(seen, serde_json::json!({"rows": 100_000, "builds": [0]}));
    // The versions are pruned once the cursor is gone and a build publishes.
    drop(server);
    p.write("sql/versioned.sql", &versioned(3));
    p.mart(&["build"]).success();
    assert_eq!(std::fs::read_dir(&versions).unwrap().count(), 2);
}

#[test]
fn a_statement_prepared_once_reads_what_is_published_at_each_run() {
    let Some(python) = client("python") else {
        return;
    };
    let p = versioned_project(1000);
    let server = Server::start(&p, &[]);
    let folder = p.path().display().to_string();
    let sql = "select max(build) from versioned";
    let args = ["prepared_across", &server.analyst(), sql, &folder, "3"];
    let runs = clients_meanwhile(&python, &args);
    // Round 1 after one publish, round 2 after two more (the version the
    // statement was prepared on is pruned by then).
    for (round, builds) in [(1, vec![1]), (2, vec![2, 3])] {
        let ready = p.path().join(format!("ready.{round}"));
        let started = Instant::now();
        while !ready.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for build in builds {
            p.write("sql/versioned.sql", &versioned(build));
            p.mart(&["build"]).success();
        }
        std::fs::write(p.path().join(format!("go.{round}")), "").unwrap();
    }
    let seen = server.answer(&args, runs.join().unwrap());
    assert_eq!(seen, serde_json::json!([[0, 0], [1, 1], [3, 3]]));
}

#[test]
fn queries_under_load_see_whole_versions_while_builds_republish() {
    let Some(python) = client("python") else {
        return;
    };
    let p = versioned_project(50_000);
    let server = Server::start(&p, &[]);
    let dsn = server.analyst();
    let args = ["load", &dsn, "30", "32", "versioned"];
    let load = clients_meanwhile(&python, &args);
    let started = Instant::now();
    let mut build = 0;
    while started.elapsed() < Duration::from_secs(28) {
        build += 1;
        p.write("sql/versioned.sql", &versioned(build));
        p.mart(&["build"]).success();
    }
    let seen = server.answer(&args, load.join().unwrap());
    assert_eq!(seen["error_count"], 0, "{seen}\n{}", server.log());
    assert_eq!(seen["mixed"], serde_json::json!([]), "{seen}");
    assert!(seen["answers"].as_u64().unwrap() > 100, "{seen}");
    // Answers came from several builds: the server followed the publishes.
    assert!(
        seen["builds"].as_array().unwrap().len() > 2,
        "{seen} after {build} builds"
    );
    // Once the load is gone, old versions are pruned again.
    drop(server);
    build += 1;
    p.write("sql/versioned.sql", &versioned(build));
    p.mart(&["build"]).success();
    let versions = std::fs::read_dir(p.warehouse().join("_mart/data/mart/versioned"))
        .unwrap()
        .count();
    assert!(versions <= 2, "{versions} versions kept");
}
