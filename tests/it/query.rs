//! `mart query`: sources of SQL, output formats, files, and read-only.

use std::fs;

use crate::common::{TestProject, read_parquet};

fn built() -> TestProject {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    p
}

#[test]
fn prints_a_table_csv_and_json() {
    let p = built();
    let run = p.mart(&[
        "query",
        "select id, name from base where id <= 2 order by id",
    ]);
    run.success()
        .stdout_has("| id | name |")
        .stdout_has("| 2  | bob  |")
        .stdout_has("2 rows");
    let run = p.mart(&[
        "query",
        "--format",
        "json",
        "select id, name from base where id = 1",
    ]);
    assert_eq!(run.stdout.trim(), r#"[{"id":1,"name":"ann"}]"#);
    let run = p.mart(&[
        "query",
        "--format",
        "csv",
        "select id from base where id > 3",
    ]);
    assert_eq!(run.stdout, "id\n4\n");
}

#[test]
fn reads_sql_from_a_file_and_from_stdin() {
    let p = built();
    p.write(
        "q.sql",
        "-- two statements\nselect 1 as a;\nselect count(*) as n from raw.people;\n",
    );
    let run = p.mart(&["query", "--format", "csv", "-f", "q.sql"]);
    assert_eq!(run.stdout, "a\n1\nn\n4\n");
    let run = p.mart_with_stdin(
        &["query", "--format", "csv"],
        "select max(score) as m from base",
    );
    assert_eq!(run.stdout, "m\n40\n");
}

#[test]
fn writes_results_to_files_by_extension() {
    let p = built();
    p.mart(&[
        "query",
        "select * from base order by id",
        "-o",
        "out.parquet",
    ])
    .success();
    let rows: usize = read_parquet(&p.path().join("out.parquet"))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 4);
    p.mart(&[
        "query",
        "select id, name from base order by id",
        "-o",
        "out.csv",
    ])
    .success();
    assert!(
        fs::read_to_string(p.path().join("out.csv"))
            .unwrap()
            .starts_with("id,name\n1,ann\n")
    );
    p.mart(&[
        "query",
        "select id from base order by id limit 1",
        "-o",
        "out.json",
    ])
    .success();
    assert_eq!(
        fs::read_to_string(p.path().join("out.json"))
            .unwrap()
            .trim(),
        r#"{"id":1}"#
    );
    p.mart(&["query", "select 1", "-o", "out.xlsx"])
        .code(2)
        .stderr_has(".parquet, .csv or .json");
}

#[test]
fn refuses_statements_that_write() {
    let p = built();
    let before = p.snapshot();
    for sql in [
        "create table x as select 1",
        "insert into base values (5, 'eve', 'a', 1)",
        "copy (select 1) to 'warehouse/mart/x.parquet'",
        "create view v as select 1",
        "drop table base",
    ] {
        p.mart(&["query", sql])
            .code(2)
            .stderr_has("read-only")
            .stderr_has("only `mart land` and `mart build` write");
    }
    assert_eq!(p.snapshot(), before);
}

#[test]
fn query_errors_point_at_the_sql() {
    let p = built();
    p.mart(&["query", "select nme from base"])
        .code(2)
        .stderr_has("<query>:1:8")
        .stderr_has("nme");
    p.mart(&["query", "select * frm base"])
        .code(2)
        .stderr_has("SQL syntax error");
    p.mart(&["query", "select * from nope"])
        .code(2)
        .stderr_has("nope");
}

