//! Node selection, in the grammar dbt users know:
//!
//! - `name`, `tag:finance`, `path:sql/finance/`, `source:orders`
//! - `+name` with its ancestors, `name+` with its descendants, `2+name`
//!   and `name+1` to a depth;
//! - selectors separated by spaces are a union, joined by commas an
//!   intersection; `--exclude` takes the same grammar.

use std::collections::BTreeSet;
use std::path::Path;

use crate::base::error::{Error, Result};
use crate::base::suggest::did_you_mean;
use crate::spec::dag::{Dag, Node};
use crate::spec::datatest::DataTest;
use crate::spec::project::{ModelId, Project, SourceId};

/// The selected sources and models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub nodes: BTreeSet<Node>,
}

impl Selection {
    pub fn has_model(&self, m: ModelId) -> bool {
        self.nodes.contains(&Node::Model(m))
    }

    pub fn has_source(&self, s: SourceId) -> bool {
        self.nodes.contains(&Node::Source(s))
    }

    /// The selected sources and models that have data tests, by their SQL
    /// names (`raw.<source>`, then the models in build order), with them.
    pub fn tested<'p>(&self, project: &'p Project, dag: &Dag) -> Vec<(String, &'p [DataTest])> {
        let sources = (project.source_ids().zip(&project.sources))
            .filter(|(s, _)| self.has_source(*s))
            .map(|(_, source)| (format!("raw.{}", source.name), &source.tests[..]));
        let models = (dag.order.iter())
            .filter(|&&m| self.has_model(m))
            .map(|&m| (project.models[m].name.clone(), &project.models[m].tests[..]));
        sources
            .chain(models)
            .filter(|(_, tests)| !tests.is_empty())
            .collect()
    }
}

/// Which nodes to act on, as given to `-s/--select` and `--exclude`.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub select: Vec<String>,
    pub exclude: Vec<String>,
}

/// Select nodes: everything when `select` is empty, minus `exclude`.
pub fn select(project: &Project, dag: &Dag, selector: &Selector) -> Result<Selection> {
    let (select, exclude) = (&selector.select, &selector.exclude);
    let graph = Graph::new(project, dag);
    let mut nodes = if select.iter().all(|s| s.trim().is_empty()) {
        graph.all()
    } else {
        union(&graph, select, "--select")?
    };
    if !exclude.is_empty() {
        let excluded = union(&graph, exclude, "--exclude")?;
        nodes.retain(|n| !excluded.contains(n));
    }
    Ok(Selection { nodes })
}

fn union(graph: &Graph, args: &[String], flag: &str) -> Result<BTreeSet<Node>> {
    let mut out = BTreeSet::new();
    for selector in args.iter().flat_map(|a| a.split_whitespace()) {
        let mut parts = selector.split(',');
        let mut set = atom(graph, parts.next().unwrap_or(""), flag)?;
        for part in parts {
            let other = atom(graph, part, flag)?;
            set.retain(|n| other.contains(n));
        }
        out.extend(set);
    }
    Ok(out)
}

/// One selector: an optional `N+` prefix, a method, an optional `+N` suffix.
fn atom(graph: &Graph, text: &str, flag: &str) -> Result<BTreeSet<Node>> {
    let bad = || {
        Error::usage(format!("`{text}` is not a valid selector in {flag}"))
            .help("selectors look like `name`, `+name`, `name+`, `2+name`, `name+1`, `tag:x`, `path:sql/dir/`, `source:x+`")
    };
    let mut rest = text;
    let mut up = None;
    if let Some(i) = rest.find('+') {
        let depth = &rest[..i];
        if depth.chars().all(|c| c.is_ascii_digit()) && i < rest.len() - 1 {
            up = Some(if depth.is_empty() {
                usize::MAX
            } else {
                depth.parse().map_err(|_| bad())?
            });
            rest = &rest[i + 1..];
        }
    }
    let mut down = None;
    if let Some(i) = rest.rfind('+') {
        let depth = &rest[i + 1..];
        if depth.chars().all(|c| c.is_ascii_digit()) {
            down = Some(if depth.is_empty() {
                usize::MAX
            } else {
                depth.parse().map_err(|_| bad())?
            });
            rest = &rest[..i];
        }
    }
    if rest.is_empty() || rest.contains('+') {
        return Err(bad());
    }
    let base = method(graph, rest, flag)?;
    let mut out = base.clone();
    if let Some(depth) = up {
        out.extend(graph.walk(&base, depth, |n| graph.upstream(n)));
    }
    if let Some(depth) = down {
        out.extend(graph.walk(&base, depth, |n| graph.downstream(n)));
    }
    Ok(out)
}

