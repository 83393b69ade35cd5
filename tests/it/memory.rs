//! `--memory-limit`: spilling where DataFusion can, a clear error where it
//! cannot; the limit from the flag, the environment or the YAML.

use crate::common::TestProject;

/// A model of 3,000,000 generated rows (about 150 MB in memory), a sort
/// and an aggregation over it (which can spill) and a self-join (whose
/// build side cannot).
fn project() -> TestProject {
    let p = TestProject::empty();
    p.write(
        "marts/m.yml",
        "models:\n  - {name: big}\n  - {name: sorted}\n  - {name: grouped}\n  - {name: joined}\n  - {name: quarter_a}\n  - {name: quarter_b}\n",
    );
    p.write(
        "sql/big.sql",
        "select value as id, value % 1000 as g, concat('name-', cast(value * 7919 % 1000003 as varchar), '-', cast(value as varchar)) as s
         from generate_series(1, 3000000)",
    );
    p.write("sql/sorted.sql", "select * from big order by s");
    p.write(
        "sql/grouped.sql",
        "select s, count(*) as n, sum(id) as total from big group by s",
    );
    p.write(
        "sql/joined.sql",
        "select a.id, a.s, b.g from big a join big b on a.s = b.s",
    );
    for (name, rest) in [("quarter_a", 0), ("quarter_b", 1)] {
        p.write(
            &format!("sql/{name}.sql"),
            &format!("select a.id, a.s, b.g from big a join (select * from big where id % 4 = {rest}) b on a.s = b.s"),
        );
    }
    p
}

#[test]
fn sorts_and_aggregations_spill_under_the_limit() {
    let p = project();
    p.mart(&["build", "-s", "big"]).success();
    let run = p.mart(&[
        "build",
        "--threads",
        "1",
        "--memory-limit",
        "200MiB",
        "-s",
        "sorted",
        "grouped",
    ]);
    run.success();
    assert!(
        run.line_for("sorted").contains("3,000,000 rows"),
        "{}",
        run.stdout
    );
    assert!(
        run.line_for("grouped").contains("3,000,000 rows"),
        "{}",
        run.stdout
    );
    let rows = p.query_csv("select count(*) as n, count(distinct s) as d from grouped");
    assert_eq!(rows, ["n,d", "3000000,3000000"]);
}

#[test]
fn a_join_that_does_not_fit_beside_another_runs_again_alone() {
    let p = project();
    p.mart(&["build", "-s", "big"]).success();
    // Each build side fits in 180 MiB, the two together do not.
    let run = p.mart(&[
        "build",
        "--threads",
        "2",
        "--memory-limit",
        "180MiB",
        "-s",
        "quarter_a",
        "quarter_b",
    ]);
    run.success();
    let (a, b) = (run.line_for("quarter_a"), run.line_for("quarter_b"));
    assert!(
        a.contains("750,000 rows") && b.contains("750,000 rows"),
        "{}",
        run.stdout
    );
    let again = "(run again alone: it did not fit in the memory limit beside other models)";
    assert!(a.contains(again) || b.contains(again), "{}", run.stdout);
    let rows =
        p.query_csv("select count(*) as n from quarter_a union all select count(*) from quarter_b");
    assert_eq!(rows, ["n", "750000", "750000"]);
}

#[test]
fn a_hash_join_that_does_not_fit_alone_is_built_with_sort_merge_joins() {
    let p = project();
    p.mart(&["build", "-s", "big"]).success();
    let before =
        p.query_csv("select count(*) as n, sum(a.id) as total from big a join big b on a.s = b.s");
    let run = p.mart(&["build", "--memory-limit", "400MiB", "-s", "joined"]);
    run.success();
    assert!(
        run.line_for("joined").contains("3,000,000 rows")
            && run.line_for("joined").contains(
                "a hash join did not fit in the memory limit: built with sort-merge joins"
            ),
        "{}",
        run.stdout
    );
    let after = p.query_csv("select count(*) as n, sum(id) as total from joined");
    assert_eq!(before, after);
}

#[test]
fn what_cannot_spill_fails_with_the_model_and_what_to_do() {
    let p = project();
    p.mart(&["build", "-s", "big"]).success();
    let before = p.snapshot();
    let run = p.mart(&["build", "--memory-limit", "16MiB", "-s", "joined"]);
    run.code(1)
        .stderr_has("model `joined` failed: Resources exhausted")
        .stderr_has("sql/joined.sql")
        .stderr_has("help: `joined` needs more memory than the memory limit allows")
        .stderr_has("raise --memory-limit");
    // Nothing was published.
    let tables = |s: &std::collections::BTreeMap<String, Vec<u8>>| {
        s.keys()
            .filter(|k| k.starts_with("mart/"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(tables(&before), tables(&p.snapshot()));

    // The same limit from the environment, and from the YAML.
    let output = assert_cmd::Command::cargo_bin("mart")
        .unwrap()
        .args(["build", "-s", "joined"])
        .current_dir(p.path())
        .env("MART_MEMORY_LIMIT", "16MiB")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Resources exhausted"));
    p.write("marts/config.yml", "config:\n  memory_limit: 16MiB\n");
    p.mart(&["build", "-s", "joined"])
        .code(1)
        .stderr_has("Resources exhausted");
    // The flag wins over the YAML.
    p.mart(&["build", "-s", "joined", "--memory-limit", "4GiB"])
        .success();
}

#[test]
fn bad_sizes_and_settings_are_refused() {
    let p = project();
    p.mart(&["build", "--memory-limit", "lots"])
        .code(2)
        .stderr_has("`lots` is not a size");
    p.write("marts/config.yml", "config:\n  memory_limit: 2 parsecs\n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("config: memory_limit: `2 parsecs` is not a size")
        .stderr_has("marts/config.yml:1");
    p.write(
        "marts/config.yml",
        "config:\n  parquet: {compresion: snappy}\n",
    );
    p.mart(&["build"])
        .code(2)
        .stderr_has("config: parquet:")
        .stderr_has("compresion")
        .stderr_has("marts/config.yml:1");
    p.write(
        "marts/config.yml",
        "config:\n  parquet: {compression: zstd(1), max_row_group_size: 1000}\n",
    );
    p.mart(&["build", "-s", "big"]).success();
    p.write("marts/more.yml", "config:\n  memory_limit: 1GiB\n");
    p.mart(&["build"])
        .code(2)
        .stderr_has("`config:` is set in two files");
}
