//! Fast rebuilds: skipping what is unchanged, `--full-refresh`, parallel
//! runs, and the artifacts a build leaves.

use std::fs;
use std::path::Path;

use crate::common::TestProject;

fn status(run: &crate::common::Run, name: &str) -> String {
    let line = run.line_for(name);
    if line.starts_with("up to date") {
        "up to date".into()
    } else {
        line.split_whitespace().next().unwrap().into()
    }
}

#[test]
fn a_second_build_skips_everything_and_an_edit_rebuilds_only_descendants() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let before = p.snapshot();

    let run = p.mart(&["build"]);
    run.success();
    for name in [
        "raw.people",
        "raw.visits",
        "base",
        "l_branch",
        "r_branch",
        "top",
        "visits_per_person",
    ] {
        assert_eq!(status(&run, name), "up to date", "{}", run.stdout);
    }
    run.stdout_has("7 up to date");
    // Nothing in the warehouse changed but the run's artifacts.
    let strip = |mut s: std::collections::BTreeMap<String, Vec<u8>>| {
        s.retain(|k, _| {
            !k.starts_with("_mart/run_results")
                && !k.starts_with("_mart/manifest")
                && !k.starts_with("_mart/tmp")
        });
        s
    };
    assert!(
        strip(before) == strip(p.snapshot()),
        "a no-op build changed the warehouse"
    );

    // Whitespace and comments do not count as a change.
    p.write(
        "sql/r_branch.sql",
        "-- bumped\nselect id, grp,\n   score + 1 as bumped\nfrom base\n",
    );
    let run = p.mart(&["build"]);
    assert_eq!(status(&run, "r_branch"), "up to date", "{}", run.stdout);

    // A real change rebuilds the model and what reads it, nothing else.
    p.write(
        "sql/r_branch.sql",
        "select id, grp, score + 2 as bumped from base\n",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert_eq!(status(&run, "r_branch"), "built");
    assert_eq!(status(&run, "top"), "built");
    for name in ["base", "l_branch", "visits_per_person", "raw.people"] {
        assert_eq!(status(&run, name), "up to date", "{}", run.stdout);
    }
    assert_eq!(
        p.query_csv("select sum(bumped) from top"),
        ["sum(top.bumped)", "108"]
    );

    // A raw file written again with the same bytes is not landed again.
    let people = fs::read_to_string(p.path().join("data/people.csv")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    p.write("data/people.csv", &people);
    let run = p.mart(&["build"]);
    assert_eq!(status(&run, "raw.people"), "up to date", "{}", run.stdout);

    // A changed raw file re-lands the source and rebuilds its descendants.
    p.write(
        "data/visits.jsonl",
        "{\"person_id\": 2, \"page\": \"/x\", \"at\": \"2026-01-01T00:00:00\"}\n",
    );
    let run = p.mart(&["build"]);
    assert_eq!(status(&run, "raw.visits"), "landed");
    assert_eq!(status(&run, "visits_per_person"), "built");
    assert_eq!(status(&run, "top"), "up to date");

    // A setting that shapes the data counts too.
    let yaml = fs::read_to_string(p.path().join("marts/project.yml")).unwrap();
    p.write(
        "marts/project.yml",
        &yaml.replace("partition_by: [grp]", "partition_by: []"),
    );
    let run = p.mart(&["build"]);
    assert_eq!(status(&run, "top"), "built");
    assert_eq!(status(&run, "base"), "up to date");
}

#[test]
fn full_refresh_rebuilds_everything_selected() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let run = p.mart(&["build", "--full-refresh"]);
    run.success();
    for name in ["base", "l_branch", "r_branch", "top", "visits_per_person"] {
        assert_eq!(status(&run, name), "built", "{}", run.stdout);
    }
    let run = p.mart(&["build", "--full-refresh", "-s", "top"]);
    assert_eq!(status(&run, "top"), "built");
    assert!(!run.stdout.contains("base"), "{}", run.stdout);
}

