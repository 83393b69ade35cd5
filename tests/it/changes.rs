//! Correct after every change: the edits users make between builds
//! (upstream SQL, corrected rows in old files, tests added, views that fail
//! their tests, models removed) never leave stale, untested or unpublished
//! data in front of readers. Each test is one case of issue 11.

use std::fs;

use crate::common::TestProject;

const YAML: &str = "\
sources:
  - name: users
    path: data/users.csv
  - name: orders
    path: data/orders
models:
  - name: stg_users
    materialized: view
    columns:
      - name: channel
        tests: [not_null, {accepted_values: [naver, tiktok, search]}]
  - name: stg_orders
    columns:
      - name: status
        tests: [{accepted_values: [paid, refunded]}]
  - name: daily_revenue
    materialized: incremental
    incremental: {strategy: time, column: order_date, lookback: 1}
  - name: refund_rate
";

/// A shop of 6 users and 10 days of orders, one CSV file a day.
fn shop() -> TestProject {
    let p = TestProject::empty();
    p.write("marts/models.yml", YAML);
    p.write(
        "data/users.csv",
        "user_id,channel\n1,Naver\n2,TikTok\n3,naver\n4,Search\n5,tiktok\n6,NAVER\n",
    );
    for day in 1..=10 {
        let mut csv = String::from("order_id,user_id,order_date,amount,status\n");
        for i in 0..6 {
            let id = day * 10 + i;
            let status = if id % 7 == 0 { "refunded" } else { "paid" };
            csv.push_str(&format!(
                "{id},{},2026-10-{day:02},{}.50,{status}\n",
                i + 1,
                10 + id % 13
            ));
        }
        p.write(&format!("data/orders/2026-10-{day:02}.csv"), &csv);
    }
    p.write(
        "sql/stg_users.sql",
        "select user_id, lower(channel) as channel from raw.users",
    );
    p.write(
        "sql/stg_orders.sql",
        "select order_id, user_id, cast(order_date as date) as order_date, amount, status from raw.orders",
    );
    p.write(
        "sql/daily_revenue.sql",
        "select o.order_date, u.channel,
                sum(o.amount) filter (where o.status = 'paid') as revenue,
                count(*) as orders
         from stg_orders o join stg_users u on o.user_id = u.user_id
         group by o.order_date, u.channel",
    );
    p.write(
        "sql/refund_rate.sql",
        "select order_date, avg(case when status = 'refunded' then 1.0 else 0.0 end) as rate
         from stg_orders group by order_date",
    );
    p
}

/// `table` as built now equals a full rebuild of the project into a new warehouse.
#[track_caller]
fn assert_as_full_rebuild(p: &TestProject, table: &str) {
    let full = format!("full-{}", fs::read_dir(p.path()).unwrap().count());
    p.mart(&["--warehouse", &full, "build", "--full-refresh"])
        .success();
    assert_eq!(
        p.sorted_rows("warehouse", table),
        p.sorted_rows(&full, table),
        "{table}"
    );
}

#[test]
fn an_upstream_sql_edit_rebuilds_an_incremental_model_whole() {
    let p = shop();
    p.mart(&["build"]).success();
    p.write(
        "sql/stg_users.sql",
        "select user_id, case when lower(channel) = 'naver' then 'search' else lower(channel) end as channel from raw.users",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("daily_revenue")
            .contains("incremental \u{2192} full: stg_users's SQL or settings changed"),
        "{}",
        run.stdout
    );
    let channels = p.query_csv("select distinct channel from daily_revenue order by channel");
    assert_eq!(channels, ["channel", "search", "tiktok"]);
    assert_as_full_rebuild(&p, "daily_revenue");
}

#[test]
fn a_corrected_row_in_an_old_file_rebuilds_an_incremental_model_whole() {
    let p = shop();
    p.mart(&["build"]).success();
    let path = p.path().join("data/orders/2026-10-03.csv");
    let old = fs::read_to_string(&path).unwrap();
    let new = old.replacen(",paid", ",refunded", 1);
    assert_ne!(old, new);
    fs::write(&path, new).unwrap();
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("daily_revenue").contains(
            "incremental \u{2192} full: raw.orders was landed whole again, not only appended to"
        ),
        "{}",
        run.stdout
    );
    assert_as_full_rebuild(&p, "daily_revenue");

    // New days' files are appends: the model stays incremental (the second
    // time, the file of older rows the first one set apart is kept whole).
    for day in [11, 12] {
        p.write(
            &format!("data/orders/2026-10-{day}.csv"),
            &format!(
                "order_id,user_id,order_date,amount,status\n{day}00,1,2026-10-{day},5.00,paid\n"
            ),
        );
        let run = p.mart(&["build"]);
        run.success();
        let line = run.line_for("daily_revenue");
        assert!(!line.contains("full"), "{line}");
        if day == 12 {
            assert!(line.contains("written"), "{line}");
        }
        assert_as_full_rebuild(&p, "daily_revenue");
    }
}

