//! Reliability: builds and landings killed at random moments, two writers
//! at once, readers during builds, and writes that fail. After any of these
//! every table must read completely as one whole version, and the next run
//! must finish the job.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestProject, parquet_files, read_parquet};

fn mart_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("mart")
}

/// A small deterministic generator, so that a failing seed can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A project whose build takes a noticeable time: a raw CSV of `rows`
/// events over many days, a partitioned incremental model, aggregates,
/// a join, a view and a table on the view.
fn busy_project(rows: usize) -> TestProject {
    let p = TestProject::empty();
    p.write(
        "marts/project.yml",
        "sources:\n  - name: events\n    path: seeds/events/\n    format: csv\n  - name: kinds\n    path: seeds/kinds.csv\n\
         models:\n  - name: stg\n  - name: by_day\n    materialized: incremental\n    incremental: {strategy: time, column: day}\n    partition_by: [day]\n\
         \x20 - name: by_kind\n  - name: joined\n  - name: recent\n    materialized: view\n  - name: top\n",
    );
    p.write(
        "sql/stg.sql",
        "select id, kind, amount, cast(ts as date) as day, upper(note) as note from raw.events",
    );
    p.write(
        "sql/by_day.sql",
        "select day, count(*) as n, sum(amount) as amount from stg group by day",
    );
    p.write(
        "sql/by_kind.sql",
        "select kind, count(*) as n, avg(amount) as amount from stg group by kind",
    );
    p.write(
        "sql/joined.sql",
        "select s.id, s.day, k.label, s.amount / b.amount as ratio from stg s join by_kind b on b.kind = s.kind join raw.kinds k on k.kind = s.kind",
    );
    p.write(
        "sql/recent.sql",
        "select * from joined where day > date '2026-03-01'",
    );
    p.write(
        "sql/top.sql",
        "select label, count(*) as n, max(ratio) as ratio from recent group by label",
    );
    let mut kinds = String::from("kind,label\n");
    for k in 0..50 {
        kinds.push_str(&format!("{k},kind {k}\n"));
    }
    p.write("seeds/kinds.csv", &kinds);
    append_events(&p, 0, rows, 0);
    p
}

/// Write `rows` events (ids from `first`) as a new file of day `day0`
/// onwards, as a daily export would add one.
fn append_events(p: &TestProject, first: usize, rows: usize, day0: usize) {
    let mut csv = String::from("id,kind,amount,ts,note\n");
    for i in first..first + rows {
        let day = day0 + (i - first) * 60 / rows.max(1);
        csv.push_str(&format!(
            "{i},{},{}.{:02},2026-{:02}-{:02}T{:02}:00:00,note {}\n",
            i % 50,
            i % 997,
            i % 100,
            1 + (day / 28) % 12,
            1 + day % 28,
            i % 24,
            i % 13
        ));
    }
    p.write(&format!("seeds/events/part-{first:09}.csv"), &csv);
}

/// Every published table: its name (zone/name) and the version folder its
/// link points at.
fn published(warehouse: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for zone in ["raw", "mart"] {
        for entry in fs::read_dir(warehouse.join(zone))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            // A link not yet renamed into place: the next run removes it.
            if name.starts_with('.') {
                continue;
            }
            let target = fs::canonicalize(entry.path())
                .unwrap_or_else(|e| panic!("{zone}/{name} points nowhere: {e}"));
            out.insert(format!("{zone}/{name}"), target);
        }
    }
    out
}

/// Every published table reads completely, and its rows are what its
/// record says: no table is torn or half-written.
fn check_whole(warehouse: &Path) -> BTreeMap<String, PathBuf> {
    let tables = published(warehouse);
    for (name, dir) in &tables {
        let record: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.join("_mart.json"))
                .unwrap_or_else(|e| panic!("{name}: no record: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}: torn record: {e}"));
        let rows: usize = parquet_files(dir)
            .iter()
            .flat_map(|f| read_parquet(f))
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(
            rows as u64,
            record["rows"].as_u64().unwrap(),
            "{name}: rows differ from its record"
        );
    }
    for file in ["run_results.json", "manifest.json"] {
        if let Ok(text) = fs::read_to_string(warehouse.join("_mart").join(file)) {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{file} is torn: {e}"));
        }
    }
    tables
}

/// The last run's records agree with the tables: each model it reports
/// has the rows its published version holds.
fn check_records(tables: &BTreeMap<String, PathBuf>, warehouse: &Path) {
    let results: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(warehouse.join("_mart/run_results.json")).unwrap(),
    )
    .unwrap();
    for result in results["results"].as_array().unwrap() {
        let name = result["name"].as_str().unwrap();
        let (Some(rows), Some(dir)) =
            (result["rows"].as_u64(), tables.get(&format!("mart/{name}")))
        else {
            continue;
        };
        let record: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("_mart.json")).unwrap()).unwrap();
        assert_eq!(
            record["rows"].as_u64(),
            Some(rows),
            "run_results.json disagrees with {name}"
        );
    }
}

