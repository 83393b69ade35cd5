//! `mart build`: order, materializations, partitions, failures, atomic replacement.

use std::fs;

use crate::common::{TestProject, parquet_files, read_parquet};

#[test]
fn example_mart_builds_and_answers() {
    let p = TestProject::example();
    let run = p.mart(&["build"]);
    run.success();
    for model in [
        "stg_orders",
        "stg_events",
        "daily_revenue",
        "cohort_retention",
        "ab_test_results",
        "channel_summary",
    ] {
        assert!(run.line_for(model).starts_with("built"), "{}", run.stdout);
        assert!(
            p.warehouse().join("mart").join(model).is_dir(),
            "{model} has no table"
        );
    }
    // Views and ephemeral models store no data.
    for model in ["stg_users", "orders_enriched"] {
        assert!(!p.warehouse().join("mart").join(model).exists());
    }
    assert!(run.line_for("stg_users").contains("view"));
    assert!(run.line_for("orders_enriched").contains("ephemeral"));
    run.stdout_has("Done in");

    let rows =
        p.query_csv("select variant, users, conversions from ab_test_results order by variant");
    assert_eq!(rows[0], "variant,users,conversions");
    assert!(
        rows[1].starts_with("control,") && rows[2].starts_with("green,"),
        "{rows:?}"
    );
    let users: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(users, 3000);

    // Every channel of the story is in the mart, cleaned to lower case.
    let channels = p.query_csv("select distinct channel from daily_revenue order by channel");
    assert_eq!(channels, ["channel", "organic", "tiktok", "youtube"]);
    // The model built on models agrees with the one it reads.
    let check = p.query_csv(
        "select (select sum(revenue) from daily_revenue) = (select sum(revenue) from channel_summary) as same",
    );
    assert_eq!(check, ["same", "true"]);
}

#[test]
fn diamond_builds_in_dependency_order_and_ctes_are_not_dependencies() {
    let p = TestProject::fixture("basic");
    // One at a time, the lines come in build order.
    let run = p.mart(&["build", "--threads", "1"]);
    run.success();
    let (base, l, r, top) = (
        run.position("base"),
        run.position("l_branch"),
        run.position("r_branch"),
        run.position("top"),
    );
    assert!(base < l && base < r && l < top && r < top, "{}", run.stdout);
    // l_branch has a CTE named r_branch: had it been taken for the model,
    // l_branch would come after r_branch; siblings are in name order.
    assert!(l < r);
    let rows = p.query_csv("select grp, n, doubled, bumped from top order by grp");
    assert_eq!(
        rows,
        [
            "grp,n,doubled,bumped",
            "a,2,80,42",
            "b,1,40,21",
            "c,1,80,41"
        ]
    );
    let rows = p.query_csv("select name, visits from visits_per_person order by name");
    assert_eq!(rows, ["name,visits", "ann,2", "bob,0", "cy,1", "dee,0"]);
}

#[test]
fn partitioned_table_is_hive_folders_readable_by_the_parquet_crate() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let top = p.warehouse().join("mart/top");
    let mut folders: Vec<String> = fs::read_dir(&top)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    folders.sort();
    assert_eq!(folders, ["grp=a", "grp=b", "grp=c"]);
    let files = parquet_files(&top.join("grp=a"));
    assert!(!files.is_empty());
    let rows: usize = files
        .iter()
        .flat_map(|f| read_parquet(f))
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 1);
    // Unpartitioned tables and landed sources read back too.
    for dir in ["mart/base", "raw/people", "raw/visits"] {
        let rows: usize = parquet_files(&p.warehouse().join(dir))
            .iter()
            .flat_map(|f| read_parquet(f))
            .map(|b| b.num_rows())
            .sum();
        assert!(rows > 0, "{dir} is empty");
    }
}

