//! `mart build --watch` and `mart test --watch`, driven as an analyst
//! would: files edited while it runs, its output read as it comes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::analyst::{PROJECT, project};

/// A running `mart ... --watch`, and its output (stdout and stderr in one
/// pipe, so in the order written, a line at a time).
pub struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    /// `mart ARGS` started in `dir`.
    pub fn start(dir: &Path, args: &[&str]) -> Watch {
        let mut child = Command::new("sh")
            .args(["-c", "exec \"$0\" \"$@\" 2>&1"])
            .arg(assert_cmd::cargo::cargo_bin("mart"))
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watch { child, lines }
    }

    /// What one run printed: its lines, to its "watching" line.
    pub fn run(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("watching ") => return seen + &line + "\n",
                Ok(line) => seen += &format!("{line}\n"),
                Err(e) => panic!("no run ended ({e:?}); printed:\n{seen}"),
            }
        }
    }

    /// That nothing more runs for a while.
    fn quiet(&self) {
        match self.lines.recv_timeout(Duration::from_millis(800)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("more output: {other:?}"),
        }
    }

    /// Ctrl-C: its exit status.
    pub fn stop(&mut self) -> i32 {
        // SAFETY: signalling a child process we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            match self.child.try_wait().unwrap() {
                Some(status) => break status,
                None if Instant::now() > deadline => panic!("Ctrl-C did not stop it"),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let rest: Vec<String> = self.lines.try_iter().collect();
        assert!(!rest.iter().any(|l| l.contains("panicked")), "{rest:?}");
        status.code().expect("exited, not killed")
    }
}

impl Drop for Watch {
    /// A test that fails leaves no watcher behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tables a run built, sorted (models in parallel finish in any order).
fn built(run: &str) -> Vec<&str> {
    let mut names: Vec<&str> = run
        .lines()
        .filter(|l| l.starts_with("built"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    names.sort();
    names
}

#[test]
fn watch_rebuilds_what_a_save_touches_and_goes_on_after_errors() {
    let p = project();
    let mut w = Watch::start(p.path(), &["build", "--watch"]);
    assert_eq!(built(&w.run()), ["base", "mid", "other", "top"]);

    // A leaf edited: it alone is built again.
    p.write(
        "sql/top.sql",
        "select g, count(*) as n, max(id) as top from base group by g\n",
    );
    let run = w.run();
    assert!(run.contains("changed: sql/top.sql"), "{run}");
    assert_eq!(built(&run), ["top"], "{run}");

    // An error, with its place; then the fix.
    p.write("sql/top.sql", "select g, nn from base\n");
    let run = w.run();
    assert!(run.contains("sql/top.sql:1:11"), "{run}");
    p.write(
        "sql/top.sql",
        "select g, count(*) as n from base group by g\n",
    );
    assert_eq!(built(&w.run()), ["top"]);

    // A YAML error, then the fix; an upstream edit rebuilds downstream too.
    p.write(
        "marts/project.yml",
        "models:\n  - name: base\n    materialised: view\n",
    );
    let run = w.run();
    assert!(run.contains("marts/project.yml:3:5"), "{run}");
    assert!(run.contains("materialized"), "{run}");
    p.write("marts/project.yml", PROJECT)
        .write("sql/base.sql", "select id, g from raw.t where id > 3\n");
    assert_eq!(built(&w.run()), ["base", "mid", "top"]);

    // A source's file changed: it is landed again, and what reads it rebuilt.
    p.write("data/t.csv", "id,g\n1,0\n2,1\n");
    let run = w.run();
    assert!(run.contains("landed"), "{run}");
    assert_eq!(built(&run), ["base", "mid", "other", "top"], "{run}");
    assert_eq!(w.stop(), 0);
}

#[test]
fn saves_close_together_make_one_build_and_readers_never_wait() {
    let p = project();
    let mut w = Watch::start(p.path(), &["build", "--watch"]);
    w.run();
    p.write("sql/base.sql", "select id, g from raw.t where id > 1\n")
        .write(
            "sql/other.sql",
            "select count(*) as n, 1 as one from raw.t\n",
        );
    let run = w.run();
    assert_eq!(run.matches("Done in").count(), 1, "{run}");
    assert_eq!(built(&run), ["base", "mid", "other", "top"], "{run}");
    w.quiet();

    // Between builds the watcher holds no lock: readers and other writers
    // go at once.
    assert_eq!(p.query_csv("select count(*) as n from base"), ["n", "29"]);
    p.mart(&["build", "--no-wait", "-s", "other", "--full-refresh"])
        .success();
    assert_eq!(w.stop(), 0);
}

#[test]
fn test_watch_runs_the_tests_again_on_each_save() {
    let p = project();
    p.mart(&["build"]).success();
    let mut w = Watch::start(p.path(), &["test", "--watch"]);
    w.run();
    let tested = "  - name: base\n    columns:\n      - {name: g, tests: [unique]}\n";
    p.write(
        "marts/project.yml",
        &PROJECT.replace("  - name: base\n", tested),
    );
    let run = w.run();
    assert!(run.contains("unique(g)"), "{run}");
    assert!(run.contains("1 failed"), "{run}");
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_save_during_a_build_makes_one_more_build() {
    let p = project();
    p.write("sql/other.sql", "select count(*) as n from raw.t\n");
    let mut w = Watch::start(p.path(), &["build", "--watch"]);
    w.run();
    // A build long enough to save again while it runs.
    p.write(
        "sql/other.sql",
        "select count(*) as n from generate_series(1, 300000000)\n",
    );
    // Its first line: the project was loaded, `other` is running.
    let wait = Duration::from_secs(60);
    while !w
        .lines
        .recv_timeout(wait)
        .unwrap()
        .starts_with("up to date")
    {}
    p.write("sql/top.sql", "select g, n, 1 as one from mid order by g\n");
    let first = w.run();
    assert_eq!(built(&first), ["other"], "{first}");
    assert!(first.contains("Done in"), "{first}");
    let second = w.run();
    assert!(second.contains("changed: sql/top.sql"), "{second}");
    assert_eq!(built(&second), ["top"], "{second}");
    assert_eq!(w.stop(), 0);
}