/// Nothing temporary is left: no version being written, no link not yet
/// renamed into place.
fn check_clean(warehouse: &Path) {
    let tmp = warehouse.join("_mart/tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    for zone in ["raw", "mart"] {
        for entry in fs::read_dir(warehouse.join(zone))
            .into_iter()
            .flatten()
            .flatten()
        {
            assert!(
                !entry.file_name().to_string_lossy().starts_with('.'),
                "left behind: {:?}",
                entry.path()
            );
        }
    }
}

#[test]
fn builds_killed_at_random_moments_never_tear_a_table() {
    let kills: usize = std::env::var("MART_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("MART_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill loop: {kills} kills, MART_KILL_SEED={seed}");
    let mut rng = Lcg(seed);
    let rows = 1_200_000;
    let p = busy_project(rows);
    p.mart(&["build", "-q"]).success();
    // How long the runs to kill take, to kill them anywhere along the way.
    let started = Instant::now();
    p.mart(&["build", "-q", "--full-refresh"]).success();
    let full = started.elapsed();
    let mut next_id = rows;
    let mut day = 60;
    let mut survived = 0;
    for round in 0..kills {
        // Give the run something to do: new raw rows, or a changed model.
        match rng.below(3) {
            0 | 1 => {
                append_events(&p, next_id, 12_000, day);
                next_id += 12_000;
                day += 2;
            }
            _ => {
                p.write(
                    "sql/by_kind.sql",
                    &format!("select kind, count(*) as n, avg(amount) + {round} as amount from stg group by kind"),
                );
            }
        }
        let before = check_whole(&p.warehouse());
        let land = rng.below(4) == 0;
        let command: &[&str] = if land {
            &["land"]
        } else {
            &["build", "-q", "--full-refresh"]
        };
        // Landing an append is quicker than a build.
        let window = if land { full / 4 } else { full };
        let mut child = Command::new(mart_path())
            .args(command)
            .current_dir(p.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.below(window.as_millis() as u64 + 1));
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        if !finished {
            survived += 1;
        }

        // Every table is whole, and is its old version or a new one.
        let after = check_whole(&p.warehouse());
        let changed: Vec<&String> = after
            .iter()
            .filter(|(name, dir)| before.get(*name) != Some(dir))
            .map(|(name, _)| name)
            .collect();
        for name in before.keys() {
            assert!(
                after.contains_key(name),
                "round {round}: {name} disappeared"
            );
        }

        // The next build finishes, cleans up, and does not redo what the
        // killed one published.
        let run = p.mart(&["build"]);
        run.success();
        check_clean(&p.warehouse());
        for name in &changed {
            let table = name.split('/').nth(1).unwrap();
            let shown = if name.starts_with("raw/") {
                format!("raw.{table}")
            } else {
                table.to_string()
            };
            assert!(
                run.line_for(&shown).starts_with("up to date"),
                "round {round} (seed {seed}): {shown} was published by the killed run but rebuilt:\n{}",
                run.stdout
            );
        }
        check_records(&check_whole(&p.warehouse()), &p.warehouse());
    }
    eprintln!(
        "kill loop: {survived} of {kills} runs killed before they finished (a whole build: {full:?})"
    );
    assert!(
        survived * 3 >= kills,
        "most runs finished before the kill: the kills test little"
    );
}

/// Hold the warehouse's lock from here, as another run would.
struct Held {
    _file: fs::File,
}

fn hold_lock(p: &TestProject, pid: u32) -> Held {
    let dir = p.warehouse().join("_mart");
    fs::create_dir_all(&dir).unwrap();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("lock"))
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    fs::write(dir.join("lock"), format!("{pid}\nbuild\n1795617576927\n")).unwrap();
    Held { _file: file }
}

#[test]
fn a_second_writer_waits_or_fails_with_no_wait() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "-q"]).success();
    let held = hold_lock(&p, 4242);
    let before = p.snapshot();
    for command in [&["build", "--no-wait"][..], &["land", "--no-wait"][..]] {
        p.mart(command)
            .code(1)
            .stderr_has("is being written by `mart build` (pid 4242, since 2026-11-25T")
            .stderr_has("leave out --no-wait to wait for it");
    }
    // Readers do not wait.
    p.mart(&["query", "select 1"]).success();
    assert_eq!(p.snapshot(), before);

    let mut waiting = Command::new(mart_path())
        .args(["build", "-q", "--full-refresh"])
        .current_dir(p.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the second build did not wait"
    );
    assert_eq!(p.snapshot(), before, "the waiting build wrote");
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for `mart build` (pid 4242"),
        "{stderr}"
    );
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "-q"]).success();
    // What a killed run leaves: its name in the lock file, the lock itself
    // released by the kernel, and a version half-written.
    fs::write(
        p.warehouse().join("_mart/lock"),
        "999999\nbuild\n1795617576927\n",
    )
    .unwrap();
    fs::create_dir_all(p.warehouse().join("_mart/tmp/mart.x.1")).unwrap();
    fs::write(
        p.warehouse().join("_mart/tmp/mart.x.1/part-0.parquet"),
        b"PAR1 half",
    )
    .unwrap();
    let run = p.mart(&["build", "--no-wait"]);
    run.success()
        .stderr_has("`mart build` (pid 999999, since 2026-11-25T")
        .stderr_has("was interrupted");
    check_clean(&p.warehouse());
    // A clean run leaves nothing for the next to worry about.
    p.mart(&["build"]).success();
    assert!(!p.mart(&["build"]).stderr.contains("interrupted"));
}