#[test]
fn a_failing_model_skips_only_its_dependents_and_keeps_its_previous_version() {
    let p = TestProject::fixture("basic");
    p.write("marts/after.yml", "models:\n  - name: after_top\n");
    p.write("sql/after_top.sql", "select * from top");
    p.mart(&["build"]).success();
    let before = p.query_csv("select * from top order by grp");
    let top_files = parquet_files(&p.warehouse().join("mart/top"));
    // It plans, then fails while running (in `top`, which inlines it): a
    // cast of the data.
    p.write(
        "sql/r_branch.sql",
        "select id, grp,\n  cast(name as int) + 1 as bumped from base\n",
    );
    let run = p.mart(&["build"]);
    run.code(1);
    assert!(run.line_for("top").starts_with("FAILED"), "{}", run.stdout);
    assert!(
        run.line_for("after_top").starts_with("skipped"),
        "{}",
        run.stdout
    );
    for name in ["base", "l_branch", "visits_per_person"] {
        assert!(
            run.line_for(name).starts_with("up to date"),
            "{}",
            run.stdout
        );
    }
    run.stderr_has("model `top` failed")
        .stderr_has("sql/top.sql")
        .stderr_has("try_cast(x AS type)");
    run.stdout_has("1 failed, 1 skipped");

    // The skipped table is untouched: same files, same rows.
    assert_eq!(parquet_files(&p.warehouse().join("mart/top")), top_files);
    assert_eq!(p.query_csv("select * from top order by grp"), before);
}

