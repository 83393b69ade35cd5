//! `mart graph`: the DAG of sources and models, as a tree on the terminal
//! (as `cargo tree` prints one), or as Graphviz DOT or Mermaid to draw it.
//! The layered layout of `docs` is here too.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::base::error::Result;
use crate::cmd::ExitStatus;
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use crate::spec::dag::{Dag, Node};
use crate::spec::project::Project;
use crate::spec::select::{self, Selection, Selector};

/// The selected nodes and the edges between them (from what is read to
/// what reads it), nodes in build order, sources first.
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Pairs of indexes into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

impl Graph {
    pub fn new(project: &Project, dag: &Dag, selection: &Selection) -> Graph {
        let sources = project.source_ids().map(Node::Source);
        let models = dag.order.iter().map(|&m| Node::Model(m));
        let nodes: Vec<Node> = sources
            .chain(models)
            .filter(|n| selection.nodes.contains(n))
            .collect();
        let index = |n: &Node| nodes.iter().position(|x| x == n);
        let mut edges = Vec::new();
        for (to, node) in nodes.iter().enumerate() {
            if let Node::Model(m) = node {
                edges.extend(dag.deps[*m].iter().filter_map(index).map(|from| (from, to)));
            }
        }
        Graph { nodes, edges }
    }

    fn readers(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges.iter().filter(move |e| e.0 == i).map(|e| e.1)
    }

    fn has_inputs(&self, i: usize) -> bool {
        self.edges.iter().any(|e| e.1 == i)
    }

    /// Each node's layer (the longest path to it from a node reading
    /// nothing) and, within a layer, its row: rows follow the mean row of
    /// what a node reads, which keeps edges short and rarely crossing.
    pub fn layout(&self) -> Vec<(usize, usize)> {
        let n = self.nodes.len();
        let mut layer = vec![0; n];
        // Edges are listed by reader, in build order, so each node's layer
        // is final before the edges leaving it are seen.
        for &(from, to) in &self.edges {
            layer[to] = layer[to].max(layer[from] + 1);
        }
        let layers = layer.iter().copied().max().map_or(0, |l| l + 1);
        let mut row = vec![0.0f64; n];
        let mut place = vec![(0, 0); n];
        for l in 0..layers {
            let mut members: Vec<usize> = (0..n).filter(|&i| layer[i] == l).collect();
            let key = |i: usize| {
                let inputs: Vec<f64> = self
                    .edges
                    .iter()
                    .filter(|e| e.1 == i)
                    .map(|e| row[e.0])
                    .collect();
                if inputs.is_empty() {
                    i as f64
                } else {
                    inputs.iter().sum::<f64>() / inputs.len() as f64
                }
            };
            let keys: Vec<f64> = members.iter().map(|&i| key(i)).collect();
            let mut order: Vec<usize> = (0..members.len()).collect();
            order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
            members = order.iter().map(|&k| members[k]).collect();
            for (r, &i) in members.iter().enumerate() {
                row[i] = r as f64;
                place[i] = (l, r);
            }
        }
        place
    }
}

/// A node's label with its kind: `raw.users (source)`, `stg_users (view)`.
pub fn kind(project: &Project, node: Node) -> &'static str {
    match node {
        Node::Source(_) => "source",
        Node::Model(m) => project.models[m].materialized.as_str(),
    }
}

/// How `mart graph` draws the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A tree, for the terminal.
    Text,
    /// Graphviz DOT.
    Dot,
    Mermaid,
}

pub fn run(
    ws: &Workspace,
    selector: &Selector,
    format: GraphFormat,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let (project, dag) = (&*ws.project, &*ws.dag);
    let selection = select::select(project, dag, selector)?;
    let graph = Graph::new(project, dag, &selection);
    let text = match format {
        GraphFormat::Text => tree(project, &graph),
        GraphFormat::Dot => dot(project, &graph),
        GraphFormat::Mermaid => mermaid(project, &graph),
    };
    printer.out(&text)?;
    Ok(ExitStatus::Success)
}

/// Every node reading nothing in the selection, with what reads it below;
/// a node met again is marked `(*)` and not expanded twice.
fn tree(project: &Project, graph: &Graph) -> String {
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    for root in (0..graph.nodes.len()).filter(|&i| !graph.has_inputs(i)) {
        branch(project, graph, root, "", "", &mut seen, &mut out);
    }
    out
}

fn branch(
    project: &Project,
    graph: &Graph,
    i: usize,
    first: &str,
    rest: &str,
    seen: &mut BTreeSet<usize>,
    out: &mut String,
) {
    let node = graph.nodes[i];
    let again = !seen.insert(i) && graph.readers(i).next().is_some();
    let _ = writeln!(
        out,
        "{first}{} ({}){}",
        node.name(project),
        kind(project, node),
        if again { " (*)" } else { "" }
    );
    if again {
        return;
    }
    let readers: Vec<usize> = graph.readers(i).collect();
    for (k, &r) in readers.iter().enumerate() {
        let last = k + 1 == readers.len();
        let (head, tail) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        branch(
            project,
            graph,
            r,
            &format!("{rest}{head}"),
            &format!("{rest}{tail}"),
            seen,
            out,
        );
    }
}

fn dot(project: &Project, graph: &Graph) -> String {
    let mut out = String::from(
        "digraph mart {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fillcolor=\"#eef2ff\"];\n",
    );
    for &node in &graph.nodes {
        let style = match kind(project, node) {
            "source" => ", shape=cylinder, fillcolor=\"#e6f4ea\"",
            "view" | "ephemeral" => ", style=\"rounded,dashed,filled\", fillcolor=\"#f8f9fa\"",
            _ => "",
        };
        let name = node.name(project);
        let _ = writeln!(
            out,
            "  \"{name}\" [label=\"{name}\\n{}\"{style}];",
            kind(project, node)
        );
    }
    for &(from, to) in &graph.edges {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\";",
            graph.nodes[from].name(project),
            graph.nodes[to].name(project)
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid(project: &Project, graph: &Graph) -> String {
    // Ids apart from names: a model may be called like a source.
    let id = |node: Node| match node {
        Node::Source(s) => format!("source_{}", project.sources[s].name),
        Node::Model(m) => format!("model_{}", project.models[m].name),
    };
    let mut out = String::from("flowchart LR\n");
    for &node in &graph.nodes {
        let name = node.name(project);
        let shape = match kind(project, node) {
            "source" => format!("[(\"{name}\")]"),
            "view" | "ephemeral" => format!("([\"{name}\"])"),
            _ => format!("[\"{name}\"]"),
        };
        let _ = writeln!(out, "    {}{shape}", id(node));
    }
    for &(from, to) in &graph.edges {
        let _ = writeln!(
            out,
            "    {} --> {}",
            id(graph.nodes[from]),
            id(graph.nodes[to])
        );
    }
    out
}