#[test]
fn unknown_tables_get_the_closest_name() {
    let p = built();
    p.mart(&["query", "select * from  visits_per_persn"])
        .code(2)
        .stderr_has("there is no table `visits_per_persn`")
        .stderr_has("<query>:1:16")
        .stderr_has("did you mean `visits_per_person`?");
    p.mart(&["query", "select * from raw.peple"])
        .code(2)
        .stderr_has("did you mean `raw.people`?");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    // `mart query ... | head -1`: the reader goes away after one line.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mart"))
        .args([
            "query",
            "--format",
            "csv",
            "select * from generate_series(1, 200000)",
        ])
        .current_dir(p.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Expressions may nest 1,000 deep (as in DuckDB), in planning and in
/// execution on the worker threads; deeper ones are refused before planning,
/// whose recursion would overflow the stack and abort.
#[test]
fn expressions_nest_up_to_the_limit() {
    let p = built();
    let chain = |n: usize| format!("select x{} as y from (values (1)) t(x)", " + 1".repeat(n));
    p.write("deep.sql", &chain(999));
    p.mart(&["query", "--format", "csv", "-f", "deep.sql"])
        .success()
        .stdout_has("y\n1000\n");
    p.write("deep.sql", &chain(1000));
    p.mart(&["query", "-f", "deep.sql"])
        .code(2)
        .stderr_has("an expression here nests more than 1000 deep")
        .stderr_has("deep.sql:1:8");
    p.write("deep.sql", &chain(200_000));
    p.mart(&["query", "-f", "deep.sql"])
        .code(2)
        .stderr_has("nests more than 1000 deep");
    // UNIONs chain without nesting in the SQL: 1,000 queries, then 1,001.
    let union = |n: usize| {
        format!(
            "select count(*) as n from (select 0 as x{})",
            " union all select 1".repeat(n)
        )
    };
    p.write("union.sql", &union(999));
    p.mart(&["query", "--format", "csv", "-f", "union.sql"])
        .success()
        .stdout_has("n\n1000\n");
    p.write("union.sql", &union(1000));
    p.mart(&["query", "-f", "union.sql"])
        .code(2)
        .stderr_has("a UNION here chains more than 1000 queries")
        .stderr_has("union.sql:1:");
}

#[test]
fn statistics_functions_answer_in_sql_with_null_for_the_undefined() {
    let p = TestProject::fixture("basic");
    let rows = p.query_csv(
        "select ab_z_pvalue(120, 1000, 150, 1000) as z, srm_pvalue(5100, 4900, 0.5) as srm,
                ab_z_pvalue(0, 0, 1, 2) as empty_arm, ab_z_pvalue(cast(null as int), 10, 1, 2) as null_in,
                welch_t_pvalue(1000, 5.2, 4.0, 1000, 5.0, 4.5) as welch,
                ab_diff_low(150, 1000, 120, 1000, 0.95) as low, ab_diff_high(150, 1000, 120, 1000, 0.95) as high",
    );
    // statsmodels: 0.04964038686536878; SciPy: 0.04550026389635857 and
    // (ttest_ind_from_stats) 0.030177536693478297.
    let values: Vec<&str> = rows[1].split(',').collect();
    let close = |got: &str, want: f64| (got.parse::<f64>().unwrap() - want).abs() / want < 1e-12;
    assert!(close(values[0], 0.04964038686536878), "{rows:?}");
    assert!(close(values[1], 0.04550026389635857), "{rows:?}");
    assert_eq!(&values[2..4], ["", ""], "{rows:?}");
    assert!(close(values[4], 0.030177536693478297), "{rows:?}");
    // statsmodels' confint_proportions_2indep(method="newcomb").
    assert!(close(values[5], 1.3782434204051563e-05), "{rows:?}");
    assert!(close(values[6], 0.06000825857012657), "{rows:?}");

    p.mart(&["query", "select ab_z_pvalue(11, 10, 1, 10)"])
        .code(1)
        .stderr_has("ab_z_pvalue: 11 conversions of 10 users")
        .stderr_has("0 <= conversions <= users");
    p.mart(&["query", "select srm_pvalue(10, 10, 1.5)"])
        .code(1)
        .stderr_has("must be between 0 and 1");
    p.mart(&["query", "select ab_diff_low(1, 10, 1, 10, 95)"])
        .code(1)
        .stderr_has("ab_diff_low: the confidence level 95 must be between 0 and 1");

    // Every function of mart's own is listed, with its return type.
    let listed = p.query_csv(
        "select routine_name, data_type from information_schema.routines
         where routine_name in ('ab_z_pvalue', 'ab_diff_low', 'ab_diff_high', 'srm_pvalue', 'welch_t_pvalue')
         order by 1",
    );
    let names = [
        "ab_diff_high",
        "ab_diff_low",
        "ab_z_pvalue",
        "srm_pvalue",
        "welch_t_pvalue",
    ];
    let expected: Vec<String> = names.iter().map(|n| format!("{n},Float64")).collect();
    assert_eq!(listed[1..], expected);
}
