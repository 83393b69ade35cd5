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

#[test]
fn docs_page_documents_every_table() {
    let p = TestProject::example();
    p.mart(&["build", "-q"]).success();
    let run = p.mart(&["docs", "-o", "site"]);
    run.success().stdout_has("site/index.html");
    let html = std::fs::read_to_string(p.path().join("site/index.html")).unwrap();
    // Self-contained: nothing fetched from anywhere.
    assert!(
        !html.contains("<link") && !html.contains("src=\""),
        "external resource"
    );
    // A section and a graph node per source and model, and an edge per dependency.
    let tables = [
        "raw.users",
        "raw.orders",
        "raw.ab_assignments",
        "raw.events",
        "stg_users",
        "stg_orders",
        "stg_events",
        "stg_ab_assignments",
        "orders_enriched",
        "daily_revenue",
        "cohort_retention",
        "ab_test_results",
        "channel_summary",
    ];
    for t in tables {
        assert!(
            html.contains(&format!("<section class=\"table\" id=\"t-{t}\"")),
            "{t}"
        );
        assert!(
            html.contains(&format!("data-name=\"{t}\"><title>")),
            "{t} has no graph node"
        );
    }
    assert_eq!(html.matches("<g class=\"node").count(), tables.len());
    assert_eq!(html.matches("<path class=\"edge\"").count(), 14);
    // Descriptions, types, tests with their last result, lineage, SQL, rows.
    assert!(html.contains("Revenue per day and acquisition channel"));
    assert!(html.contains("<code>revenue</code></td><td><code>Decimal128(22, 2)</code></td><td>Sum of completed orders, EUR.</td>"), "revenue row");
    assert!(html.contains("<span class=\"test s-pass\" title=\"accepted_values(channel): pass in the last build\">accepted_values</span>"));
    assert!(html.contains("<a href=\"#c-orders_enriched.amount\">orders_enriched.amount</a>"));
    assert!(html.contains("<tr id=\"c-orders_enriched.amount\">"));
    assert!(html.contains("from orders_enriched\ngroup by order_date, channel"));
    assert!(html.contains("<dt>Rows</dt><dd>3,000 rows</dd>"));
    assert!(html.contains("incremental (order_date)"));
}

/// Chromium, where installed (CI installs it: .ci/run).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (see .ci/run)"
        );
        eprintln!("chromium is not installed: skipping the rendering test");
    }
    found
}

#[test]
fn docs_page_renders_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let p = TestProject::example();
    p.mart(&["build", "-q"]).success();
    p.mart(&["docs", "-o", "site"]).success();
    let page = format!("file://{}", p.path().join("site/index.html").display());
    let headless = |extra: &[&str]| {
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                p.path().join("chromium").display()
            ))
            .args(extra)
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The DOM Chromium built: a graph node per model and source, and the
    // script ran (the filter box is wired, the first node is not selected).
    let dom = headless(&["--dump-dom"]);
    assert_eq!(dom.matches("<g class=\"node").count(), 13, "{dom}");
    assert!(dom.contains("<section id=\"graph\">"));
    // A screenshot of the page as drawn: the size asked for, and far from blank.
    let shot = p.path().join("docs.png");
    headless(&[
        "--window-size=1400,1000",
        &format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 1000));
    assert!(
        png.len() > 40_000,
        "the screenshot is nearly blank: {} bytes",
        png.len()
    );
}
