//! `mart docs`: one self-contained HTML page documenting every source and
//! model: description, columns with types, descriptions, tests and lineage,
//! the SQL, how it is materialized, its rows and last build, and the graph
//! as an inline SVG whose nodes link to their sections. No network is
//! needed to view it; the little script it has only filters and highlights.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::base::error::{Error, Result};
use crate::base::fs::write_atomic;
use crate::base::size::show_size;
use crate::base::time::rfc3339;
use crate::cmd::ExitStatus;
use crate::cmd::graph::{Graph, kind};
use crate::run::lineage::{ColumnRef, Lineage};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use crate::spec::dag::{Dag, Node};
use crate::spec::datatest::{DataTest, Severity};
use crate::spec::project::{Column, ModelId, Project};
use crate::spec::select::Selection;
use crate::storage::warehouse::{Warehouse, Zone};

/// Write the page into `output` (default: `<warehouse>/docs`).
pub async fn run(
    ws: &Workspace,
    output: Option<&Path>,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let (project, dag, warehouse) = (&*ws.project, &*ws.dag, &*ws.warehouse);
    let lineage = Lineage::of(ws).await?;
    let html = render(project, dag, warehouse, &lineage)?;
    let dir = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| warehouse.root.join("docs"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let path = dir.join("index.html");
    write_atomic(&path, html.as_bytes())?;
    printer.line(&format!("Wrote {}", path.display()))?;
    for (model, why) in &lineage.unplanned {
        printer.warn(&format!(
            "`{model}` has no columns or lineage in the docs: {why}"
        ));
    }
    Ok(ExitStatus::Success)
}

/// What the last build said of a model: its status and its tests'.
struct LastRun {
    status: String,
    tests: BTreeMap<String, String>,
}

fn last_runs(warehouse: &Warehouse) -> BTreeMap<String, LastRun> {
    let path = warehouse.root.join("_mart/run_results.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out = BTreeMap::new();
    for r in json["results"].as_array().into_iter().flatten() {
        let tests = r["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some((
                    t["test"].as_str()?.to_string(),
                    t["status"].as_str()?.to_string(),
                ))
            })
            .collect();
        if let Some(name) = r["name"].as_str() {
            out.insert(
                name.to_string(),
                LastRun {
                    status: r["status"].as_str().unwrap_or("").to_string(),
                    tests,
                },
            );
        }
    }
    out
}

/// One source or model on the page.
struct Entry<'a> {
    node: Node,
    name: String,
    description: Option<&'a str>,
    tags: &'a [String],
    declared: &'a [Column],
    tests: &'a [DataTest],
    /// The SQL file or the raw files' path.
    file: String,
    sql: Option<&'a str>,
    reads: Vec<String>,
    read_by: Vec<String>,
}

fn anchor(table: &str) -> String {
    format!("t-{table}")
}

fn column_anchor(c: &ColumnRef) -> String {
    format!("c-{}.{}", c.table, c.column)
}

/// HTML-escape text.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn link(table: &str) -> String {
    format!("<a href=\"#{}\">{}</a>", esc(&anchor(table)), esc(table))
}