#[test]
fn selected_models_build_alone_on_what_is_built() {
    let p = TestProject::fixture("basic");
    // Nothing is built yet: `top` cannot run without its inputs.
    let run = p.mart(&["build", "-s", "top"]);
    run.code(0);
    assert!(run.line_for("top").starts_with("skipped"), "{}", run.stdout);
    assert!(
        run.line_for("top").contains("base was not built")
            || run.line_for("top").contains("not built"),
        "{}",
        run.stdout
    );

    let run = p.mart(&["build", "-s", "+top"]);
    run.success();
    for name in ["base", "l_branch", "r_branch", "top"] {
        assert_eq!(status(&run, name), "built", "{}", run.stdout);
    }
    assert!(!run.stdout.contains("visits_per_person"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("raw.visits"),
        "only what is read is landed:\n{}",
        run.stdout
    );

    // Now `top` alone reads the built base and the project's view and ephemeral model.
    p.write(
        "sql/top.sql",
        "select r.grp, count(*) as n from l_branch l join r_branch r on r.id = l.id group by r.grp",
    );
    let run = p.mart(&["build", "-s", "top"]);
    run.success();
    assert_eq!(status(&run, "top"), "built");
    assert_eq!(p.query_csv("select sum(n) from top"), ["sum(top.n)", "4"]);
}

#[test]
fn parallel_and_serial_builds_produce_identical_tables() {
    let serial = TestProject::example();
    let parallel = TestProject::example();
    serial.mart(&["build", "--threads", "1"]).success();
    parallel.mart(&["build", "--threads", "8"]).success();
    for table in [
        "stg_orders",
        "stg_events",
        "daily_revenue",
        "cohort_retention",
        "ab_test_results",
        "channel_summary",
    ] {
        let sql = format!("select * from {table}");
        let (mut a, mut b) = (serial.query_csv(&sql), parallel.query_csv(&sql));
        a.sort();
        b.sort();
        assert!(a.len() > 1, "{table} is empty");
        assert_eq!(a, b, "{table} differs");
    }
    let bad = serial.mart(&["build", "--threads", "0"]);
    bad.code(2).stderr_has("--threads");
}

#[test]
fn a_failure_in_a_parallel_build_skips_only_descendants() {
    let p = TestProject::fixture("basic");
    // `top` plans, then fails while running: a cast of the data.
    p.write(
        "sql/r_branch.sql",
        "select id, grp, cast(name as int) as bumped from base",
    );
    p.write("marts/after.yml", "models:\n  - name: after_top\n");
    p.write("sql/after_top.sql", "select * from top");
    let run = p.mart(&["build", "--threads", "4"]);
    run.code(1);
    assert_eq!(status(&run, "top"), "FAILED");
    assert_eq!(status(&run, "after_top"), "skipped");
    assert!(
        run.line_for("after_top").contains("top failed"),
        "{}",
        run.stdout
    );
    for name in ["base", "l_branch", "r_branch", "visits_per_person"] {
        assert_eq!(status(&run, name), "built", "{}", run.stdout);
    }
    run.stderr_has("model `top` failed")
        .stderr_has("sql/top.sql");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_build_writes_run_results_and_a_manifest() {
    let p = TestProject::fixture("basic");
    p.write(
        "sql/visits_per_person.sql",
        "select cast(name as int) as missing from base",
    );
    p.mart(&["build"]).code(1);
    let results = json(&p.warehouse().join("_mart/run_results.json"));
    let by_name = |name: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {results}"))
            .clone()
    };
    let base = by_name("base");
    assert_eq!(base["status"], "built");
    assert_eq!(base["materialized"], "table");
    assert_eq!(base["rows"], 4);
    assert!(base["bytes"].as_u64().unwrap() > 0);
    assert_eq!(base["fingerprint"].as_str().unwrap().len(), 32);
    assert!(base["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(base["duration_s"].as_f64().unwrap() >= 0.0);
    let failed = by_name("visits_per_person");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["message"].as_str().unwrap().contains("Cannot cast"),
        "{failed}"
    );
    assert_eq!(by_name("l_branch")["status"], "built");

    let manifest = json(&p.warehouse().join("_mart/manifest.json"));
    let model = |name: &str| {
        manifest["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    let top = model("top");
    assert_eq!(top["materialized"], "table");
    assert_eq!(
        top["depends_on"],
        serde_json::json!(["l_branch", "r_branch"])
    );
    assert_eq!(top["tags"], serde_json::json!(["summary"]));
    assert_eq!(top["partition_by"], serde_json::json!(["grp"]));
    assert!(top["path"].as_str().unwrap().ends_with("mart/top"));
    let columns: Vec<String> = top["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        columns,
        ["grp:Utf8", "n:Int64", "doubled:Int64", "bumped:Int64"]
    );
    let base = model("base");
    assert_eq!(base["description"], "Everyone, typed.");
    assert_eq!(base["depends_on"], serde_json::json!(["raw.people"]));
    assert_eq!(model("l_branch")["path"], serde_json::Value::Null);
    let people = &manifest["sources"][0];
    assert_eq!(people["name"], "people");
    assert_eq!(people["relation"], "raw.people");
    assert_eq!(people["columns"][0]["name"], "id");
}

/// Up-to-date models are registered only when a model that runs reads
/// them: through a chain of views, and through a test of another table.
#[test]
fn what_a_rebuilt_model_reads_through_views_and_tests_is_there() {
    let p = TestProject::empty();
    p.write("data/t.csv", "id,v\n1,10\n2,20\n3,30\n")
        .write(
            "marts/project.yml",
            "sources:\n  - {name: t, path: data/t.csv}\nmodels:\n  - name: base\n  - {name: v1, materialized: view}\n  - {name: v2, materialized: ephemeral}\n  - name: ids\n  - name: top\n    columns:\n      - name: id\n        tests:\n          - relationships: {to: ids, field: id}\n",
        )
        .write("sql/base.sql", "select id, v from raw.t\n")
        .write("sql/v1.sql", "select id, v * 2 as v from base\n")
        .write("sql/v2.sql", "select id, v + 1 as v from v1\n")
        .write("sql/ids.sql", "select id from base\n")
        .write("sql/top.sql", "select id, v from v2 where v > 30\n");
    p.mart(&["build"]).success();
    assert_eq!(p.query_csv("select sum(v) from top"), ["sum(top.v)", "102"]);

    p.write("sql/top.sql", "select id, v from v2 where v > 50\n");
    let run = p.mart(&["build"]);
    run.success();
    assert_eq!(status(&run, "top"), "built");
    for name in ["base", "v1", "v2", "ids"] {
        assert_eq!(status(&run, name), "up to date", "{}", run.stdout);
    }
    run.stdout_has("1 test passed");
    assert_eq!(p.query_csv("select sum(v) from top"), ["sum(top.v)", "61"]);
}
