//! Seeing the mart: `mart graph`, column lineage and the docs site.

use crate::common::TestProject;

fn lineage(p: &TestProject, args: &[&str]) -> String {
    let mut all = vec!["lineage"];
    all.extend(args);
    let run = p.mart(&all);
    run.success();
    run.stdout
}

#[test]
fn lineage_follows_columns_through_every_kind_of_query() {
    let p = TestProject::fixture("lineage");
    p.mart(&["land"]).success();
    // Through a CTE, a join and a view.
    assert_eq!(
        lineage(&p, &["orders_joined.customer"]),
        "orders_joined.customer\n└── stg_customers.name\n    └── raw.customers.name\n"
    );
    assert_eq!(
        lineage(&p, &["orders_joined.gross"]),
        "orders_joined.gross\n└── raw.orders.amount\n"
    );
    // An aggregate; count(*) reads no column.
    assert_eq!(
        lineage(&p, &["by_country.revenue"]),
        "by_country.revenue\n└── orders_joined.gross\n    └── raw.orders.amount\n"
    );
    assert_eq!(lineage(&p, &["by_country.orders"]), "by_country.orders\n");
    // A window function, in an ephemeral model.
    assert_eq!(
        lineage(&p, &["ranked.position"]),
        "ranked.position\n└── by_country.revenue\n    └── orders_joined.gross\n        └── raw.orders.amount\n"
    );
    // A union, and a scalar subquery.
    assert_eq!(
        lineage(&p, &["report.country"]),
        "report.country\n└── ranked.country\n    └── by_country.country\n        └── orders_joined.country\n            └── stg_customers.country\n                └── raw.customers.country\n"
    );
    let share = lineage(&p, &["report.share"]);
    assert!(
        share.starts_with("report.share\n├── by_country.revenue\n"),
        "{share}"
    );
    assert!(share.contains("└── ranked.revenue\n"), "{share}");
    // Downstream: what is computed from a raw column.
    assert_eq!(
        lineage(&p, &["raw.customers.name", "--downstream"]),
        "raw.customers.name\n└── stg_customers.name\n    └── orders_joined.customer\n"
    );
    let json: serde_json::Value = serde_json::from_str(&lineage(
        &p,
        &["raw.orders.amount", "--downstream", "--format", "json"],
    ))
    .unwrap();
    let edges: Vec<(String, String)> = json["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().into(),
                e["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (from, to) in [
        ("raw.orders.amount", "orders_joined.gross"),
        ("orders_joined.gross", "by_country.revenue"),
        ("by_country.revenue", "ranked.revenue"),
        ("by_country.revenue", "ranked.position"),
        ("ranked.revenue", "report.share"),
        ("by_country.revenue", "report.share"),
    ] {
        assert!(
            edges.contains(&(from.into(), to.into())),
            "{from} -> {to}: {edges:?}"
        );
    }
}

#[test]
fn lineage_of_the_example_reaches_raw_columns() {
    let p = TestProject::example();
    p.mart(&["land"]).success();
    let out = lineage(&p, &["daily_revenue.revenue"]);
    assert!(
        out.contains(
            "├── orders_enriched.amount\n│   └── stg_orders.amount\n│       └── raw.orders.amount\n"
        ),
        "{out}"
    );
}

#[test]
fn lineage_errors_name_what_exists() {
    let p = TestProject::fixture("lineage");
    // Nothing landed yet: the models cannot be planned.
    p.mart(&["lineage", "by_country.revenue"])
        .code(1)
        .stderr_has("raw.orders is not landed: run `mart land`");
    p.mart(&["land"]).success();
    p.mart(&["lineage", "by_countr.revenue"])
        .code(2)
        .stderr_has("there is no table `by_countr`")
        .stderr_has("did you mean `by_country`?");
    p.mart(&["lineage", "by_country.revenu"])
        .code(2)
        .stderr_has("`by_country` has no column `revenu`")
        .stderr_has("did you mean `revenue`?");
    p.mart(&["lineage", "by_country"])
        .code(2)
        .stderr_has("names no column");
}

#[test]
fn graph_prints_a_tree_dot_and_mermaid() {
    let p = TestProject::fixture("lineage");
    let run = p.mart(&["graph"]);
    run.success();
    assert_eq!(
        run.stdout,
        "raw.orders (source)\n└── orders_joined (table)\n    └── by_country (table)\n        ├── ranked (ephemeral)\n        │   └── report (table)\n        └── report (table)\n\
         raw.customers (source)\n└── stg_customers (view)\n    └── orders_joined (table) (*)\n"
    );
    let dot = p.mart(&["graph", "--format", "dot"]);
    dot.success()
        .stdout_has("digraph mart {")
        .stdout_has("\"raw.orders\" -> \"orders_joined\";")
        .stdout_has("\"by_country\" -> \"report\";");
    assert_eq!(dot.stdout.matches(" -> ").count(), 7, "{}", dot.stdout);
    let mermaid = p.mart(&["graph", "--format", "mermaid", "-s", "+by_country"]);
    mermaid
        .success()
        .stdout_has("flowchart LR\n")
        .stdout_has("    source_customers[(\"raw.customers\")]\n")
        .stdout_has("    model_stg_customers([\"stg_customers\"])\n")
        .stdout_has("    model_orders_joined --> model_by_country\n");
    assert!(!mermaid.stdout.contains("report"), "{}", mermaid.stdout);
}
