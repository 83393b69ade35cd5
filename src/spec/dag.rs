//! The dependency graph of a project: which sources and models each model
//! reads (inferred from its SQL), and the order to build them in.

use std::collections::BTreeSet;

use crate::base::error::{Error, Location, Result};
use crate::base::suggest::closest;
use crate::spec::datatest::{Check, DataTest};
use crate::spec::project::{ModelId, Project, SourceId};
use crate::spec::sql::{self, TableRef};

/// Something a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Source(SourceId),
    Model(ModelId),
}

impl Node {
    /// How SQL names it: `raw.<source>` or the model's name.
    pub fn name(self, project: &Project) -> String {
        match self {
            Node::Source(s) => format!("raw.{}", project.sources[s].name),
            Node::Model(m) => project.models[m].name.clone(),
        }
    }
}

/// Models in dependency order, with what each reads.
#[derive(Debug)]
pub struct Dag {
    /// For each model (by index in `Project::models`), what it reads.
    pub deps: Vec<Vec<Node>>,
    /// For each model, the models that read it.
    pub readers: Vec<Vec<ModelId>>,
    /// For each model, the other tables its data tests read: it is tested
    /// (so built) after them.
    pub test_deps: Vec<Vec<Node>>,
    /// For each model, the models that wait for it: its readers, and the
    /// models whose tests read it.
    pub waiters: Vec<Vec<ModelId>>,
    /// For each source, the models that read it.
    pub source_readers: Vec<Vec<ModelId>>,
    /// Model indexes, every model after all the models it reads. Within a
    /// layer of the graph models are in name order, so the order is stable.
    pub order: Vec<ModelId>,
}

impl Dag {
    /// Parse every model's SQL, resolve what it reads and order the models.
    pub fn build(project: &Project) -> Result<Dag> {
        let mut deps = Vec::with_capacity(project.models.len());
        let mut refs = Vec::with_capacity(project.models.len());
        let sqls: Vec<&str> = project.models.iter().map(|m| m.sql.as_str()).collect();
        for (model, found) in project.models.iter().zip(sql::model_refs_all(&sqls)) {
            let found = found.map_err(|e| {
                let at = Location::new(&model.sql_display, e.line, e.column);
                let err = Error::usage(format!("model `{}`: {}", model.name, e.message))
                    .at(at, Some(&model.sql));
                match e.help {
                    Some(h) => err.help(h),
                    None => err,
                }
            })?;
            let mut nodes = Vec::new();
            for r in &found {
                let at = Location::new(&model.sql_display, r.line, r.column).with_len(r.len);
                let node = resolve(
                    project,
                    &format!("model `{}`", model.name),
                    r,
                    at,
                    Some(&model.sql),
                )?;
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
            deps.push(nodes);
            refs.push(found);
        }
        let mut test_deps = Vec::with_capacity(project.models.len());
        for (m, model) in project.model_ids().zip(&project.models) {
            let mut nodes: Vec<Node> = Vec::new();
            for node in tests_read(project, &model.name, &model.tests)? {
                if node != Node::Model(m) && !deps[m].contains(&node) && !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
            test_deps.push(nodes);
        }
        for source in &project.sources {
            tests_read(project, &format!("raw.{}", source.name), &source.tests)?;
        }
        let mut readers = vec![Vec::new(); project.models.len()];
        let mut source_readers = vec![Vec::new(); project.sources.len()];
        for (m, nodes) in project.model_ids().zip(&deps) {
            for node in nodes {
                match *node {
                    Node::Source(s) => source_readers[s].push(m),
                    Node::Model(x) => readers[x].push(m),
                }
            }
        }
        let mut waiters = readers.clone();
        for (m, nodes) in project.model_ids().zip(&test_deps) {
            for node in nodes {
                if let &Node::Model(x) = node {
                    waiters[x].push(m);
                }
            }
        }
        let mut dag = Dag {
            deps,
            readers,
            test_deps,
            waiters,
            source_readers,
            order: Vec::new(),
        };
        dag.order = order(project, &dag, &refs)?;
        Ok(dag)
    }

    /// A graph of the project's models reading nothing, for when the real
    /// one cannot be built but the tables should still be usable.
    pub fn empty(project: &Project) -> Dag {
        let n = project.models.len();
        Dag {
            deps: vec![Vec::new(); n],
            readers: vec![Vec::new(); n],
            test_deps: vec![Vec::new(); n],
            waiters: vec![Vec::new(); n],
            source_readers: vec![Vec::new(); project.sources.len()],
            order: project.model_ids().collect(),
        }
    }

    /// The models that must be built before `model`: those it reads and
    /// those its tests read.
    pub fn waits_for(&self, model: ModelId) -> impl Iterator<Item = ModelId> + '_ {
        self.deps[model]
            .iter()
            .chain(&self.test_deps[model])
            .filter_map(|n| match n {
                Node::Model(m) => Some(*m),
                Node::Source(_) => None,
            })
    }

    /// The models `model` reads, directly.
    pub fn model_deps(&self, model: ModelId) -> impl Iterator<Item = ModelId> + '_ {
        self.deps[model].iter().filter_map(|n| match n {
            Node::Model(m) => Some(*m),
            Node::Source(_) => None,
        })
    }
}

