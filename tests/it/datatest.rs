//! Data tests: each kind passes and fails where it should, a failing test
//! keeps the previous version published (write-audit-publish), and bad
//! test declarations are refused before anything runs.

use std::fs;

use crate::common::{Run, TestProject};

/// The fixture, built once with every test passing.
fn built() -> TestProject {
    let p = TestProject::fixture("tested");
    p.mart(&["build"]).success();
    p
}

fn append(p: &TestProject, file: &str, lines: &str) {
    let path = p.path().join(file);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(lines);
    fs::write(path, text).unwrap();
}

/// Everything of the published version of `model`: the link, and its files.
fn published(p: &TestProject, model: &str) -> Vec<(String, Vec<u8>)> {
    let link = p.warehouse().join("mart").join(model);
    let target = fs::read_link(&link).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&link)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files.insert(0, (target.display().to_string(), Vec::new()));
    files
}

#[test]
fn every_test_kind_passes_on_good_data() {
    let p = built();
    let run = p.mart(&["test"]);
    run.success();
    for line in [
        "PASS  raw.customers: not_null(id)",
        "PASS  dim_customers: not_null(id)",
        "PASS  dim_customers: unique(id)",
        "PASS  dim_customers: accepted_values(tier)",
        "PASS  fct_payments: relationships(customer_id -> dim_customers.id)",
        "PASS  fct_payments: expression(amount >= 0)",
        "PASS  fct_payments: expression(amount < 1000)",
        "PASS  fct_payments: unique_combination(customer_id, paid_on)",
        "PASS  fct_payments: row_count(1..5)",
        "PASS  fct_payments: sql(no_future_payments)",
        "PASS  revenue_by_tier: expression(revenue > 0)",
    ] {
        run.stdout_has(line);
    }
    run.stdout_has("11 passed, 0 warned, 0 failed");

    // Selection, and machine-readable results.
    let run = p.mart(&["test", "-s", "dim_customers", "--format", "json"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let tests = json.as_array().unwrap();
    assert_eq!(tests.len(), 3, "{json}");
    assert!(
        tests
            .iter()
            .all(|t| t["table"] == "dim_customers" && t["status"] == "pass")
    );

    // The build recorded the tests it ran.
    let results: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(p.warehouse().join("_mart/run_results.json")).unwrap(),
    )
    .unwrap();
    let fct = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fct_payments")
        .unwrap();
    assert_eq!(fct["tests"].as_array().unwrap().len(), 6, "{fct}");
    assert_eq!(fct["tests"][0]["status"], "pass");
}

/// Break the data one way; the build must refuse to publish the model,
/// show the failing test and rows, skip the readers and keep the old table.
#[track_caller]
fn refused(file: &str, lines: &str, model: &str, test: &str, failing: &str) -> (TestProject, Run) {
    let p = built();
    let before = published(&p, model);
    append(&p, file, lines);
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has(&format!("model `{model}` failed 1 of"))
        .stderr_has("not published")
        .stderr_has(&format!("FAIL  {model}: {test}  ({failing}"));
    assert!(run.line_for(model).starts_with("FAILED"), "{}", run.stdout);
    assert_eq!(published(&p, model), before, "{model} was replaced");
    assert!(
        fs::read_dir(p.warehouse().join("_mart/tmp"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "the refused version was left behind"
    );
    // Readers keep reading the previous version, which still passes.
    p.mart(&["test", "-s", model]).success();
    (p, run)
}

#[test]
fn not_null_fails_on_a_null() {
    let (_, run) = refused(
        "seeds/customers.csv",
        ",Dee,gold\n",
        "dim_customers",
        "not_null(id)",
        "1 failing row",
    );
    // The readers of the refused model are skipped.
    assert!(
        run.line_for("revenue_by_tier").starts_with("skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("tier_report").starts_with("skipped"),
        "{}",
        run.stdout
    );
    // The error points at the test in the YAML.
    run.stderr_has("--> marts/models.yml:16:17");
}

#[test]
fn unique_fails_on_a_duplicate_and_shows_it() {
    let (_, run) = refused(
        "seeds/customers.csv",
        "3,Eve,silver\n",
        "dim_customers",
        "unique(id)",
        "1 failing row",
    );
    run.stderr_has("| 3  | 2          |");
}

#[test]
fn accepted_values_fails_on_another_value() {
    let (_, run) = refused(
        "seeds/customers.csv",
        "4,Fay,bronze\n5,Gus,bronze\n",
        "dim_customers",
        "accepted_values(tier)",
        "2 failing rows",
    );
    run.stderr_has("bronze");
}

#[test]
fn relationships_fails_on_an_orphan() {
    let (_, run) = refused(
        "seeds/payments.csv",
        "13,99,5.00,2026-01-03\n",
        "fct_payments",
        "relationships(customer_id -> dim_customers.id)",
        "1 failing row",
    );
    run.stderr_has("| 13 | 99");
}

#[test]
fn expression_fails_on_a_row_that_breaks_it() {
    refused(
        "seeds/payments.csv",
        "13,1,-5.00,2026-01-03\n",
        "fct_payments",
        "expression(amount >= 0)",
        "1 failing row",
    );
}

#[test]
fn unique_combination_fails_on_a_repeated_pair() {
    refused(
        "seeds/payments.csv",
        "13,1,7.00,2026-01-01\n",
        "fct_payments",
        "unique_combination(customer_id, paid_on)",
        "1 failing row",
    );
}

#[test]
fn row_count_fails_out_of_range() {
    refused(
        "seeds/payments.csv",
        "13,1,1.00,2026-02-01\n14,1,1.00,2026-02-02\n15,1,1.00,2026-02-03\n",
        "fct_payments",
        "row_count(1..5)",
        "row count out of range",
    );
}

#[test]
fn sql_test_fails_on_the_rows_it_returns() {
    let (_, run) = refused(
        "seeds/payments.csv",
        "13,1,7.00,2031-01-01\n",
        "fct_payments",
        "sql(no_future_payments)",
        "1 failing row",
    );
    run.stderr_has("2031-01-01");
}

#[test]
fn a_failing_view_test_skips_its_readers() {
    let p = built();
    // One payment of nothing: fct_payments passes its tests, the view's
    // revenue is zero and fails `revenue > 0`.
    fs::write(
        p.path().join("seeds/payments.csv"),
        "id,customer_id,amount,paid_on\n10,1,0.00,2026-01-01\n",
    )
    .unwrap();
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has("model `revenue_by_tier` failed 1 of 1")
        .stderr_has("FAIL  revenue_by_tier: expression(revenue > 0)");
    assert!(
        run.line_for("tier_report").starts_with("skipped"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_warning_test_publishes_and_reports() {
    let p = built();
    append(&p, "seeds/payments.csv", "13,1,5000.00,2026-01-03\n");
    let run = p.mart(&["build"]);
    run.success();
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("WARN  fct_payments: expression(amount < 1000)  (1 failing row"),
        "{all}"
    );
    assert!(all.contains("5000.00"), "{all}");
    assert!(!all.contains("warning: WARN"), "{all}");
    let rows = p.query_csv("select count(*) as n from fct_payments");
    assert_eq!(rows, ["n", "4"]);
    // `mart test` warns but does not fail.
    let run = p.mart(&["test"]);
    run.success()
        .stdout_has("WARN  fct_payments")
        .stdout_has("1 warned, 0 failed");
}

#[test]
fn no_test_publishes_and_mart_test_then_fails() {
    let p = built();
    append(&p, "seeds/payments.csv", "13,99,5.00,2026-01-03\n");
    p.mart(&["build", "--no-test"]).success();
    assert_eq!(
        p.query_csv("select count(*) as n from fct_payments"),
        ["n", "4"]
    );
    let run = p.mart(&["test", "-s", "fct_payments"]);
    run.code(1)
        .stdout_has(
            "FAIL  fct_payments: relationships(customer_id -> dim_customers.id)  (1 failing row",
        )
        .stdout_has("| 13 | 99")
        .stdout_has("5 passed, 0 warned, 1 failed");
}

#[test]
fn a_first_build_that_fails_its_tests_publishes_nothing() {
    let p = TestProject::fixture("tested");
    append(&p, "seeds/customers.csv", "3,Eve,silver\n");
    let run = p.mart(&["build"]);
    run.code(1).stderr_has("FAIL  dim_customers: unique(id)");
    assert!(!p.warehouse().join("mart/dim_customers").exists());
    // Its tests cannot run on a table that was never published.
    p.mart(&["test", "-s", "dim_customers"])
        .code(1)
        .stdout_has("`dim_customers` is not built: run `mart build` first");
}

#[test]
fn an_incremental_model_keeps_its_version_when_an_append_fails() {
    let p = built();
    let yaml = p.path().join("marts/models.yml");
    let text = fs::read_to_string(&yaml).unwrap().replace(
        "  - name: fct_payments\n",
        "  - name: fct_payments\n    materialized: incremental\n    incremental: {strategy: time, column: paid_on}\n",
    );
    fs::write(&yaml, text).unwrap();
    p.mart(&["build"]).success();
    let before = published(&p, "fct_payments");
    append(&p, "seeds/payments.csv", "13,1,-1.00,2026-01-05\n");
    p.mart(&["build"])
        .code(1)
        .stderr_has("FAIL  fct_payments: expression(amount >= 0)");
    assert_eq!(published(&p, "fct_payments"), before);
    assert_eq!(
        p.query_csv("select count(*) as n from fct_payments"),
        ["n", "3"]
    );
}

/// A test naming a column the model lacks is found when the build plans,
/// before any model is written.
#[test]
fn a_test_that_cannot_run_stops_the_build_before_anything_is_written() {
    let p = built();
    let yaml = p.path().join("marts/models.yml");
    let text = fs::read_to_string(&yaml).unwrap().replace(
        "unique_combination: [customer_id, paid_on]",
        "unique_combination: [customer_id, paid_at]",
    );
    fs::write(&yaml, text).unwrap();
    let before = p.snapshot();
    let run = p.mart(&["build", "--full-refresh"]);
    run.code(2)
        .stderr_has("test `unique_combination(customer_id, paid_at)` of `fct_payments`")
        .stderr_has("paid_at")
        .stderr_has("--> marts/models.yml:");
    assert_eq!(before, p.snapshot());
}

#[test]
fn bad_test_declarations_are_refused_before_running() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "tests: [not_null, unique]",
            "tests: [not_nul, unique]",
            "did you mean `not_null`?",
        ),
        (
            "- accepted_values: [gold, silver]",
            "- accepted_values: gold",
            "`accepted_values` needs an argument",
        ),
        (
            "{to: dim_customers, field: id}",
            "{to: dim_customer, field: id}",
            "reads `dim_customer`, which is neither a model nor a source",
        ),
        (
            "expression: \"amount >= 0\"",
            "expression: \"amount >= >= 0\"",
            "expression: SQL syntax error",
        ),
        (
            "row_count: {min: 1, max: 5}",
            "row_count: {min: 9, max: 5}",
            "row_count: min 9 is above max 5",
        ),
        (
            "sql: sql/tests/no_future_payments.sql",
            "sql: sql/tests/missing.sql",
            "cannot read the SQL test `sql/tests/missing.sql`",
        ),
        (
            "- unique_combination: [customer_id, paid_on]",
            "- not_null",
            "`not_null` is declared under a column's `tests:`",
        ),
        (
            "          - expression: \"amount < 1000\"\n            severity: warn",
            "          - expression: \"amount < 1000\"\n            severity: fatal",
            "severity `fatal` is not `error` or `warn`",
        ),
    ];
    for (from, to, message) in cases {
        let p = TestProject::fixture("tested");
        let yaml = p.path().join("marts/models.yml");
        let text = fs::read_to_string(&yaml).unwrap();
        assert!(text.contains(from), "{from}");
        fs::write(&yaml, text.replacen(from, to, 1)).unwrap();
        let before = p.snapshot();
        for command in [&["build"][..], &["test"][..]] {
            let run = p.mart(command);
            run.code(2)
                .stderr_has(message)
                .stderr_has("--> marts/models.yml:");
        }
        assert_eq!(p.snapshot(), before, "{to}: the warehouse changed");
    }
}

#[test]
fn a_test_reading_a_model_built_from_its_own_is_a_cycle() {
    let p = TestProject::fixture("tested");
    let yaml = p.path().join("marts/models.yml");
    let text = fs::read_to_string(&yaml).unwrap().replace(
        "      - name: tier\n",
        "      - name: tier\n        tests: [{relationships: {to: revenue_by_tier, field: tier}}]\n      - name: name\n",
    );
    fs::write(&yaml, text).unwrap();
    p.mart(&["build"])
        .code(2)
        .stderr_has("dependency cycle")
        .stderr_has("a test of `dim_customers` reads `revenue_by_tier`");
}

#[test]
fn tests_wait_for_the_tables_they_read() {
    // fct_payments's relationships test reads dim_customers, which it does
    // not read itself: with many threads it must still be tested after it.
    let p = TestProject::fixture("tested");
    let run = p.mart(&["build", "--threads", "8"]);
    run.success();
    assert!(run.position("dim_customers") < run.position("fct_payments"));
}
