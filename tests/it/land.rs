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

    // A Parquet file added: the files landed before are linked, not copied
    // again, and the user's files are copies, never links.
    use std::os::unix::fs::MetadataExt;
    let inode = |path: &std::path::Path| fs::metadata(path).unwrap().ino();
    let before = parquet_files(&p.warehouse().join("raw/people_pq"));
    assert_ne!(
        inode(&before[0]),
        inode(&p.path().join("data/pq/part0.parquet"))
    );
    fs::copy(&landed[0], p.path().join("data/pq/zz.parquet")).unwrap();
    let run = p.mart(&["land", "people_pq"]);
    assert!(
        run.line_for("raw.people_pq").contains("8 rows"),
        "{}",
        run.stdout
    );
    let after = parquet_files(&p.warehouse().join("raw/people_pq"));
    assert_eq!(after.len(), 2);
    assert_eq!(inode(&before[0]), inode(&after[0]));
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

fn append(p: &TestProject, rel: &str, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(p.path().join(rel))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn appended_rows_and_new_files_are_landed_alone() {
    let p = TestProject::fixture("basic");
    p.write("data/more/a.csv", "id,name,grp,score\n10,jo,a,1\n");
    p.write(
        "marts/more.yml",
        "sources:\n  - name: more\n    path: data/more\n",
    );
    p.mart(&["land"]).success();

    append(&p, "data/people.csv", "5,eve,b,50\n");
    append(
        &p,
        "data/visits.jsonl",
        "{\"person_id\": 5, \"page\": \"/x\", \"at\": \"2026-01-04T10:00:00\"}\n",
    );
    p.write(
        "data/more/b.csv",
        "id,name,grp,score\n11,kim,b,2\n12,lu,c,3\n",
    );
    let run = p.mart(&["land"]);
    run.success();
    assert!(
        run.line_for("raw.people").contains("5 rows (1 appended)"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("raw.visits").contains("4 rows (1 appended)"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("raw.more").contains("3 rows (2 appended)"),
        "{}",
        run.stdout
    );
    // The landed file is carried over and the new rows written beside it.
    assert_eq!(parquet_files(&p.warehouse().join("raw/people")).len(), 2);
    assert_eq!(
        p.query_csv("select id, name, score from raw.people order by id"),
        [
            "id,name,score",
            "1,ann,10",
            "2,bob,20",
            "3,cy,30",
            "4,dee,40",
            "5,eve,50"
        ]
    );
    assert_eq!(
        p.query_csv("select count(*) as n from raw.visits where person_id = 5"),
        ["n", "1"]
    );
    assert_eq!(
        p.query_csv("select sum(score) as s from raw.more"),
        ["s", "6"]
    );
    // Counts on the line have thousands separators.
    let many: String = (6..1306).map(|i| format!("{i},p{i},a,1\n")).collect();
    append(&p, "data/people.csv", &many);
    let run = p.mart(&["land", "people"]);
    let line = run.success().line_for("raw.people");
    assert!(line.contains("1,305 rows (1,300 appended)"), "{line}");
}

#[test]
fn anything_but_an_append_lands_the_whole_source_again() {
    let p = TestProject::fixture("basic");
    p.mart(&["land"]).success();

    // New rows that break the landed types: inferred again from every row.
    append(&p, "data/people.csv", "5,eve,b,50.5\n");
    let run = p.mart(&["land", "people"]);
    assert!(
        run.line_for("raw.people").contains("5 rows") && !run.stdout.contains("appended"),
        "{}",
        run.stdout
    );
    assert_eq!(
        p.query_csv("select max(score) as m from raw.people"),
        ["m", "50.5"]
    );

    // A row put first: not an append.
    let text = fs::read_to_string(p.path().join("data/people.csv")).unwrap();
    p.write(
        "data/people.csv",
        &text.replacen("id,name,grp,score\n", "id,name,grp,score\n0,zed,a,1\n", 1),
    );
    let run = p.mart(&["land", "people"]);
    assert!(
        run.line_for("raw.people").contains("6 rows") && !run.stdout.contains("appended"),
        "{}",
        run.stdout
    );
    assert_eq!(parquet_files(&p.warehouse().join("raw/people")).len(), 1);

    // A new key in appended JSON: the new column is landed, not dropped.
    append(
        &p,
        "data/visits.jsonl",
        "{\"person_id\": 2, \"page\": \"/y\", \"at\": \"2026-01-05T10:00:00\", \"referrer\": \"ad\"}\n",
    );
    let run = p.mart(&["land", "visits"]);
    assert!(!run.stdout.contains("appended"), "{}", run.stdout);
    assert_eq!(
        p.query_csv("select referrer from raw.visits where referrer is not null"),
        ["referrer", "ad"]
    );

    // A file cut short: not an append either.
    p.write(
        "data/visits.jsonl",
        "{\"person_id\": 1, \"page\": \"/home\", \"at\": \"2026-01-01T10:00:00\"}\n",
    );
    let run = p.mart(&["land", "visits"]);
    assert!(
        run.line_for("raw.visits").contains("1 row") && !run.stdout.contains("appended"),
        "{}",
        run.stdout
    );
}

/// A table's record holds its schema, whose JSON nests three levels for each
/// level of struct: a source of 60 nested objects passed serde_json's default
/// limit of 128, and its record could not be read back.
#[test]
fn deeply_nested_json_lands_and_reads_back() {
    let p = TestProject::fixture("basic");
    let deep = format!("{}1{}", r#"{"a":"#.repeat(60), "}".repeat(60));
    p.write(
        "data/visits.jsonl",
        &format!("{{\"person_id\": 1, \"page\": \"/\", \"deep\": {deep}}}\n"),
    );
    p.mart(&["build"]).success();
    p.mart(&["build"]).success().stdout_has("up to date");
    let a = ["a"; 60].join("']['");
    assert_eq!(
        p.query_csv(&format!("select v.deep['{a}'] as leaf from raw.visits v")),
        ["leaf", "1"]
    );
}

#[test]
fn times_land_as_the_data_meant_them() {
    let p = TestProject::empty();
    p.write(
        "marts/sources.yml",
        "sources:
  - name: orders
    path: data/orders.csv
  - name: events
    path: data/events.jsonl
  - name: local
    path: data/local.csv
    columns:
      - name: ordered_at
        type: timestamp
        timezone: Asia/Seoul
      - name: amount
        type: decimal(12, 2)
  - name: parts
    path: data/parts
",
    );
    // An offset: instants in UTC, whatever the zone written.
    p.write(
        "data/orders.csv",
        "id,ordered_at\n1,2026-10-01T07:27:33+09:00\n2,2026-09-30T22:27:33Z\n",
    );
    // JSON times are inferred as CSV ones are; dates too.
    p.write(
        "data/events.jsonl",
        "{\"id\": 1, \"ts\": \"2026-10-01T07:27:33.250+09:00\", \"day\": \"2026-10-01\", \"note\": \"x\"}\n\
         {\"id\": 2, \"ts\": \"2026-10-01T00:00:00Z\", \"day\": \"2026-10-02\", \"note\": \"2026\"}\n",
    );
    // Naive times of a declared zone.
    p.write(
        "data/local.csv",
        "id,ordered_at,amount\n1,2026-10-01 07:27:33,1.5\n",
    );
    // The same columns in another order: combined by name.
    p.write("data/parts/a.csv", "id,name\n1,a\n");
    p.write("data/parts/b.csv", "name,id\nb,2\n");
    p.mart(&["land"]).success();

    let types = p.query_csv(
        "select arrow_typeof(o.ordered_at) as o, arrow_typeof(e.ts) as e, arrow_typeof(e.day) as d, \
         arrow_typeof(e.note) as n, arrow_typeof(l.ordered_at) as l, arrow_typeof(l.amount) as a \
         from raw.orders o, raw.events e, raw.local l limit 1",
    );
    assert_eq!(
        types[1],
        "\"Timestamp(s, \"\"UTC\"\")\",\"Timestamp(ms, \"\"UTC\"\")\",Date32,Utf8,\"Timestamp(µs, \"\"UTC\"\")\",\"Decimal128(12, 2)\"",
        "{types:?}"
    );
    // Both orders are the same instant; in Seoul it is the time written.
    assert_eq!(
        p.query_csv(
            "select count(distinct ordered_at) as n, \
             cast(min(ordered_at) AT TIME ZONE 'Asia/Seoul' as varchar) as seoul from raw.orders"
        ),
        ["n,seoul", "1,2026-10-01T07:27:33+09:00"]
    );
    assert_eq!(
        p.query_csv("select cast(ordered_at as varchar) as t from raw.local"),
        ["t", "2026-09-30T22:27:33Z"]
    );
    assert_eq!(
        p.query_csv("select id, name from raw.parts order by id"),
        ["id,name", "1,a", "2,b"]
    );

    // A declared column the files lack, or a type that is not one: errors.
    p.write(
        "marts/sources.yml",
        "sources:\n  - name: local\n    path: data/local.csv\n    columns:\n      - name: orderd_at\n        type: timestamp\n",
    );
    p.mart(&["land"])
        .code(2)
        .stderr_has("column `orderd_at` has a declared type, but the files have no such column")
        .stderr_has("did you mean `ordered_at`?");
    p.write(
        "marts/sources.yml",
        "sources:\n  - name: local\n    path: data/local.csv\n    columns:\n      - name: ordered_at\n        type: datetime\n",
    );
    p.mart(&["land"])
        .code(2)
        .stderr_has("`type: datetime` is not a type a source can declare")
        .stderr_has("marts/sources.yml:5:");
}

/// A wide file is read in batches of fewer rows (about half a million
/// values each); every row still lands, in order within the file.
#[test]
fn a_wide_csv_lands_whole_in_smaller_batches() {
    let p = TestProject::empty();
    let columns = 300;
    let header: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
    let mut text = header.join(",") + "\n";
    for r in 0..5000 {
        let row: Vec<String> = (0..columns)
            .map(|c| (r * columns + c).to_string())
            .collect();
        text.push_str(&(row.join(",") + "\n"));
    }
    p.write("data/wide.csv", &text).write(
        "marts/p.yml",
        "sources:\n  - {name: wide, path: data/wide.csv}\n",
    );
    p.mart(&["land"]).success().stdout_has("5,000 rows");
    assert_eq!(
        p.query_csv("select count(*) as n, sum(c299) as s, max(c0) as m from raw.wide"),
        ["n,s,m", "5000,3750745000,1499700"]
    );
}