pub fn render(
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
    lineage: &Lineage,
) -> Result<String> {
    let runs = last_runs(warehouse);
    let entries = entries(project, dag);
    let title = std::fs::canonicalize(&project.root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "mart".into());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · mart docs</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(
        html,
        "<header><h1>{}</h1><p>{} sources · {} models · generated {}</p>\
         <input id=\"filter\" type=\"search\" placeholder=\"Filter tables…\" aria-label=\"Filter tables\"></header>",
        esc(&title),
        project.sources.len(),
        project.models.len(),
        esc(&rfc3339(std::time::SystemTime::now()))
    );
    index(&mut html, project, &entries);
    html.push_str("</nav>\n<main>\n");

    let selection = Selection {
        nodes: entries.iter().map(|e| e.node).collect(),
    };
    let graph = Graph::new(project, dag, &selection);
    html.push_str("<section id=\"graph\"><h2>Lineage graph</h2>\n");
    html.push_str(&svg(project, &graph));
    html.push_str("</section>\n");

    let page = Page {
        project,
        warehouse,
        lineage,
        runs: &runs,
    };
    for e in &entries {
        page.section(&mut html, e)?;
    }
    let _ = write!(
        html,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    Ok(html)
}

/// Every source, then every model in build order.
fn entries<'a>(project: &'a Project, dag: &Dag) -> Vec<Entry<'a>> {
    let names = |models: &[ModelId]| -> Vec<String> {
        models
            .iter()
            .map(|&m| project.models[m].name.clone())
            .collect()
    };
    let sources = project
        .source_ids()
        .zip(&project.sources)
        .map(|(s, source)| Entry {
            node: Node::Source(s),
            name: format!("raw.{}", source.name),
            description: source.description.as_deref(),
            tags: &[],
            declared: &source.columns,
            tests: &source.tests,
            file: source.origin(),
            sql: None,
            reads: Vec::new(),
            read_by: names(&dag.source_readers[s]),
        });
    let models = dag.order.iter().map(|&m| {
        let model = &project.models[m];
        Entry {
            node: Node::Model(m),
            name: model.name.clone(),
            description: model.description.as_deref(),
            tags: &model.tags,
            declared: &model.columns,
            tests: &model.tests,
            file: model.sql_path.display().to_string(),
            sql: Some(&model.sql),
            reads: dag.deps[m].iter().map(|d| d.name(project)).collect(),
            read_by: names(&dag.readers[m]),
        }
    });
    sources.chain(models).collect()
}

/// The index of the page: sources, then models, each linked to its section.
fn index(html: &mut String, project: &Project, entries: &[Entry]) {
    html.push_str("<nav>\n");
    for (heading, sources) in [("Sources", true), ("Models", false)] {
        let _ = write!(html, "<h2>{heading}</h2><ul>");
        for e in entries
            .iter()
            .filter(|e| matches!(e.node, Node::Source(_)) == sources)
        {
            let _ = write!(
                html,
                "<li data-name=\"{}\"><a href=\"#{}\">{}</a> <span class=\"kind k-{k}\">{k}</span></li>",
                esc(&e.name),
                esc(&anchor(&e.name)),
                esc(&e.name),
                k = kind(project, e.node)
            );
        }
        html.push_str("</ul>\n");
    }
}

/// What every section of the page draws on.
struct Page<'a> {
    project: &'a Project,
    warehouse: &'a Warehouse,
    lineage: &'a Lineage,
    runs: &'a BTreeMap<String, LastRun>,
}