#[test]
fn a_view_that_fails_its_tests_keeps_its_previous_definition() {
    let p = shop();
    p.mart(&["build"]).success();
    p.write(
        "sql/stg_users.sql",
        "select user_id, channel from raw.users",
    );
    let run = p.mart(&["build"]);
    run.code(1).stderr_has(
        "model `stg_users` failed 1 of 2 data tests, so its new version is not published",
    );
    // Readers see the published definition, not the edited file.
    let channels = p.query_csv("select distinct channel from stg_users order by channel");
    assert_eq!(channels, ["channel", "naver", "search", "tiktok"]);
    // And what is built from it is built from that.
    p.mart(&["build", "-s", "daily_revenue", "--full-refresh"])
        .success();
    let channels = p.query_csv("select distinct channel from daily_revenue order by channel");
    assert_eq!(channels, ["channel", "naver", "search", "tiktok"]);
    // `mart test` tests what is published: it passes.
    p.mart(&["test", "-s", "stg_users"]).success();

    // Fixed, it is published, and its readers follow.
    p.write(
        "sql/stg_users.sql",
        "select user_id, lower(trim(channel)) as channel from raw.users",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("stg_users").starts_with("built"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("daily_revenue").starts_with("built"),
        "{}",
        run.stdout
    );
}

#[test]
fn new_and_changed_tests_run_on_an_up_to_date_model() {
    let p = shop();
    let run = p.mart(&["build"]);
    run.success().stdout_has("3 tests passed");
    let run = p.mart(&["build"]);
    run.success();
    assert!(!run.stdout.contains("tests passed"), "{}", run.stdout);

    // Narrowed: the published stg_orders holds `refunded`, now refused.
    p.write(
        "marts/models.yml",
        &YAML.replace("[paid, refunded]", "[paid]"),
    );
    let before = p.snapshot();
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has("model `stg_orders` failed 1 of 1 data tests, on its published version")
        .stderr_has("FAIL  stg_orders: accepted_values(status)");
    assert!(
        run.line_for("stg_orders").contains("FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("daily_revenue").contains("skipped"),
        "{}",
        run.stdout
    );
    // Nothing was rebuilt: the data is as it was.
    let data = |s: &std::collections::BTreeMap<String, Vec<u8>>| {
        s.iter()
            .filter(|(k, _)| k.contains("data/mart/") && k.ends_with(".parquet"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(data(&before), data(&p.snapshot()));
    // It stays failing until fixed, then passes once and is not run again.
    p.mart(&["build"]).code(1);
    p.write(
        "marts/models.yml",
        &YAML.replace("[paid, refunded]", "[paid, refunded, cancelled]"),
    );
    let run = p.mart(&["build"]);
    run.success().stdout_has("1 test passed");
    assert!(
        run.line_for("stg_orders").contains("tested again"),
        "{}",
        run.stdout
    );
    let run = p.mart(&["build"]);
    assert!(!run.stdout.contains("passed"), "{}", run.stdout);

    // A test of a column the model does not have: found before anything runs.
    p.write(
        "marts/models.yml",
        &YAML.replace("      - name: status\n", "      - name: state\n"),
    );
    let before = p.snapshot();
    p.mart(&["build"])
        .code(2)
        .stderr_has("test `accepted_values(state)` of `stg_orders`")
        .stderr_has("state")
        .stderr_has("marts/models.yml:15:");
    assert_eq!(before, p.snapshot());
}

#[test]
fn a_removed_model_is_no_longer_served_and_can_be_restored() {
    let p = shop();
    p.mart(&["build"]).success();
    assert_eq!(
        p.query_csv("select count(*) as n from refund_rate"),
        ["n", "10"]
    );
    let yaml = YAML.replace("  - name: refund_rate\n", "");
    p.write("marts/models.yml", &yaml);
    fs::remove_file(p.path().join("sql/refund_rate.sql")).unwrap();
    let run = p.mart(&["build"]);
    run.success().stdout_has("1 removed");
    assert!(
        run.line_for("refund_rate")
            .contains("(no longer in the project)"),
        "{}",
        run.stdout
    );
    assert!(!p.warehouse().join("mart/refund_rate").exists());
    p.mart(&["query", "select count(*) from refund_rate"])
        .code(2)
        .stderr_has("refund_rate");

    // Undone by mistake: restored as it was.
    p.mart(&["restore", "refund_rate"])
        .success()
        .stdout_has("restored table refund_rate");
    assert_eq!(
        p.query_csv("select count(*) as n from refund_rate"),
        ["n", "10"]
    );
    // `--keep-removed` keeps serving it; a plain build removes it again.
    p.mart(&["build", "--keep-removed"]).success();
    assert!(p.warehouse().join("mart/refund_rate").exists());
    p.mart(&["build"]).success().stdout_has("1 removed");
    p.mart(&["restore", "nothing_like_it"])
        .code(2)
        .stderr_has("nothing named `nothing_like_it` was removed");

    // A view that becomes a table, and back: one of them is served.
    p.write(
        "marts/models.yml",
        &yaml.replace(
            "  - name: stg_users\n    materialized: view\n",
            "  - name: stg_users\n",
        ),
    );
    p.mart(&["build"]).success();
    assert!(p.warehouse().join("mart/stg_users").exists());
    assert!(!p.warehouse().join("_mart/views/stg_users.json").exists());
    p.write("marts/models.yml", &yaml);
    p.mart(&["build"]).success();
    assert!(!p.warehouse().join("mart/stg_users").exists());
    assert!(p.warehouse().join("_mart/views/stg_users.json").exists());
    assert_eq!(
        p.query_csv("select count(*) as n from stg_users"),
        ["n", "6"]
    );
}

#[test]
fn planning_errors_stop_the_build_before_any_model_is_written() {
    let p = shop();
    p.mart(&["build"]).success();
    // One model changes for the good, one reads a column that is not there.
    p.write(
        "sql/refund_rate.sql",
        "select order_date, avg(case when status = 'refunded' then 1.0 else 0.0 end) as refund_rate
         from stg_orders group by order_date",
    );
    p.write(
        "sql/daily_revenue.sql",
        "select order_date, sum(amout) as revenue from stg_orders group by order_date",
    );
    let before = p.snapshot();
    p.mart(&["build"])
        .code(2)
        .stderr_has("model `daily_revenue`")
        .stderr_has("amout")
        .stderr_has("sql/daily_revenue.sql:1:");
    assert_eq!(before, p.snapshot());
}

#[test]
fn runtime_errors_name_the_model_and_say_what_to_do() {
    let p = shop();
    p.write(
        "sql/refund_rate.sql",
        "select order_date, sum(order_id) / (count(*) - count(*)) as rate from stg_orders group by order_date",
    );
    p.write(
        "marts/models.yml",
        &YAML.replace(
            "  - name: refund_rate\n",
            "  - name: refund_rate\n  - name: bad_cast\n",
        ),
    );
    p.write(
        "sql/bad_cast.sql",
        "select cast(status as int) as s from stg_orders",
    );
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has("model `refund_rate` failed")
        .stderr_has("nullif(x, 0)")
        .stderr_has("model `bad_cast` failed")
        .stderr_has("try_cast");
}

/// An incremental model read by another: rebuilt whole (here to take rows
/// that arrived later than its lookback), its readers are rebuilt whole too,
/// since rows changed in their past.
#[test]
fn a_full_rebuild_upstream_rebuilds_incremental_readers_whole() {
    let p = shop();
    let yaml = format!(
        "{YAML}  - name: weekly_revenue
    materialized: incremental
    incremental: {{strategy: time, column: order_date, lookback: 1}}
"
    );
    p.write("marts/models.yml", &yaml);
    p.write(
        "sql/weekly_revenue.sql",
        "select order_date, sum(revenue) as revenue from daily_revenue group by order_date",
    );
    p.mart(&["build"]).success();
    // A late row, dated a week back: an append, taken by neither model.
    p.write(
        "data/orders/2026-10-11.csv",
        "order_id,user_id,order_date,amount,status\n900,1,2026-10-03,1000.00,paid\n",
    );
    let run = p.mart(&["build"]);
    run.success();
    assert!(!run.stdout.contains("full:"), "{}", run.stdout);
    // The upstream model rebuilt whole takes it; its reader follows.
    p.mart(&["build", "--full-refresh", "-s", "daily_revenue"])
        .success();
    let run = p.mart(&["build"]);
    run.success();
    assert!(
        run.line_for("weekly_revenue")
            .contains("incremental \u{2192} full: daily_revenue was rebuilt whole"),
        "{}",
        run.stdout
    );
    assert_as_full_rebuild(&p, "weekly_revenue");
}