fn method(graph: &Graph, text: &str, flag: &str) -> Result<BTreeSet<Node>> {
    let p = graph.project;
    let (method, value) = text.split_once(':').unwrap_or(("", text));
    let value_lc = value.to_ascii_lowercase();
    let found: BTreeSet<Node> = match method {
        "" | "model" => p.model_id(&value_lc).map(Node::Model).into_iter().collect(),
        "source" => p
            .source_id(&value_lc)
            .map(Node::Source)
            .into_iter()
            .collect(),
        "tag" => p
            .model_ids()
            .filter(|&m| p.models[m].tags.iter().any(|t| t == value))
            .map(Node::Model)
            .collect(),
        "path" => {
            let want = Path::new(value.trim_start_matches("./"));
            p.model_ids()
                .filter(|&m| p.models[m].sql_path.starts_with(want))
                .map(Node::Model)
                .collect()
        }
        other => {
            return Err(
                Error::usage(format!("unknown selector method `{other}:` in {flag}")).help(
                    did_you_mean(other, ["tag", "path", "source", "model"]).unwrap_or_else(|| {
                        "the methods are `tag:`, `path:`, `source:` and `model:`".into()
                    }),
                ),
            );
        }
    };
    if !found.is_empty() {
        return Ok(found);
    }
    let (what, candidates): (&str, Vec<String>) = match method {
        "" | "model" => ("model", p.models.iter().map(|m| m.name.clone()).collect()),
        "source" => ("source", p.sources.iter().map(|s| s.name.clone()).collect()),
        "tag" => (
            "tag",
            p.models.iter().flat_map(|m| m.tags.clone()).collect(),
        ),
        _ => (
            "SQL path",
            p.models
                .iter()
                .map(|m| m.sql_path.to_string_lossy().into_owned())
                .collect(),
        ),
    };
    let help = if what == "model" && p.source(&value_lc).is_some() {
        Some(format!(
            "`{value}` is a source: select it as `source:{value}`"
        ))
    } else {
        did_you_mean(&value_lc, candidates.iter().map(String::as_str))
    };
    let err = Error::usage(format!("no {what} matches `{value}` in {flag}"));
    Err(match help {
        Some(h) => err.help(h),
        None => err,
    })
}

/// The project's graph with sources as nodes, walkable both ways.
struct Graph<'a> {
    project: &'a Project,
    dag: &'a Dag,
}

impl<'a> Graph<'a> {
    fn new(project: &'a Project, dag: &'a Dag) -> Self {
        Graph { project, dag }
    }

    fn all(&self) -> BTreeSet<Node> {
        self.project
            .source_ids()
            .map(Node::Source)
            .chain(self.project.model_ids().map(Node::Model))
            .collect()
    }

    fn upstream(&self, n: Node) -> Vec<Node> {
        match n {
            Node::Source(_) => Vec::new(),
            Node::Model(m) => self.dag.deps[m].clone(),
        }
    }

    fn downstream(&self, n: Node) -> Vec<Node> {
        let readers = match n {
            Node::Source(s) => &self.dag.source_readers[s],
            Node::Model(m) => &self.dag.readers[m],
        };
        readers.iter().map(|&m| Node::Model(m)).collect()
    }

