//! Node selection (`-s`, `--exclude`) and `mart ls`.

use crate::common::TestProject;

/// The models `mart ls` lists for these arguments, in build order.
fn ls(p: &TestProject, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls"];
    all.extend_from_slice(args);
    let run = p.mart(&all);
    run.success();
    run.stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// The basic fixture plus a model in a subfolder, to select by path:
/// people -> base -> {l_branch, r_branch} -> top; visits -> visits_per_person;
/// base -> deep/extra.
fn project() -> TestProject {
    let p = TestProject::fixture("basic");
    p.write("sql/deep/extra.sql", "select id from base");
    let yaml = std::fs::read_to_string(p.path().join("marts/project.yml")).unwrap();
    p.write(
        "marts/project.yml",
        &format!("{yaml}  - name: extra\n    tags: [summary, deep]\n"),
    );
    p
}

#[test]
fn every_selector_form() {
    let p = project();
    assert_eq!(
        ls(&p, &[]),
        [
            "base",
            "extra",
            "l_branch",
            "r_branch",
            "visits_per_person",
            "top"
        ]
    );
    assert_eq!(ls(&p, &["-s", "top"]), ["top"]);
    assert_eq!(ls(&p, &["-s", "model:top"]), ["top"]);
    assert_eq!(
        ls(&p, &["-s", "+top"]),
        ["base", "l_branch", "r_branch", "top"]
    );
    assert_eq!(ls(&p, &["-s", "1+top"]), ["l_branch", "r_branch", "top"]);
    assert_eq!(
        ls(&p, &["-s", "base+"]),
        [
            "base",
            "extra",
            "l_branch",
            "r_branch",
            "visits_per_person",
            "top"
        ]
    );
    assert_eq!(
        ls(&p, &["-s", "base+1"]),
        ["base", "extra", "l_branch", "r_branch", "visits_per_person"]
    );
    assert_eq!(ls(&p, &["-s", "tag:summary"]), ["extra", "top"]);
    assert_eq!(ls(&p, &["-s", "path:sql/deep/"]), ["extra"]);
    assert_eq!(ls(&p, &["-s", "path:sql/deep"]), ["extra"]);
    assert_eq!(ls(&p, &["-s", "source:visits+"]), ["visits_per_person"]);
    assert_eq!(ls(&p, &["-s", "source:people+1"]), ["base"]);
    // Spaces: union; commas: intersection.
    assert_eq!(ls(&p, &["-s", "top", "extra"]), ["extra", "top"]);
    assert_eq!(ls(&p, &["-s", "top extra"]), ["extra", "top"]);
    assert_eq!(ls(&p, &["-s", "base+,tag:summary"]), ["extra", "top"]);
    assert_eq!(
        ls(&p, &["-s", "+top", "--exclude", "l_branch", "r_branch"]),
        ["base", "top"]
    );
    assert_eq!(
        ls(&p, &["--exclude", "tag:summary"]),
        ["base", "l_branch", "r_branch", "visits_per_person"]
    );
}

#[test]
fn unknown_names_get_the_closest_match() {
    let p = project();
    p.mart(&["ls", "-s", "tpo"])
        .code(2)
        .stderr_has("no model matches `tpo`")
        .stderr_has("did you mean `top`?");
    p.mart(&["build", "-s", "tag:sumary"])
        .code(2)
        .stderr_has("no tag matches `sumary`")
        .stderr_has("did you mean `summary`?");
    p.mart(&["ls", "-s", "source:visit"])
        .code(2)
        .stderr_has("did you mean `visits`?");
    p.mart(&["ls", "-s", "people"])
        .code(2)
        .stderr_has("select it as `source:people`");
    p.mart(&["ls", "-s", "tags:summary"])
        .code(2)
        .stderr_has("unknown selector method `tags:`")
        .stderr_has("did you mean `tag`?");
    p.mart(&["ls", "--exclude", "nope"])
        .code(2)
        .stderr_has("in --exclude");
    p.mart(&["ls", "-s", "a+b"])
        .code(2)
        .stderr_has("not a valid selector");
    // Nothing was written.
    assert!(!p.warehouse().exists());
}

#[test]
fn ls_prints_text_and_json() {
    let p = project();
    let run = p.mart(&["ls", "-s", "top"]);
    run.success();
    let line = run.line_for("top");
    assert!(
        line.contains("table") && line.contains("l_branch, r_branch") && line.contains("[summary]"),
        "{line}"
    );

    let run = p.mart(&["ls", "--format", "json", "-s", "+top"]);
    run.success();
    let items: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["name"], "base");
    assert_eq!(items[0]["depends_on"], serde_json::json!(["raw.people"]));
    assert_eq!(items[0]["description"], "Everyone, typed.");
    let l = items.iter().find(|i| i["name"] == "l_branch").unwrap();
    assert_eq!(l["materialized"], "view");
    assert_eq!(l["sql"], "sql/l_branch.sql");
    assert_eq!(items[3]["tags"], serde_json::json!(["summary"]));
}

#[test]
fn ls_lists_the_tests_of_what_is_selected() {
    let p = TestProject::fixture("tested");
    let run = p.mart(&["ls", "--resource-type", "test"]);
    run.success()
        .stdout_has("raw.customers    not_null(id)")
        .stdout_has("fct_payments     expression(amount < 1000)  (warn)")
        .stdout_has("revenue_by_tier  expression(revenue > 0)");
    assert_eq!(run.stdout.lines().count(), 11, "{}", run.stdout);
    let run = p.mart(&[
        "ls",
        "--resource-type",
        "test",
        "-s",
        "dim_customers",
        "--format",
        "json",
    ]);
    let items: serde_json::Value = serde_json::from_str(&run.success().stdout).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["test"], "accepted_values(tier)");
    assert_eq!(items[2]["declared"], "marts/models.yml:19:13");
}