#[test]
fn a_runtime_failure_publishes_nothing() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    let before = p.snapshot_of("mart/base");
    // Plans fine, fails while running: a cast of the data.
    p.write(
        "sql/base.sql",
        "select id, name, grp, cast(name as int) as score from raw.people\n",
    );
    let run = p.mart(&["build"]);
    run.code(1)
        .stderr_has("model `base` failed")
        .stderr_has("sql/base.sql");
    assert_eq!(p.snapshot_of("mart/base"), before);
    assert!(
        !p.warehouse().join("_mart/tmp").exists()
            || fs::read_dir(p.warehouse().join("_mart/tmp"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn rebuilding_switches_versions_and_keeps_one_previous() {
    let p = TestProject::fixture("basic");
    for _ in 0..3 {
        p.mart(&["build", "--full-refresh"]).success();
    }
    let versions = fs::read_dir(p.warehouse().join("_mart/data/mart/base"))
        .unwrap()
        .count();
    assert_eq!(versions, 2, "the current version and the one before it");
    let link = fs::read_link(p.warehouse().join("mart/base")).unwrap();
    assert!(link.is_relative(), "{link:?}");
    assert_eq!(p.query_csv("select count(*) as n from base"), ["n", "4"]);
}

#[test]
fn every_materialization_is_queryable() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    assert_eq!(
        p.query_csv("select count(*) as n from l_branch"),
        ["n", "4"]
    );
    assert_eq!(
        p.query_csv("select sum(bumped) as s from r_branch"),
        ["s", "104"]
    );
    assert!(!p.warehouse().join("mart/l_branch").exists());
    assert!(!p.warehouse().join("mart/r_branch").exists());
}

impl TestProject {
    /// The snapshot of one table's published files.
    pub fn snapshot_of(&self, table: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        parquet_files(&self.warehouse().join(table))
            .into_iter()
            .map(|f| (f.clone(), fs::read(f).unwrap()))
            .collect()
    }
}

#[test]
fn an_empty_result_is_a_readable_empty_table() {
    let p = TestProject::fixture("basic");
    p.write("sql/nobody.sql", "select * from base where id > 100");
    p.write("marts/more.yml", "models:\n  - name: nobody\n");
    p.mart(&["build"]).success();
    let files = parquet_files(&p.warehouse().join("mart/nobody"));
    assert_eq!(files.len(), 1);
    let batches = read_parquet(&files[0]);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert_eq!(p.query_csv("select count(*) as n from nobody"), ["n", "0"]);
}

#[test]
fn an_undeclared_sql_file_is_warned_about() {
    let p = TestProject::fixture("basic");
    p.write("sql/forgotten.sql", "select 1 as x");
    p.mart(&["build"])
        .success()
        .stderr_has("warning: `sql/forgotten.sql` is not declared in marts/");
}

#[test]
fn the_next_build_cleans_up_what_a_killed_one_left() {
    let p = TestProject::fixture("basic");
    p.mart(&["build"]).success();
    // What a build killed mid-write leaves: a half-written version and a
    // new link not yet renamed over the old one.
    p.write(
        "warehouse/_mart/tmp/mart.base.123/part-0.parquet",
        "half a file",
    );
    std::os::unix::fs::symlink(
        "../_mart/data/mart/base/123",
        p.warehouse().join("mart/.base.123"),
    )
    .unwrap();
    p.mart(&["build"]).success();
    assert!(!p.warehouse().join("_mart/tmp/mart.base.123").exists());
    assert!(fs::symlink_metadata(p.warehouse().join("mart/.base.123")).is_err());
    assert_eq!(p.query_csv("select count(*) as n from base"), ["n", "4"]);
}

#[test]
fn project_and_warehouse_flags() {
    let p = TestProject::fixture("basic");
    let elsewhere = TestProject::empty();
    let project = p.path().to_str().unwrap();
    let warehouse = elsewhere.path().join("wh");
    let warehouse = warehouse.to_str().unwrap();
    elsewhere
        .mart(&["build", "--project", project, "--warehouse", warehouse])
        .success();
    assert!(elsewhere.path().join("wh/mart/top").is_dir());
    assert!(!p.warehouse().exists());
    let run = elsewhere.mart(&[
        "--project",
        project,
        "--warehouse",
        warehouse,
        "query",
        "--format",
        "csv",
        "select count(*) as n from top",
    ]);
    assert_eq!(run.stdout, "n\n3\n");
    // Errors show paths the user can open from where they are.
    p.write("sql/top.sql", "select * from nothing_here");
    elsewhere
        .mart(&["build", "--project", project])
        .code(2)
        .stderr_has(&format!("{project}/sql/top.sql:1:15"));
}

/// Which columns of a table's Parquet files carry min/max statistics.
fn columns_with_statistics(dir: &std::path::Path) -> Vec<String> {
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    let file = fs::File::open(&parquet_files(dir)[0]).unwrap();
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    let group = meta.row_group(0);
    group
        .columns()
        .iter()
        .filter(|c| c.statistics().is_some_and(|s| s.min_bytes_opt().is_some()))
        .map(|c| c.column_path().string())
        .collect()
}

/// Text columns are written without statistics (their bounds prune
/// nothing unless sorted, and cost 8 % of a wide table's write), but keys
/// an incremental build reads the bounds of keep theirs, and the project
/// can ask for all.
#[test]
fn text_columns_have_statistics_only_where_they_serve() {
    let p = TestProject::empty();
    p.write("data/t.csv", "id,name,code,at\n1,ann,a1,2026-01-01\n2,bob,b2,2026-01-02\n")
        .write(
            "marts/project.yml",
            "sources:\n  - {name: t, path: data/t.csv}\nmodels:\n  - name: plain\n  - name: keyed\n    materialized: incremental\n    incremental: {strategy: key, unique_key: [code], column: at}\n",
        )
        .write("sql/plain.sql", "select id, name, code, at from raw.t\n")
        .write("sql/keyed.sql", "select id, name, code, at from raw.t\n");
    p.mart(&["build"]).success();
    let mart = p.warehouse().join("mart");
    assert_eq!(columns_with_statistics(&mart.join("plain")), ["id", "at"]);
    assert_eq!(
        columns_with_statistics(&mart.join("keyed")),
        ["id", "code", "at"]
    );

    p.write(
        "marts/config.yml",
        "config:\n  parquet: {statistics_enabled: page}\n",
    );
    p.mart(&["build", "--full-refresh"]).success();
    assert_eq!(
        columns_with_statistics(&mart.join("plain")),
        ["id", "name", "code", "at"]
    );
}