    /// Nodes reachable from `start` in at most `depth` steps of `next`.
    fn walk(
        &self,
        start: &BTreeSet<Node>,
        depth: usize,
        next: impl Fn(Node) -> Vec<Node>,
    ) -> BTreeSet<Node> {
        let mut seen = BTreeSet::new();
        let mut frontier: Vec<Node> = start.iter().copied().collect();
        for _ in 0..depth {
            let mut found = Vec::new();
            for n in frontier {
                for x in next(n) {
                    if seen.insert(x) {
                        found.push(x);
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            frontier = found;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::project;

    /// raw.orders -> stg -> mid -> top, raw.users -> users -> top; tags
    /// and a folder to select by.
    fn graph() -> (Project, Dag) {
        let mut p = project(
            &["orders", "users"],
            &[
                ("stg", "select * from raw.orders"),
                ("mid", "select * from stg"),
                ("top", "select * from mid join users using (id)"),
                ("users", "select * from raw.users"),
            ],
        );
        p.models[ModelId(1)].tags = vec!["finance".into()];
        p.models[ModelId(2)].tags = vec!["finance".into(), "daily".into()];
        p.models[ModelId(2)].sql_path = "sql/marts/top.sql".into();
        let dag = Dag::build(&p).unwrap();
        (p, dag)
    }

    fn pick(select: &[&str], exclude: &[&str]) -> Result<Vec<String>> {
        let (p, dag) = graph();
        let selector = Selector {
            select: select.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        };
        let selection = super::select(&p, &dag, &selector)?;
        Ok(selection.nodes.iter().map(|n| n.name(&p)).collect())
    }

    #[test]
    fn names_and_graph_operators() {
        assert_eq!(pick(&["mid"], &[]).unwrap(), ["mid"]);
        assert_eq!(pick(&["+mid"], &[]).unwrap(), ["raw.orders", "stg", "mid"]);
        assert_eq!(pick(&["mid+"], &[]).unwrap(), ["mid", "top"]);
        assert_eq!(pick(&["1+top"], &[]).unwrap(), ["mid", "top", "users"]);
        assert_eq!(pick(&["stg+1"], &[]).unwrap(), ["stg", "mid"]);
        assert_eq!(
            pick(&["source:users+"], &[]).unwrap(),
            ["raw.users", "top", "users"]
        );
    }

    #[test]
    fn methods_unions_intersections_and_exclusions() {
        assert_eq!(pick(&["tag:finance"], &[]).unwrap(), ["mid", "top"]);
        assert_eq!(pick(&["tag:finance,tag:daily"], &[]).unwrap(), ["top"]);
        assert_eq!(pick(&["stg users"], &[]).unwrap(), ["stg", "users"]);
        assert_eq!(pick(&["path:sql/marts/"], &[]).unwrap(), ["top"]);
        assert_eq!(
            pick(&[], &["tag:finance", "source:orders"]).unwrap(),
            ["raw.users", "stg", "users"]
        );
        assert_eq!(
            pick(&["+top"], &["+mid"]).unwrap(),
            ["raw.users", "top", "users"]
        );
    }

    #[test]
    fn what_matches_nothing_is_an_error_with_a_suggestion() {
        let err = pick(&["tpo"], &[]).unwrap_err();
        assert_eq!(err.message, "no model matches `tpo` in --select");
        assert_eq!(err.help.as_deref(), Some("did you mean `top`?"));
        let err = pick(&["orders"], &[]).unwrap_err();
        assert_eq!(
            err.help.as_deref(),
            Some("`orders` is a source: select it as `source:orders`")
        );
        let err = pick(&[], &["tags:x"]).unwrap_err();
        assert_eq!(err.message, "unknown selector method `tags:` in --exclude");
    }
}
