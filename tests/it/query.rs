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
        .stderr_has(".parquet, .csv, .tsv or .json");
}

#[test]
fn output_files_say_what_they_hold_and_agree_with_their_format() {
    let p = built();
    let sql = "select id, name from base order by id";
    // Said on stderr: rows and path; nothing on stdout.
    let run = p.mart(&["query", sql, "-o", "out.tsv"]);
    run.success().stderr_has("wrote 4 rows to out.tsv");
    assert_eq!(run.stdout, "");
    let tsv = fs::read_to_string(p.path().join("out.tsv")).unwrap();
    assert!(tsv.starts_with("id\tname\n1\tann\n"), "{tsv}");
    // CSV for Excel: UTF-8 with a byte-order mark.
    let korean = "select '서울' as city";
    p.mart(&["query", korean, "-o", "k.csv", "--format", "excel"])
        .success();
    let bytes = fs::read(p.path().join("k.csv")).unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    assert_eq!(String::from_utf8_lossy(&bytes[3..]), "city\n서울\n");
    // A name without an extension takes --format.
    p.mart(&["query", sql, "-o", "plain", "--format", "parquet"])
        .success()
        .stderr_has("wrote 4 rows to plain");
    let rows: usize = read_parquet(&p.path().join("plain"))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 4);
    // A --format that disagrees with the extension is refused.
    p.mart(&["query", sql, "-o", "x.csv", "--format", "json"])
        .code(2)
        .stderr_has("--format json disagrees with `x.csv`, a .csv file");
    assert!(!p.path().join("x.csv").exists());
    p.mart(&["query", sql, "-o", "plain2", "--format", "table"])
        .code(2)
        .stderr_has("tables are for the terminal");
    // A query that fails while it runs leaves no file behind, not even a part.
    let failing = "select cast(name as int) as n from base";
    p.mart(&["query", failing, "-o", "bad.csv"]).code(1);
    let left: Vec<_> = fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("bad"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // TSV on the terminal too.
    let run = p.mart(&["query", "--format", "tsv", "select 1 as a, 2 as b"]);
    assert_eq!(run.success().stdout, "a\tb\n1\t2\n");
}

#[test]
fn the_prompts_commands_work_from_a_pipe() {
    let p = built();
    let run = p.mart_with_stdin(
        &["query", "--format", "csv"],
        "\\d\nselect 1 as one;\n\\q\nselect 2;\n",
    );
    run.success()
        .stdout_has("public,base,table")
        .stdout_has("one\n1\n");
    assert!(!run.stdout.contains("\n2\n"), "{}", run.stdout);
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

    // Every function of mart's own is listed, with its kind and return type.
    let listed = p.query_csv(
        "select routine_name, function_type, data_type from information_schema.routines
         where routine_name in ('ab_z_pvalue', 'ab_diff_low', 'ab_diff_high', 'ab_lift_low',
             'ab_lift_high', 'ab_sample_size', 'srm_pvalue', 'welch_t_pvalue', 'welch_diff_low',
             'welch_diff_high', 'cohort_period', 'periods_between', 'arm_stats', 'retention')
         order by 1",
    );
    let expected = [
        "ab_diff_high,SCALAR,Float64",
        "ab_diff_low,SCALAR,Float64",
        "ab_lift_high,SCALAR,Float64",
        "ab_lift_low,SCALAR,Float64",
        "ab_sample_size,SCALAR,Float64",
        "ab_z_pvalue,SCALAR,Float64",
        "arm_stats,AGGREGATE,\"Struct(\"\"users\"\": non-null Int64, \"\"mean\"\": Float64, \"\"variance\"\": Float64)\"",
        "cohort_period,SCALAR,Date",
        "periods_between,SCALAR,Int64",
        "retention,WINDOW,Float64",
        "srm_pvalue,SCALAR,Float64",
        "welch_diff_high,SCALAR,Float64",
        "welch_diff_low,SCALAR,Float64",
        "welch_t_pvalue,SCALAR,Float64",
    ];
    assert_eq!(listed[1..], expected);
}

#[test]
fn the_rest_of_the_ab_functions_answer_as_statsmodels_and_scipy() {
    let p = TestProject::fixture("basic");
    let rows = p.query_csv(
        "select ab_z_pvalue(150, 1000, 120, 1000, 'larger') as larger,
                ab_z_pvalue(150, 1000, 120, 1000, 'less') as less,
                ab_lift_low(150, 1000, 120, 1000, 0.95) as lift_low,
                ab_lift_high(150, 1000, 120, 1000, 0.95) as lift_high,
                ab_sample_size(0.10, 0.01, 0.05, 0.8) as users_per_arm,
                welch_diff_low(1000, 5.2, 4.0, 1000, 5.0, 4.5, 0.95) as welch_low,
                welch_diff_high(1000, 5.2, 4.0, 1000, 5.0, 4.5, 0.95) as welch_high,
                ab_lift_low(0, 1000, 120, 1000, 0.95) as no_conversions",
    );
    let values: Vec<&str> = rows[1].split(',').collect();
    let close =
        |got: &str, want: f64| (got.parse::<f64>().unwrap() - want).abs() / want.abs() < 1e-9;
    // statsmodels proportions_ztest(alternative=larger/smaller), and
    // confint_proportions_2indep(compare=ratio, method=log) less 1;
    // solve_power gives 14744.10; SciPy's t.ppf at Welch's df.
    assert!(close(values[0], 0.02482019343268439), "{rows:?}");
    assert!(close(values[1], 0.9751798065673156), "{rows:?}");
    assert!(close(values[2], -0.00032667224198601463), "{rows:?}");
    assert!(close(values[3], 0.5630105921743935), "{rows:?}");
    assert_eq!(values[4], "14745.0", "{rows:?}");
    assert!(close(values[5], 0.01919033889055713), "{rows:?}");
    assert!(close(values[6], 0.3808096611094429), "{rows:?}");
    assert_eq!(values[7], "", "{rows:?}");

    p.mart(&["query", "select ab_z_pvalue(1, 10, 1, 10, 'bigger')"])
        .code(1)
        .stderr_has("ab_z_pvalue: unknown alternative 'bigger'");
    p.mart(&["query", "select ab_sample_size(0.1, 0.01, 0.05, 0.01)"])
        .code(1)
        .stderr_has("power 0.01 must exceed alpha 0.05");
    p.mart(&[
        "query",
        "select welch_t_pvalue(10, 'NaN'::double, 1, 10, 2, 1)",
    ])
    .code(1)
    .stderr_has("welch_t_pvalue: argument 2 is NaN: the arguments must be finite numbers");
    p.mart(&["query", "select welch_diff_low(10, 1, 1, 10, 2, 1, 0)"])
        .code(1)
        .stderr_has("the confidence level 0 must be between 0 and 1");
}