#[test]
fn readers_during_builds_see_whole_versions_only() {
    // Each version of `snap` holds `rows` rows all stamped with the same
    // version number: a reader seeing two numbers, or a count that is not
    // the one of its number, saw a torn or mixed table.
    let p = TestProject::empty();
    p.write(
        "marts/m.yml",
        "sources:\n  - name: nums\n    path: seeds/nums.csv\nmodels:\n  - name: snap\n",
    );
    let mut csv = String::from("x\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i}\n"));
    }
    p.write("seeds/nums.csv", &csv);
    let sql = |v: usize| {
        format!(
            "select {v} as version, x from raw.nums where x < {}",
            10_000 + v * 100
        )
    };
    p.write("sql/snap.sql", &sql(0));
    p.mart(&["build", "-q"]).success();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let link = p.warehouse().join("mart/snap");
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // An outside reader: resolve the table, then read its files.
                let dir = fs::canonicalize(&link).unwrap();
                let mut versions = std::collections::BTreeSet::new();
                let mut rows = 0;
                for file in parquet_files(&dir) {
                    for batch in read_parquet(&file) {
                        rows += batch.num_rows();
                        let v = batch
                            .column(0)
                            .as_any()
                            .downcast_ref::<datafusion::arrow::array::Int64Array>()
                            .unwrap();
                        versions.extend(v.iter().flatten());
                    }
                }
                assert_eq!(
                    versions.len(),
                    1,
                    "a reader saw versions {versions:?} at once"
                );
                let v = *versions.first().unwrap() as usize;
                assert_eq!(
                    rows,
                    10_000 + v * 100,
                    "a reader saw version {v} with {rows} rows"
                );
                reads += 1;
            }
            reads
        })
    };
    let mut queries = 0;
    for v in 1..=12 {
        p.write("sql/snap.sql", &sql(v));
        p.mart(&["build", "-q"]).success();
        // And through mart itself.
        let out = p.query_csv("select count(distinct version) as n, count(*) = 10000 + 100 * min(version) as whole from snap");
        assert_eq!(out, ["n,whole", "1,true"]);
        queries += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 12, "the reader read only {reads} times");
    assert_eq!(queries, 12);
}

#[test]
fn a_write_that_fails_keeps_the_previous_version() {
    // A file-size limit stops the Parquet writer partway: the error names
    // the table, and what was published stays as it was.
    let p = busy_project(40_000);
    p.mart(&["build", "-q"]).success();
    let before = published(&p.warehouse());
    append_events(&p, 40_000, 40_000, 60);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 64 && exec '{}' build --full-refresh",
            mart_path().display()
        ))
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("File too large") || stderr.contains("file too large"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(check_whole(&p.warehouse()), before, "a table changed");
    check_clean(&p.warehouse());
    // Without the limit, the next build finishes the job.
    p.mart(&["build", "-q"]).success();
    check_clean(&p.warehouse());
}

/// Run `mount` with `args`; false where mounting is not allowed here.
fn mount(args: &[&str]) -> bool {
    Command::new("mount")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Unmounts when dropped, so a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_the_previous_version() {
    let p = busy_project(100_000);
    let warehouse = p.path().join("small");
    fs::create_dir_all(&warehouse).unwrap();
    let at = warehouse.to_str().unwrap();
    if !mount(&["-t", "tmpfs", "-o", "size=6m", "tmpfs", at]) {
        eprintln!("cannot mount a small filesystem here: skipping the full-disk test");
        return;
    }
    let _mounted = Mounted(warehouse.clone());
    p.mart(&["--warehouse", at, "build", "-q"]).success();
    let before = check_whole(&warehouse);
    // Four times the rows: the new versions do not fit beside the old.
    for i in 1..4 {
        append_events(&p, i * 100_000, 100_000, 60 + i);
    }
    let run = p.mart(&["--warehouse", at, "build", "-q", "--full-refresh"]);
    run.code(1).stderr_has("No space left on device");
    assert_eq!(check_whole(&warehouse), before, "a table changed");
    check_clean(&warehouse);
}

#[test]
fn a_read_only_warehouse_is_refused_and_left_alone() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "-q"]).success();
    let at = p.warehouse();
    let at = at.to_str().unwrap();
    if !(mount(&["--bind", at, at])) {
        eprintln!("cannot bind-mount here: skipping the read-only test");
        return;
    }
    let _mounted = Mounted(p.warehouse());
    assert!(mount(&["-o", "remount,bind,ro", at]), "remount read-only");
    let before = p.snapshot();
    p.write("sql/base.sql", "select 2 as id");
    p.mart(&["build"])
        .code(1)
        .stderr_has("Read-only file system");
    assert_eq!(p.snapshot(), before);
    // Reading still works.
    p.mart(&["query", "select count(*) from top"]).success();
}