impl Page<'_> {
    /// One source or model: its heading, facts, columns, tests and SQL.
    fn section(&self, html: &mut String, e: &Entry) -> Result<()> {
        let project = self.project;
        let k = kind(project, e.node);
        let _ = write!(
            html,
            "<section class=\"table\" id=\"{}\" data-name=\"{}\">\n<h2>{} <span class=\"kind k-{k}\">{k}</span>",
            esc(&anchor(&e.name)),
            esc(&e.name),
            esc(&e.name)
        );
        for tag in e.tags {
            let _ = write!(html, " <span class=\"tag\">{}</span>", esc(tag));
        }
        html.push_str("</h2>\n");
        if let Some(d) = e.description {
            let _ = writeln!(html, "<p class=\"description\">{}</p>", esc(d));
        }
        self.facts(html, e)?;
        self.columns(html, e);
        let table_tests: Vec<String> = e
            .tests
            .iter()
            .filter(|t| t.column.is_none())
            .map(|t| test_badge(t, self.runs.get(&e.name)))
            .collect();
        if !table_tests.is_empty() {
            let _ = writeln!(
                html,
                "<p class=\"tests\">Table tests: {}</p>",
                table_tests.join(" ")
            );
        }
        if let Some(sql) = e.sql {
            let _ = writeln!(
                html,
                "<details open><summary>SQL</summary><pre><code>{}</code></pre></details>",
                esc(sql.trim_end())
            );
        }
        html.push_str("</section>\n");
        Ok(())
    }

    /// Where it comes from, what it reads, its rows and last build.
    fn facts(&self, html: &mut String, e: &Entry) -> Result<()> {
        let (project, warehouse, runs) = (self.project, self.warehouse, self.runs);
        let version = match e.node {
            Node::Source(s) => warehouse.current(Zone::Raw, &project.sources[s].name)?,
            Node::Model(m) if project.models[m].materialized.is_stored() => {
                warehouse.current(Zone::Mart, &project.models[m].name)?
            }
            Node::Model(_) => None,
        };
        html.push_str("<dl>");
        let what = if e.sql.is_some() { "SQL" } else { "Raw files" };
        let _ = write!(
            html,
            "<dt>{what}</dt><dd><code>{}</code></dd>",
            esc(&e.file)
        );
        if let Node::Model(m) = e.node {
            let model = &project.models[m];
            let mut how = model.materialized.as_str().to_string();
            if let Some(inc) = &model.incremental {
                how.push_str(&format!(" ({})", inc.columns().join(", ")));
            }
            if !model.partition_by.is_empty() {
                how.push_str(&format!(
                    ", partitioned by {}",
                    model.partition_by.join(", ")
                ));
            }
            let _ = write!(html, "<dt>Materialized</dt><dd>{}</dd>", esc(&how));
        }
        let list = |names: &[String]| {
            if names.is_empty() {
                "—".to_string()
            } else {
                names.iter().map(|n| link(n)).collect::<Vec<_>>().join(", ")
            }
        };
        if matches!(e.node, Node::Model(_)) {
            let _ = write!(html, "<dt>Reads</dt><dd>{}</dd>", list(&e.reads));
        }
        let _ = write!(html, "<dt>Read by</dt><dd>{}</dd>", list(&e.read_by));
        if let Some(v) = &version {
            let r = &v.record;
            let at = UNIX_EPOCH + Duration::from_millis(r.written_at_ms as u64);
            let _ = write!(
                html,
                "<dt>Rows</dt><dd>{}</dd><dt>Size</dt><dd>{}</dd><dt>Last built</dt><dd>{}</dd>",
                crate::run::report::rows(r.rows),
                show_size(r.bytes),
                esc(&rfc3339(at))
            );
        } else if match e.node {
            Node::Source(_) => true,
            Node::Model(m) => project.models[m].materialized.is_stored(),
        } {
            html.push_str("<dt>Rows</dt><dd>not built yet</dd>");
        }
        if let Some(run) = runs.get(&e.name) {
            let _ = write!(
                html,
                "<dt>Last run</dt><dd><span class=\"status s-{s}\">{s}</span></dd>",
                s = esc(&run.status)
            );
        }
        html.push_str("</dl>\n");
        Ok(())
    }

    /// The columns the query returns, with what the YAML says of them.
    fn columns(&self, html: &mut String, e: &Entry) {
        let (lineage, runs) = (self.lineage, self.runs);
        let planned = lineage.tables.get(&e.name);
        let mut names: Vec<(String, Option<&crate::run::lineage::Column>)> = planned
            .into_iter()
            .flatten()
            .map(|c| (c.name.clone(), Some(c)))
            .collect();
        for d in e.declared {
            if !names.iter().any(|(n, _)| n.eq_ignore_ascii_case(&d.name)) {
                names.push((d.name.clone(), None));
            }
        }
        if let Some(why) = lineage.unplanned.get(&e.name) {
            let _ = writeln!(
                html,
                "<p class=\"warning\">Columns unknown: {}</p>",
                esc(why)
            );
        }
        if !names.is_empty() {
            html.push_str("<table class=\"columns\"><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th><th>Derived from</th></tr></thead><tbody>\n");
            let last = runs.get(&e.name);
            for (name, planned) in &names {
                let declared = e
                    .declared
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(name));
                let id = column_anchor(&ColumnRef {
                    table: e.name.clone(),
                    column: name.clone(),
                });
                let data_type =
                    planned.map_or("not in the output".to_string(), |c| c.data_type.clone());
                let description = declared
                    .and_then(|d| d.description.as_deref())
                    .unwrap_or("");
                let tests: Vec<String> = e
                    .tests
                    .iter()
                    .filter(|t| {
                        t.column
                            .as_deref()
                            .is_some_and(|c| c.eq_ignore_ascii_case(name))
                    })
                    .map(|t| test_badge(t, last))
                    .collect();
                let from: Vec<String> = planned
                    .iter()
                    .flat_map(|c| &c.from)
                    .map(|f| {
                        format!(
                            "<a href=\"#{}\">{}</a>",
                            esc(&column_anchor(f)),
                            esc(&f.to_string())
                        )
                    })
                    .collect();
                let _ = writeln!(
                    html,
                    "<tr id=\"{}\"><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&id),
                    esc(name),
                    esc(&data_type),
                    esc(description),
                    tests.join(" "),
                    from.join("<br>")
                );
            }
            html.push_str("</tbody></table>\n");
        }
    }
}

