//! `mart land`: formats, skipping unchanged inputs, globs and folders.

use std::fs;

use crate::common::{TestProject, parquet_files};

#[test]
fn lands_csv_and_json_then_skips_unchanged_inputs() {
    let p = TestProject::fixture("basic");
    let run = p.mart(&["land"]);
    run.success();
    assert!(run.line_for("raw.people").starts_with("landed"));
    assert!(run.line_for("raw.people").contains("4 rows"));
    assert!(run.line_for("raw.visits").contains("3 rows"));
    assert!(!p.warehouse().join("mart").exists(), "land builds no model");

    let run = p.mart(&["land"]);
    run.success();
    assert!(
        run.line_for("raw.people").starts_with("up to date"),
        "{}",
        run.stdout
    );

    // A changed input lands again; the other source stays as it is.
    p.write(
        "data/people.csv",
        "id,name,grp,score\n1,ann,a,10\n2,bob,b,20\n",
    );
    let run = p.mart(&["land"]);
    assert!(run.line_for("raw.people").starts_with("landed"));
    assert!(run.line_for("raw.people").contains("2 rows"));
    assert!(run.line_for("raw.visits").starts_with("up to date"));
}

#[test]
fn lands_only_the_named_sources() {
    let p = TestProject::fixture("basic");
    p.mart(&["land", "visits"]).success();
    assert!(p.warehouse().join("raw/visits").exists());
    assert!(!p.warehouse().join("raw/people").exists());
    p.mart(&["land", "vists"])
        .code(2)
        .stderr_has("no source named `vists`")
        .stderr_has("did you mean `visits`?");
}

#[test]
fn lands_parquet_globs_and_folders() {
    let p = TestProject::fixture("basic");
    p.mart(&["land", "people"]).success();
    // Landed Parquet becomes a Parquet source of its own.
    let landed = parquet_files(&p.warehouse().join("raw/people"));
    fs::create_dir_all(p.path().join("data/pq")).unwrap();
    for (i, f) in landed.iter().enumerate() {
        fs::copy(f, p.path().join(format!("data/pq/part{i}.parquet"))).unwrap();
    }
    p.write("data/parts/a.csv", "x,y\n1,one\n2,two\n");
    p.write("data/parts/b.csv", "x,y\n3,three\n");
    p.write("data/parts/nested/c.csv", "x,y\n4,four\n");
    p.write(
        "marts/more.yml",
        "sources:\n  - name: people_pq\n    path: data/pq\n    format: parquet\n  - name: parts\n    path: data/parts\n  - name: some_parts\n    path: data/parts/[ab].csv\n",
    );
    p.mart(&["land"]).success();
    assert_eq!(
        p.query_csv("select count(*) as n, sum(score) as s from raw.people_pq"),
        ["n,s", "4,100"]
    );
    assert_eq!(
        p.query_csv("select count(*) as n, sum(x) as s from raw.parts"),
        ["n,s", "4,10"]
    );
    assert_eq!(
        p.query_csv("select count(*) as n from raw.some_parts"),
        ["n", "3"]
    );
}

#[test]
fn csv_options_and_type_inference_over_many_rows() {
    let p = TestProject::empty();
    // The first 100,000+ rows look like integers; the last one is not.
    let mut csv = String::from("n;label\n");
    for i in 0..120_000 {
        csv.push_str(&format!("{i};x\n"));
    }
    csv.push_str("1.5;y\n");
    p.write("data/nums.txt", &csv);
    p.write("data/nohead.csv", "1,a\n2,b\n");
    p.write(
        "marts/s.yml",
        "sources:\n  - name: nums\n    path: data/nums.txt\n    format: csv\n    delimiter: ';'\n  - name: nohead\n    path: data/nohead.csv\n    has_header: false\n",
    );
    p.mart(&["land"]).success();
    assert_eq!(
        p.query_csv("select max(n) as m from raw.nums"),
        ["m", "119999.0"]
    );
    assert_eq!(
        p.query_csv("select count(*) as c from raw.nohead"),
        ["c", "2"]
    );
}
