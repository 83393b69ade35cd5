//! The analyst's loop: `mart init`, then `mart show` (what a build would
//! publish for a model, from its saved SQL, without writing anything).

use crate::common::{TestProject, path_with_mart};

/// The YAML of `project()`: `top` reads the view `mid`, which reads
/// `base`; `other` reads the source alone.
pub const PROJECT: &str = "sources:\n  - {name: t, path: data/t.csv}\nmodels:\n  - name: base\n  - {name: mid, materialized: view}\n  - name: top\n  - name: other\n";

pub fn project() -> TestProject {
    let p = TestProject::empty();
    let rows: String = (1..=30).map(|i| format!("{i},{}\n", i % 3)).collect();
    p.write("data/t.csv", &format!("id,g\n{rows}"))
        .write("marts/project.yml", PROJECT)
        .write("sql/base.sql", "select id, g from raw.t\n")
        .write(
            "sql/mid.sql",
            "select g, count(*) as n from base group by g\n",
        )
        .write("sql/top.sql", "select g, n from mid order by g\n")
        .write("sql/other.sql", "select count(*) as n from raw.t\n");
    p
}

#[test]
fn show_prints_what_build_then_publishes_and_writes_nothing() {
    let p = project();
    p.mart(&["build"]).success();
    let run = p.mart(&["show", "top"]);
    run.success().stdout_has("| 0 | 10 |").stdout_has("3 rows");
    assert!(!run.stderr.contains("planned from"), "{}", run.stderr);

    // Edit upstream: show plans it (and what reads it) from the SQL.
    p.write("sql/base.sql", "select id, g from raw.t where id <= 12\n");
    let before = p.snapshot();
    let run = p.mart(&["show", "top", "--limit", "2"]);
    run.success()
        .stderr_has("planned from their SQL, as a build would rebuild them first: base, mid")
        .stdout_has("| 0 | 4 |")
        .stdout_has("the first 2 of 3 rows");
    assert!(!run.stdout.contains("| 2 |"), "{}", run.stdout);
    assert!(before == p.snapshot(), "show wrote to the warehouse");

    // What build then publishes is what show showed.
    p.mart(&["build"]).success();
    assert_eq!(
        p.query_csv("select g, n from top order by g"),
        ["g,n", "0,4", "1,4", "2,4"]
    );
}

#[test]
fn show_refuses_unknown_models_and_points_at_bad_sql() {
    let p = project();
    p.mart(&["build"]).success();
    p.mart(&["show", "tpo"])
        .code(2)
        .stderr_has("there is no model named `tpo`")
        .stderr_has("top");
    p.write("sql/top.sql", "select g, nn from mid\n");
    p.mart(&["show", "top"])
        .code(2)
        .stderr_has("sql/top.sql:1:");
}

#[test]
fn init_makes_a_project_that_builds_and_overwrites_nothing() {
    let p = TestProject::empty();
    let run = p.mart(&["init", "shop"]);
    run.success().stdout_has("cd shop && mart build");
    let shop = p.path().join("shop");
    let mart = |args: &[&str]| {
        let mut all = vec!["--project", "shop"];
        all.extend(args);
        p.mart(&all)
    };
    mart(&["build"]).success().stdout_has("2 tests passed");
    mart(&["show", "daily_orders"])
        .success()
        .stdout_has("| 2026-01-01 | 2      | 52.5    |");
    // A second init there refuses, and leaves every file as it was.
    std::fs::write(shop.join("sql/daily_orders.sql"), "select 1 as x\n").unwrap();
    mart(&["init"]).code(2).stderr_has("overwrites nothing");
    assert_eq!(
        std::fs::read_to_string(shop.join("sql/daily_orders.sql")).unwrap(),
        "select 1 as x\n"
    );
}

/// Bash completion, as the shell drives it: subcommands, and the project's
/// model names after `-s`, asked of `mart ls` as the user types.
#[test]
fn bash_completes_commands_and_model_names() {
    let p = TestProject::fixture("basic");
    let script = p.mart(&["completions", "bash"]).stdout;
    p.write("mart.bash", &script);
    let path = path_with_mart();
    let complete = |words: &str, cur: &str, prev: &str| {
        let line = format!(
            "source ./mart.bash; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _mart mart '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &line])
            .current_dir(p.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let commands = complete("mart bu", "bu", "mart");
    assert!(commands.lines().any(|l| l == "build"), "{commands}");
    let models = complete("mart build -s l_", "l_", "-s");
    assert_eq!(models.trim(), "l_branch", "{models}");

    // zsh: a selector's value is completed by a function asking `mart ls`,
    // defined before the script calls `_mart`.
    let zsh = p.mart(&["completions", "zsh"]).stdout;
    let defined = zsh.find("_mart_models() {").expect("the models function");
    assert!(
        defined < zsh.rfind("_mart \"$@\"").unwrap(),
        "defined after the call"
    );
    assert!(zsh.contains("mart ls 2>/dev/null"), "{zsh}");
    assert!(zsh.contains(":SELECTOR:_mart_models'"), "{zsh}");
    assert!(!zsh.contains(":SELECTOR:_default'"), "{zsh}");
}

#[test]
fn show_sql_prints_what_a_build_runs_with_the_incremental_filter() {
    let p = project();
    p.write(
        "marts/inc.yml",
        "models:\n  - name: inc\n    materialized: incremental\n    incremental: {strategy: time, column: id, lookback: 5}\n",
    )
    .write("sql/inc.sql", "select id, g from base;\n");
    p.mart(&["show", "inc", "--sql"])
        .code(2)
        .stderr_has("model `base` reads source `t`, which is not landed yet")
        .stderr_has("mart land t");
    p.mart(&["land"]).success();
    p.mart(&["show", "inc", "--sql"])
        .success()
        .stdout_has("-- built whole: nothing is stored yet\nselect id, g from base\n");
    p.mart(&["build"]).success();
    let run = p.mart(&["show", "inc", "--sql"]);
    run.success()
        .stdout_has("SELECT * FROM (\nselect id, g from base\n) AS inc\nWHERE (id >= 25)");
    // The printed SQL runs as it is, and gives the rows recomputed.
    let counted = format!("select count(*) as n from ({})", run.stdout.trim());
    assert_eq!(p.query_csv(&counted), ["n", "6"]);

    // Upstream edited: the build would rebuild it whole, and says why.
    p.write("sql/base.sql", "select id, g + 1 as g from raw.t\n");
    p.mart(&["show", "inc", "--sql"])
        .success()
        .stderr_has("planned from their SQL")
        .stdout_has("-- built whole: base's SQL or settings changed\n");
}