#[test]
fn arm_stats_takes_one_pass_and_feeds_welch() {
    let p = TestProject::fixture("basic");
    let rows = p.query_csv(
        "with v(arm, x) as (values ('a', 1.0), ('a', 2.0), ('a', 4.0), ('b', 10.0), ('b', null), ('c', 3.0)),
              s as (select arm, arm_stats(x) as s from v group by arm)
         select arm, s['users'], s['mean'], s['variance'] from s order by arm",
    );
    assert_eq!(
        rows[1..],
        [
            "a,3,2.3333333333333335,2.3333333333333335",
            "b,1,10.0,",
            "c,1,3.0,"
        ],
        "{rows:?}"
    );
    // The struct feeds Welch's test, as the example's ab_test_results does.
    let rows = p.query_csv(
        "with v(arm, x) as (values ('a', 1.0), ('a', 2.0), ('a', 4.0), ('b', 3.0), ('b', 5.0), ('b', 9.0)),
              s as (select arm, arm_stats(x) as s from v group by arm)
         select welch_t_pvalue(a.s['users'], a.s['mean'], a.s['variance'], b.s['users'], b.s['mean'], b.s['variance'])
         from s a, s b where a.arm = 'a' and b.arm = 'b'",
    );
    // SciPy: ttest_ind([1, 2, 4], [3, 5, 9], equal_var=False).pvalue
    let got: f64 = rows[1].parse().unwrap();
    assert!((got - 0.19136971845662698).abs() < 1e-12, "{rows:?}");
}

#[test]
fn cohort_helpers_bucket_dates_and_count_whole_periods() {
    let p = TestProject::fixture("basic");
    let rows = p.query_csv(
        "select cohort_period('day', timestamp '2026-03-04 23:59:59') as day,
                cohort_period('week', date '2026-03-04') as iso_week,
                cohort_period('week(sunday)', date '2026-03-04') as sunday_week,
                cohort_period('month', '2026-03-04') as month,
                cohort_period('quarter', timestamp '2026-05-31 12:00:00') as quarter,
                periods_between('month', date '2026-01-31', date '2026-02-28') as jan31_feb28,
                periods_between('month', date '2026-01-31', date '2026-02-27') as jan31_feb27,
                periods_between('month', timestamp '2026-03-30 10:00:00', date '2026-01-31') as backwards,
                periods_between('week', date '2026-03-01', date '2026-03-14') as weeks,
                periods_between('day', date '2026-03-01', cast(null as date)) as null_in",
    );
    assert_eq!(
        rows[1], "2026-03-04,2026-03-02,2026-03-01,2026-03-01,2026-04-01,1,0,-1,1,",
        "{rows:?}"
    );
    p.mart(&[
        "query",
        "select cohort_period('fortnight', date '2026-03-04')",
    ])
    .code(1)
    .stderr_has("cohort_period: unknown unit 'fortnight'")
    .stderr_has("'week(sunday)'");
    p.mart(&[
        "query",
        "select periods_between('month', 3, date '2026-03-04')",
    ])
    .code(2)
    .stderr_has("'periods_between' requires Date, but received Int64");
    // A timestamp with a time zone falls on its date in that zone.
    let rows = p.query_csv(
        "select cohort_period('day', arrow_cast('2026-03-31T23:30:00Z', 'Timestamp(Nanosecond, Some(\"+05:00\"))'))",
    );
    assert_eq!(rows[1], "2026-04-01");

    // Retention against each cohort's period 0, whatever the rows' order.
    let rows = p.query_csv(
        "with a(cohort, period, active) as (values
             ('jan', 2, 25), ('jan', 0, 100), ('jan', 1, 40), ('feb', 1, 3), ('feb', 0, 0), ('mar', 1, 5))
         select cohort, period, retention(active, period) over (partition by cohort) as r
         from a order by cohort, period",
    );
    assert_eq!(
        rows[1..],
        [
            "feb,0,",
            "feb,1,",
            "jan,0,1.0",
            "jan,1,0.4",
            "jan,2,0.25",
            "mar,1,"
        ],
        "{rows:?}"
    );
    p.mart(&[
        "query",
        "with a(c, p, n) as (values ('jan', 0, 1), ('jan', 0, 2)) select retention(n, p) over (partition by c) from a",
    ])
    .code(1)
    .stderr_has("retention: a cohort has more than one row for period 0");
}
