//! The corpus of hostile and broken input: each folder of `tests/corpus/`
//! holds files laid over the `basic` fixture (after it is built) and a
//! `case.yml` saying what `mart` must do with them: the command (default
//! `build`), the exit status, and fragments its stderr must hold. A case
//! that fails must never panic and must leave every table of the warehouse
//! byte for byte as it was (the run records of a build aside: they record
//! the failed run).

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::common::{TestProject, copy_dir, repo_root};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default = "build")]
    command: Vec<String>,
    status: i32,
    #[serde(default)]
    stderr: Vec<String>,
}

fn build() -> Vec<String> {
    vec!["build".into()]
}

/// Overlay every file of `case` but case.yml onto the project at `to`.
fn overlay(case: &Path, to: &Path) {
    for entry in fs::read_dir(case).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "case.yml" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_bad_input_is_refused_cleanly() {
    let root = repo_root().join("tests/corpus");
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("case.yml").is_file())
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: Case = serde_yaml::from_str(&fs::read_to_string(dir.join("case.yml")).unwrap())
            .unwrap_or_else(|e| panic!("{name}/case.yml: {e}"));
        let p = TestProject::fixture("basic");
        p.mart(&["build", "-q"]).success();
        let before = tables(&p);
        overlay(dir, p.path());
        let args: Vec<&str> = case.command.iter().map(String::as_str).collect();
        let run = p.mart(&args);
        let mut problems = Vec::new();
        if run.code != case.status {
            problems.push(format!(
                "exit status {} (expected {})",
                run.code, case.status
            ));
        }
        for fragment in &case.stderr {
            if !run.stderr.contains(fragment.as_str()) {
                problems.push(format!("stderr lacks {fragment:?}"));
            }
        }
        let after = tables(&p);
        if case.status != 0 && after != before {
            let changed: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            problems.push(format!("the warehouse changed: {changed:?}"));
        }
        if !problems.is_empty() {
            failed.push(format!(
                "{name}: {}\n--- stderr:\n{}",
                problems.join("; "),
                run.stderr
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// The warehouse without the run records.
fn tables(p: &TestProject) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut snapshot = p.snapshot();
    snapshot.retain(|path, _| {
        !matches!(
            path.as_str(),
            "_mart/run_results.json" | "_mart/manifest.json"
        )
    });
    snapshot
}

#[test]
fn a_huge_project_file_is_refused_without_reading_it_all() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "-q"]).success();
    let before = tables(&p);
    let mut yaml = String::from("models:\n");
    let mut i = 0;
    while yaml.len() < 20 << 20 {
        yaml.push_str(&format!(
            "  - name: generated_model_{i}\n    description: {}\n",
            "x".repeat(200)
        ));
        i += 1;
    }
    p.write("marts/huge.yml", &yaml);
    let started = std::time::Instant::now();
    p.mart(&["build"]).code(2).stderr_has(
        "cannot read `marts/huge.yml`: it is 20 MiB, and project files are at most 16 MiB",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(tables(&p), before);
}

/// A pipe would block the read and a device like /dev/zero never end it.
#[test]
fn a_project_file_that_is_not_a_regular_file_is_refused() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "-q"]).success();
    let before = tables(&p);
    std::os::unix::fs::symlink("/dev/zero", p.path().join("marts/zero.yml")).unwrap();
    p.mart(&["build"])
        .code(2)
        .stderr_has("cannot read `marts/zero.yml`: it is not a regular file");
    fs::remove_file(p.path().join("marts/zero.yml")).unwrap();
    let fifo = p.path().join("sql/top.sql");
    fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    p.mart(&["build"])
        .code(2)
        .stderr_has("cannot read `sql/top.sql`: it is not a regular file");
    assert_eq!(tables(&p), before);
}

/// Links to folders are followed (data often lives elsewhere), but one that
/// leads back to a folder it is in would list the same files without end.
#[test]
fn a_folder_link_that_loops_is_refused() {
    use std::os::unix::fs::symlink;
    let p = TestProject::fixture("basic");
    fs::create_dir_all(p.path().join("data/visits")).unwrap();
    fs::rename(
        p.path().join("data/visits.jsonl"),
        p.path().join("data/visits/part-1.jsonl"),
    )
    .unwrap();
    let yml = fs::read_to_string(p.path().join("marts/project.yml")).unwrap();
    p.write(
        "marts/project.yml",
        &yml.replace("data/visits.jsonl", "data/visits"),
    );
    p.mart(&["build", "-q"]).success();
    let before = tables(&p);
    for (link, to, command) in [
        ("sql/loop", "..", "build"),
        ("sql/a/b/up", "../..", "build"),
        ("marts/again", ".", "build"),
        ("data/visits/back", "../visits", "land"),
    ] {
        let link = p.path().join(link);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink(to, &link).unwrap();
        let run = p.mart(&[command]);
        run.code(2)
            .stderr_has("leads back to")
            .stderr_has("a folder it is in");
        assert_eq!(tables(&p), before, "{}", link.display());
        fs::remove_file(&link).unwrap();
    }
    // A link to a folder outside the project is followed.
    let outside = TestProject::empty();
    outside.write("more.sql", "select 1 as x");
    symlink(outside.path(), p.path().join("sql/outside")).unwrap();
    p.write("marts/more.yml", "models:\n  - name: more\n");
    p.mart(&["build", "-s", "more"]).success();
    assert_eq!(p.query_csv("select x from more"), ["x", "1"]);
}