/// A test as a badge, coloured by its last result when the last build ran it.
fn test_badge(test: &DataTest, last: Option<&LastRun>) -> String {
    let name = test.name();
    let status = last.and_then(|l| l.tests.get(&name)).map(String::as_str);
    let mut class = String::from("test");
    if let Some(s) = status {
        class.push_str(&format!(" s-{s}"));
    }
    let warn = if test.severity == Severity::Warn {
        " (warn)"
    } else {
        ""
    };
    let title = match status {
        Some(s) => format!("{name}: {s} in the last build"),
        None => format!("{name}: not run by the last build"),
    };
    // In a column's row, the column goes without saying.
    let label = match &test.column {
        Some(_) => name.split('(').next().unwrap_or(&name).to_string(),
        None => name.clone(),
    };
    format!(
        "<span class=\"{class}\" title=\"{}\">{}{warn}</span>",
        esc(&title),
        esc(&label)
    )
}

/// The graph as SVG: layers left to right, each node a link to its section.
fn svg(project: &Project, graph: &Graph) -> String {
    let place = graph.layout();
    let longest = graph
        .nodes
        .iter()
        .map(|n| n.name(project).chars().count())
        .max()
        .unwrap_or(8);
    let (w, h) = ((longest as f64 * 7.8 + 28.0).clamp(110.0, 320.0), 40.0);
    let (dx, dy, margin) = (w + 70.0, 58.0, 16.0);
    let xy = |i: usize| {
        let (layer, row) = place[i];
        (margin + layer as f64 * dx, margin + row as f64 * dy)
    };
    let layers = place.iter().map(|p| p.0 + 1).max().unwrap_or(1);
    let rows = place.iter().map(|p| p.1 + 1).max().unwrap_or(1);
    let width = 2.0 * margin + (layers - 1) as f64 * dx + w;
    let height = 2.0 * margin + (rows - 1) as f64 * dy + h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Graph of sources and models\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>"
    );
    for &(from, to) in &graph.edges {
        let ((x1, y1), (x2, y2)) = (xy(from), xy(to));
        let (x1, y1, x2, y2) = (x1 + w, y1 + h / 2.0, x2, y2 + h / 2.0);
        let _ = writeln!(
            out,
            "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}\" marker-end=\"url(#arrow)\"/>",
            esc(&graph.nodes[from].name(project)),
            esc(&graph.nodes[to].name(project)),
            x1 + 35.0,
            x2 - 35.0
        );
    }
    for (i, &node) in graph.nodes.iter().enumerate() {
        let (x, y) = xy(i);
        let name = node.name(project);
        let k = kind(project, node);
        let _ = writeln!(
            out,
            "<a href=\"#{}\"><g class=\"node k-{k}\" data-name=\"{}\"><title>{} ({k})</title>\
             <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text><text class=\"sub\" x=\"{:.1}\" y=\"{:.1}\">{k}</text></g></a>",
            esc(&anchor(&name)),
            esc(&name),
            esc(&name),
            x + 12.0,
            y + 17.0,
            esc(&name),
            x + 12.0,
            y + 32.0
        );
    }
    out.push_str("</svg>\n");
    out
}

