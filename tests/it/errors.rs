//! Bad input: each gets a message naming the file (and line and column
//! where there is one), says what to do, exits non-zero, never panics and
//! leaves the warehouse as it was.

use crate::common::{Run, TestProject};

/// Build the basic fixture, apply `change`, build again: the run must fail
/// with `code` and leave the warehouse byte for byte as it was.
fn fails_cleanly(change: impl Fn(&TestProject), code: i32) -> Run {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let before = p.snapshot();
    change(&p);
    let run = p.mart(&["build"]);
    run.code(code);
    assert_eq!(
        p.snapshot(),
        before,
        "the warehouse changed\n{}",
        run.stderr
    );
    run
}

#[test]
fn yaml_that_does_not_parse() {
    fails_cleanly(
        |p| {
            p.write("marts/bad.yml", "models:\n  - name: a\n   sql: x\n");
        },
        2,
    )
    .stderr_has("invalid YAML")
    .stderr_has("marts/bad.yml:3:");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    fails_cleanly(
        |p| {
            p.write(
                "marts/bad.yml",
                "models:\n  - name: base2\n    materialised: table\n",
            );
        },
        2,
    )
    .stderr_has("unknown field `materialised`")
    .stderr_has("marts/bad.yml:3:5")
    .stderr_has("did you mean `materialized`?");
}

#[test]
fn unknown_materialization_suggests_the_right_one() {
    fails_cleanly(
        |p| {
            p.write(
                "marts/bad.yml",
                "models:\n  - name: base2\n    materialized: tabel\n",
            );
        },
        2,
    )
    .stderr_has("unknown variant `tabel`")
    .stderr_has("did you mean `table`?");
}

#[test]
fn wrong_type() {
    fails_cleanly(
        |p| {
            p.write("marts/bad.yml", "models:\n  - name: base2\n    tags: 5\n");
        },
        2,
    )
    .stderr_has("invalid type")
    .stderr_has("marts/bad.yml:3:");
}

#[test]
fn duplicate_model_names_name_both_places() {
    fails_cleanly(
        |p| {
            p.write(
                "marts/z.yml",
                "models:\n  - name: extra\n    sql: sql/base.sql\n  - name: Base\n",
            );
        },
        2,
    )
    .stderr_has("model `base` is declared twice")
    .stderr_has("marts/z.yml:4:5")
    .stderr_has("marts/project.yml:8:5");
}

#[test]
fn names_that_are_not_identifiers() {
    fails_cleanly(
        |p| {
            p.write("marts/z.yml", "models:\n  - name: ../evil\n");
        },
        2,
    )
    .stderr_has("`../evil` is not a valid identifier")
    .stderr_has("marts/z.yml:2:5");
}

#[test]
fn missing_sql_file() {
    fails_cleanly(
        |p| {
            p.write("marts/z.yml", "models:\n  - name: ghost\n");
        },
        2,
    )
    .stderr_has("`sql/ghost.sql` does not exist")
    .stderr_has("marts/z.yml:2:5");
}

#[test]
fn empty_sql_file() {
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "-- nothing yet\n\n");
        },
        2,
    )
    .stderr_has("sql/top.sql")
    .stderr_has("holds no query");
}

#[test]
fn two_statements() {
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "select 1 as a;\nselect 2 as b;\n");
        },
        2,
    )
    .stderr_has("holds 2 statements")
    .stderr_has("sql/top.sql:2:1");
}

#[test]
fn ddl_and_dml_are_refused() {
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "create table t as select 1");
        },
        2,
    )
    .stderr_has("`CREATE TABLE` statement")
    .stderr_has("sql/top.sql:1:1");
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "\n  insert into base values (1)");
        },
        2,
    )
    .stderr_has("`INSERT INTO` statement")
    .stderr_has("sql/top.sql:2:3");
}

#[test]
fn syntax_error_has_file_line_and_column() {
    fails_cleanly(
        |p| {
            p.write(
                "sql/top.sql",
                "select grp,\n  count(*) as n\nfrom base\ngroup grp\n",
            );
        },
        2,
    )
    .stderr_has("SQL syntax error")
    .stderr_has("sql/top.sql:4:");
}

#[test]
fn unknown_table_suggests_the_closest_name() {
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "select *\nfrom  l_brnch\n");
        },
        2,
    )
    .stderr_has("reads `l_brnch`, which is neither a model nor a source")
    .stderr_has("sql/top.sql:2:7")
    .stderr_has("did you mean `l_branch`?");
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "select * from people");
        },
        2,
    )
    .stderr_has("raw tables are read as `raw.people`");
}