/// What the tests of table `owner` read (any table, itself included).
fn tests_read(project: &Project, owner: &str, tests: &[DataTest]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for test in tests {
        let what = format!("test `{}` of `{owner}`", test.name());
        if let Some(to) = test.reads() {
            let r = TableRef {
                parts: to.split('.').map(str::to_string).collect(),
                line: test.declared.line,
                column: test.declared.column,
                len: test.declared.len,
            };
            // The YAML is read again only to show the line of an error.
            let node = resolve(project, &what, &r, test.declared.clone(), None)
                .map_err(|e| e.at(test.declared.clone(), None))?;
            nodes.push(node);
        }
        if let Check::Sql { path, sql, .. } = &test.check {
            for r in sql::model_refs(sql).unwrap_or_default() {
                let at = Location::new(path, r.line, r.column).with_len(r.len);
                nodes.push(resolve(project, &what, &r, at, Some(sql))?);
            }
        }
    }
    Ok(nodes)
}

/// The source or model a name in SQL read by `who` stands for.
fn resolve(
    project: &Project,
    who: &str,
    r: &TableRef,
    at: Location,
    text: Option<&str>,
) -> Result<Node> {
    let found = match r.parts.as_slice() {
        [name] => project.model_id(name).map(Node::Model),
        [schema, name] if schema == "raw" => project.source_id(name).map(Node::Source),
        _ => None,
    };
    if let Some(node) = found {
        return Ok(node);
    }
    let name = r.name();
    let known: Vec<String> = project
        .models
        .iter()
        .map(|m| m.name.clone())
        .chain(project.sources.iter().map(|s| format!("raw.{}", s.name)))
        .collect();
    let help = if let Some(s) = project
        .sources
        .iter()
        .find(|s| s.name == name.to_lowercase())
    {
        format!("raw tables are read as `raw.{}`", s.name)
    } else if let Some(c) = closest(&name.to_lowercase(), known.iter().map(String::as_str)) {
        format!("did you mean `{c}`?")
    } else {
        "models are read by their name and sources as `raw.<source>`; declare the table in marts/ if it is new".into()
    };
    Err(Error::usage(format!(
        "{who} reads `{name}`, which is neither a model nor a source"
    ))
    .at(at, text)
    .help(help))
}