const STYLE: &str = r#"
:root{--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--accent:#0969da;--source:#1a7f37;--table:#0969da;--view:#8250df;--ephemeral:#9a6700;--incremental:#bc4c00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);display:grid;grid-template-columns:260px 1fr;grid-template-rows:auto 1fr;min-height:100vh}
header{grid-column:1/3;display:flex;align-items:center;gap:24px;padding:12px 24px;border-bottom:1px solid var(--line);background:#fff;position:sticky;top:0;z-index:2}
header h1{font-size:20px;margin:0}header p{margin:0;color:var(--muted);flex:1}
#filter{padding:6px 10px;border:1px solid var(--line);border-radius:6px;width:240px;font:inherit}
nav{border-right:1px solid var(--line);padding:8px 16px;background:var(--bg);overflow:auto}
nav h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:16px 0 4px}
nav ul{list-style:none;margin:0;padding:0}nav li{padding:2px 0;display:flex;justify-content:space-between;gap:8px}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
main{padding:16px 32px;min-width:0}
section{margin-bottom:32px}section.table{border:1px solid var(--line);border-radius:8px;padding:4px 20px 12px}
section.table:target{box-shadow:0 0 0 3px #54aeff66}
section h2{font-size:18px}
.kind,.tag,.test,.status{display:inline-block;font-size:11px;padding:1px 7px;border-radius:10px;border:1px solid var(--line);color:var(--muted);white-space:nowrap;vertical-align:middle}
.k-source{color:var(--source)}.k-table{color:var(--table)}.k-view{color:var(--view)}.k-ephemeral{color:var(--ephemeral)}.k-incremental{color:var(--incremental)}
.tag{background:var(--bg)}
.s-pass,.s-built,.s-up_to_date{border-color:#1a7f37;color:#1a7f37}.s-fail,.s-error,.s-failed{border-color:#cf222e;color:#cf222e}.s-warn,.s-skipped{border-color:#9a6700;color:#9a6700}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 12px}dt{color:var(--muted)}dd{margin:0}
table.columns{border-collapse:collapse;width:100%;margin:8px 0}
table.columns th,table.columns td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
table.columns th{font-size:12px;color:var(--muted);font-weight:600}
table.columns tr:target{background:#fff8c5}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;font-size:12.5px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
summary{cursor:pointer;color:var(--muted)}
.warning{color:#9a6700}
svg.dag{max-width:100%;height:auto}
#graph{overflow:auto;border:1px solid var(--line);border-radius:8px;padding:8px;background:#fff}
svg.dag .edge{fill:none;stroke:#8c959f;stroke-width:1.4}svg.dag marker path{fill:#8c959f}
svg.dag .node rect{fill:#fff;stroke:currentColor;stroke-width:1.5}
svg.dag .node.k-view rect,svg.dag .node.k-ephemeral rect{stroke-dasharray:5 3}
svg.dag .node text{fill:var(--ink);font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
svg.dag .node text.sub{fill:var(--muted);font:10px -apple-system,Helvetica,Arial,sans-serif}
svg.dag .node.k-source{color:var(--source)}svg.dag .node.k-table{color:var(--table)}svg.dag .node.k-view{color:var(--view)}svg.dag .node.k-ephemeral{color:var(--ephemeral)}svg.dag .node.k-incremental{color:var(--incremental)}
svg.dag a:hover rect,svg.dag .node.on rect{fill:#ddf4ff}svg.dag .edge.on{stroke:var(--accent);stroke-width:2.2}
.hidden{display:none!important}
"#;

const SCRIPT: &str = r#"
(function(){
  var filter=document.getElementById('filter');
  filter.addEventListener('input',function(){
    var q=filter.value.trim().toLowerCase();
    document.querySelectorAll('nav li,section.table').forEach(function(el){
      el.classList.toggle('hidden',q!==''&&el.dataset.name.indexOf(q)<0);
    });
  });
  function highlight(){
    var name=decodeURIComponent(location.hash.replace(/^#t-/,''));
    document.querySelectorAll('svg.dag .node').forEach(function(n){n.classList.toggle('on',n.dataset.name===name);});
    document.querySelectorAll('svg.dag .edge').forEach(function(e){e.classList.toggle('on',e.dataset.from===name||e.dataset.to===name);});
  }
  window.addEventListener('hashchange',highlight);highlight();
})();
"#;
