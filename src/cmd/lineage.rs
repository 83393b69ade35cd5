//! `mart lineage TABLE.COLUMN`: where a column comes from, down to the raw
//! columns, or with `--downstream` what is computed from it.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use crate::base::error::Result;
use crate::cmd::{ExitStatus, ListFormat, json};
use crate::run::lineage::{ColumnRef, Lineage};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;

/// `mart lineage model.column`: where a column comes from, to the raw
/// columns, or with `--downstream` what is computed from it.
pub async fn run(
    ws: &Workspace,
    column: &str,
    downstream: bool,
    format: ListFormat,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let lineage = Lineage::of(ws).await?;
    let start = lineage.parse(column)?;
    let next = |c: &ColumnRef| {
        if downstream {
            lineage.downstream(c)
        } else {
            lineage.upstream(c)
        }
    };
    match format {
        ListFormat::Text => {
            let mut out = format!("{start}\n");
            tree(&start, "", &next, &mut Vec::new(), &mut out);
            printer.out(&out)?;
        }
        ListFormat::Json => {
            // Every edge reachable from the column, each once.
            #[derive(Serialize)]
            struct Edge {
                from: String,
                to: String,
            }
            let mut edges = Vec::new();
            let mut todo = vec![start.clone()];
            let mut seen = BTreeSet::new();
            while let Some(c) = todo.pop() {
                if !seen.insert(c.clone()) {
                    continue;
                }
                for n in next(&c) {
                    let (from, to) = if downstream {
                        (c.to_string(), n.to_string())
                    } else {
                        (n.to_string(), c.to_string())
                    };
                    edges.push(Edge { from, to });
                    todo.push(n);
                }
            }
            let value = serde_json::json!({ "column": start.to_string(), "downstream": downstream, "edges": edges });
            printer.line(&json(&value)?)?;
        }
    }
    Ok(ExitStatus::Success)
}

fn tree(
    at: &ColumnRef,
    prefix: &str,
    next: &dyn Fn(&ColumnRef) -> BTreeSet<ColumnRef>,
    path: &mut Vec<ColumnRef>,
    out: &mut String,
) {
    let children: Vec<ColumnRef> = next(at).into_iter().collect();
    path.push(at.clone());
    for (k, child) in children.iter().enumerate() {
        let last = k + 1 == children.len();
        let (head, tail) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let _ = writeln!(out, "{prefix}{head}{child}");
        if !path.contains(child) {
            tree(child, &format!("{prefix}{tail}"), next, path, out);
        }
    }
    path.pop();
}