/// Kahn's algorithm, layer by layer, each layer in name order.
fn order(project: &Project, dag: &Dag, refs: &[Vec<TableRef>]) -> Result<Vec<ModelId>> {
    let n = dag.deps.len();
    let mut waiting: Vec<usize> = project
        .model_ids()
        .map(|m| dag.waits_for(m).count())
        .collect();
    let by_name = |m: &ModelId| project.models[*m].name.clone();
    let mut layer: BTreeSet<(String, ModelId)> = project
        .model_ids()
        .filter(|m| waiting[*m] == 0)
        .map(|m| (by_name(&m), m))
        .collect();
    let mut order = Vec::with_capacity(n);
    while !layer.is_empty() {
        let mut next = BTreeSet::new();
        for (_, m) in std::mem::take(&mut layer) {
            order.push(m);
            for &r in &dag.waiters[m] {
                waiting[r] -= 1;
                if waiting[r] == 0 {
                    next.insert((by_name(&r), r));
                }
            }
        }
        layer = next;
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(cycle_error(project, dag, refs, &waiting))
}

/// A cycle among `models` along `edges` (a model, then what it reads),
/// starting from the first model by name that is on one; `None` if there
/// is none. Depth-first, so each model is visited once.
fn find_cycle(
    project: &Project,
    models: &[ModelId],
    edges: impl Fn(ModelId) -> Vec<ModelId>,
) -> Option<Vec<ModelId>> {
    let mut order = models.to_vec();
    order.sort_by_key(|&m| &project.models[m].name);
    let n = project.models.len();
    // 0: not seen, 1: on the current path, 2: done (on no cycle from here).
    let mut mark = vec![0u8; n];
    for &start in &order {
        if mark[start] != 0 {
            continue;
        }
        // The path, each model with the edges it has left to follow.
        let mut path: Vec<(ModelId, Vec<ModelId>)> = vec![(start, sorted(project, edges(start)))];
        mark[start] = 1;
        while let Some((m, next)) = path.last_mut() {
            let m = *m;
            match next.pop() {
                Some(x) if mark[x] == 1 => {
                    let from = path.iter().position(|(p, _)| *p == x).unwrap_or(0);
                    return Some(path[from..].iter().map(|(p, _)| *p).collect());
                }
                Some(x) if mark[x] == 0 && models.contains(&x) => {
                    mark[x] = 1;
                    path.push((x, sorted(project, edges(x))));
                }
                Some(_) => {}
                None => {
                    mark[m] = 2;
                    path.pop();
                }
            }
        }
    }
    None
}

/// Models by name, last first (they are popped).
fn sorted(project: &Project, mut models: Vec<ModelId>) -> Vec<ModelId> {
    models.sort_by(|a, b| project.models[*b].name.cmp(&project.models[*a].name));
    models
}

/// Name a whole cycle among the models left waiting: `a -> b -> c -> a`.
fn cycle_error(project: &Project, dag: &Dag, refs: &[Vec<TableRef>], waiting: &[usize]) -> Error {
    // A cycle of SQL alone is reported as such, pointing at the SQL, even
    // when a test's edge is also on some cycle; else a cycle through tests.
    let stuck: Vec<ModelId> = project.model_ids().filter(|&m| waiting[m] > 0).collect();
    let path = find_cycle(project, &stuck, |m| dag.model_deps(m).collect())
        .or_else(|| find_cycle(project, &stuck, |m| dag.waits_for(m).collect()))
        .unwrap_or_else(|| stuck.clone());
    let names: Vec<&str> = path
        .iter()
        .chain(path.first())
        .map(|&m| project.models[m].name.as_str())
        .collect();
    // A cycle closed by a test: its model would wait for a table built
    // from itself.
    let by_test = path
        .iter()
        .zip(path.iter().skip(1).chain(path.first()))
        .find(|&(&a, &b)| {
            !dag.deps[a].contains(&Node::Model(b)) && dag.test_deps[a].contains(&Node::Model(b))
        });
    if let Some((&a, &b)) = by_test {
        let (model, read) = (&project.models[a], &project.models[b].name);
        let test = model.tests.iter().find(|t| {
            t.reads() == Some(read.as_str())
                || matches!(&t.check, Check::Sql { sql, .. } if sql::model_refs(sql).unwrap_or_default().iter().any(|r| r.parts == [read.clone()]))
        });
        let mut err = Error::usage(format!(
            "dependency cycle: {} (a test of `{}` reads `{read}`)",
            names.join(" -> "),
            model.name
        ));
        if let Some(t) = test {
            err = err.at(t.declared.clone(), None);
        }
        return err.help(format!(
            "a model is tested before it is published, so its tests cannot read `{read}`, which is built from it: test that relationship on `{read}` instead"
        ));
    }
    let first = &project.models[path[0]];
    let next = names[1];
    let r = refs[path[0]]
        .iter()
        .find(|r| r.parts.len() == 1 && r.parts[0] == next);
    let mut err = Error::usage(format!("dependency cycle: {}", names.join(" -> ")));
    if let Some(r) = r {
        let at = Location::new(&first.sql_display, r.line, r.column).with_len(r.len);
        err = err.at(at, Some(&first.sql));
    }
    err.help("a model cannot read itself, directly or through other models: break the cycle by reading an upstream model or source instead")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::datatest::tests::test;
    use crate::spec::testing::project;

    fn names(p: &Project, models: &[ModelId]) -> Vec<String> {
        models.iter().map(|&m| p.models[m].name.clone()).collect()
    }

    /// The shop: two staging models over sources, two marts over them.
    fn shop() -> Project {
        project(
            &["orders", "users"],
            &[
                (
                    "revenue",
                    "select * from stg_orders join stg_users using (user_id)",
                ),
                ("stg_users", "select * from raw.users"),
                (
                    "cohorts",
                    "with s as (select * from stg_users) select * from s",
                ),
                ("stg_orders", "select * from raw.orders"),
            ],
        )
    }

    #[test]
    fn models_come_after_what_they_read_layer_by_layer_in_name_order() {
        let p = shop();
        let dag = Dag::build(&p).unwrap();
        assert_eq!(
            names(&p, &dag.order),
            ["stg_orders", "stg_users", "cohorts", "revenue"]
        );
        let revenue = p.model_id("revenue").unwrap();
        let deps: Vec<String> = dag.deps[revenue].iter().map(|d| d.name(&p)).collect();
        assert_eq!(deps, ["stg_orders", "stg_users"]);
        let users = p.source_id("users").unwrap();
        assert_eq!(names(&p, &dag.source_readers[users]), ["stg_users"]);
        let stg_users = p.model_id("stg_users").unwrap();
        assert_eq!(names(&p, &dag.readers[stg_users]), ["revenue", "cohorts"]);
    }

    #[test]
    fn a_model_waits_for_the_tables_its_tests_read() {
        let mut p = shop();
        let cohorts = p.model_id("cohorts").unwrap();
        p.models[cohorts].tests = vec![
            test(
                "relationships: {to: revenue, field: user_id}",
                "cohorts",
                Some("user_id"),
            )
            .unwrap(),
        ];
        let dag = Dag::build(&p).unwrap();
        let waits: Vec<ModelId> = dag.waits_for(cohorts).collect();
        assert_eq!(names(&p, &waits), ["stg_users", "revenue"]);
        assert_eq!(
            names(&p, &dag.order),
            ["stg_orders", "stg_users", "revenue", "cohorts"]
        );
    }

    #[test]
    fn a_cycle_is_named_whole_and_pointed_at_in_the_sql() {
        let p = project(
            &[],
            &[
                ("a", "select * from c"),
                ("b", "select * from a"),
                ("c", "select * from b"),
            ],
        );
        let err = Dag::build(&p).unwrap_err();
        assert_eq!(err.message, "dependency cycle: a -> c -> b -> a");
        let at = err.location.as_ref().unwrap();
        assert_eq!(
            (at.file.to_str(), at.line, at.column),
            (Some("sql/a.sql"), 1, 15)
        );
    }

    #[test]
    fn an_unknown_table_suggests_the_closest_or_the_raw_schema() {
        let p = project(
            &["orders"],
            &[("a", "select * from ordrs"), ("b", "select 1")],
        );
        let err = Dag::build(&p).unwrap_err();
        assert_eq!(
            err.message,
            "model `a` reads `ordrs`, which is neither a model nor a source"
        );
        let p = project(&["orders"], &[("a", "select * from orders")]);
        let err = Dag::build(&p).unwrap_err();
        assert_eq!(
            err.help.as_deref(),
            Some("raw tables are read as `raw.orders`")
        );
    }
}