#[test]
fn dependency_cycles_are_named_whole() {
    fails_cleanly(
        |p| {
            p.write("sql/base.sql", "select * from top");
        },
        2,
    )
    .stderr_has("dependency cycle: base -> top -> l_branch -> base");
    fails_cleanly(
        |p| {
            p.write("sql/top.sql", "select * from top");
        },
        2,
    )
    .stderr_has("dependency cycle: top -> top")
    .stderr_has("sql/top.sql:1:15");
}

/// A cycle made by SQL is reported as such, at the SQL that closes it,
/// even when a data test's edge makes another cycle through the same model.
#[test]
fn a_cycle_of_sql_points_at_the_sql_not_at_a_test() {
    let p = TestProject::empty();
    p.write(
        "marts/m.yml",
        "models:
  - name: a
    columns:
      - name: x
        tests: [{relationships: {to: aa, field: x}}]
  - name: aa
  - name: b
",
    );
    p.write("sql/a.sql", "select x from b");
    p.write("sql/b.sql", "select x from a");
    p.write("sql/aa.sql", "select x from a");
    p.mart(&["build"])
        .code(2)
        .stderr_has("dependency cycle: a -> b -> a\n")
        .stderr_has("--> sql/a.sql:1:15");
}

#[test]
fn unknown_column_points_at_the_model() {
    let p = TestProject::fixture("basic");
    p.write("sql/visits_per_person.sql", "select b.name,\n       count(v.pge) as visits\nfrom base b\nleft join raw.visits v on v.person_id = b.id\ngroup by b.name\n");
    let run = p.mart(&["build"]);
    run.code(2)
        .stderr_has("model `visits_per_person`")
        .stderr_has("sql/visits_per_person.sql:2:");
    assert!(!p.warehouse().join("mart/visits_per_person").exists());
}

#[test]
fn partition_column_not_in_output() {
    let p = TestProject::fixture("basic");
    p.write("sql/top.sql", "select 1 as n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("partition_by column `grp` is not in its output")
        .stderr_has("marts/project.yml:17:5");
}

#[test]
fn source_path_matching_no_file() {
    fails_cleanly(
        |p| {
            p.write(
                "marts/z.yml",
                "sources:\n  - name: ghosts\n    path: data/ghosts/*.csv\n",
            );
        },
        2,
    )
    .stderr_has("`data/ghosts/*.csv` matches no file")
    .stderr_has("marts/z.yml:2:5");
}

#[test]
fn ragged_csv_names_file_and_line() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let people = p.snapshot_of("raw/people");
    p.write(
        "data/people.csv",
        "id,name,grp,score\n1,ann,a,10\n2,bob,b,20,extra\n3,cy,a,30\n",
    );
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has("cannot land source `people`")
        .stderr_has("data/people.csv:3");
    assert!(run.line_for("base").starts_with("skipped"));
    assert_eq!(
        p.snapshot_of("raw/people"),
        people,
        "the landed table was kept"
    );
}

#[test]
fn bad_json_line_names_file_and_line() {
    let p = TestProject::fixture("basic");
    p.write("data/visits.jsonl", "{\"person_id\": 1, \"page\": \"/\"}\n{\"person_id\": 2, \"page\": \n{\"person_id\": 3, \"page\": \"/\"}\n");
    p.mart(&["land"])
        .code(1)
        .stderr_has("cannot land source `visits`")
        .stderr_has("data/visits.jsonl:2:")
        .stderr_has("line 2 is not a JSON object");
}

#[test]
fn corrupt_parquet_names_the_file() {
    let p = TestProject::fixture("basic");
    p.write("data/broken.parquet", "PAR1 this is not really parquet");
    p.write(
        "marts/z.yml",
        "sources:\n  - name: broken\n    path: data/broken.parquet\n",
    );
    p.mart(&["land", "broken"])
        .code(1)
        .stderr_has("cannot land source `broken`")
        .stderr_has("data/broken.parquet");
}

#[test]
fn not_a_project() {
    let p = TestProject::empty();
    p.mart(&["build"])
        .code(2)
        .stderr_has("there is no `marts/` folder");
}

#[test]
fn bad_flags_exit_2() {
    let p = TestProject::fixture("basic");
    p.mart(&["build", "--bogus"]).code(2);
    p.mart(&["query", "--format", "xml", "select 1"]).code(2);
}

#[test]
fn tabs_in_yaml() {
    fails_cleanly(
        |p| {
            p.write("marts/bad.yml", "models:\n  - name: base2\n\tsql: x\n");
        },
        2,
    )
    .stderr_has("marts/bad.yml:3:1")
    .stderr_has("replace the tabs");
}
