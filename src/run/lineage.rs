//! Column-level lineage, read off DataFusion's logical plans: for each
//! output column of a model, the columns of the tables it reads that its
//! value is computed from (through projections, aggregates, joins, CTEs,
//! window functions, unions and subqueries). Filters and join conditions
//! decide which rows, not what a value is, so they are not lineage.
//!
//! Each model is planned over the landed sources and, for the models before
//! it, empty tables of their columns: lineage needs no model built, and
//! stops at model boundaries; `mart lineage` follows it from model to model.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, TableReference};
use datafusion::logical_expr::utils::grouping_set_to_exprlist;
use datafusion::logical_expr::{Distinct, Expr, JoinType, LogicalPlan};

use crate::base::error::{Error, Result};
use crate::base::suggest::closest;
use crate::run::workspace::Workspace;
use crate::spec::dag::Node;
use crate::storage::warehouse::Zone;

/// A column of a table: `raw.orders.amount`, `stg_orders.amount`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnRef {
    pub table: String,
    pub column: String,
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

type Sets = Vec<BTreeSet<ColumnRef>>;

/// A column of a source or model, with what it is computed from.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    /// None for a source's columns.
    pub from: BTreeSet<ColumnRef>,
}

/// The lineage of every model of a project that could be planned.
pub struct Lineage {
    /// For each table (by SQL name), its columns in order.
    pub tables: BTreeMap<String, Vec<Column>>,
    /// Why a model could not be planned.
    pub unplanned: BTreeMap<String, String>,
}

impl Lineage {
    /// Plan every model over the landed sources, in build order.
    pub async fn of(ws: &Workspace) -> Result<Lineage> {
        let (project, dag, warehouse) = (&*ws.project, &*ws.dag, &*ws.warehouse);
        let engine = ws.session()?;
        let mut tables = BTreeMap::new();
        let mut unplanned = BTreeMap::new();
        for source in &project.sources {
            if let Some(version) = warehouse.current(Zone::Raw, &source.name)? {
                engine.register(Zone::Raw, &version).await?;
                let columns = version
                    .record
                    .schema
                    .fields()
                    .iter()
                    .map(|f| Column {
                        name: f.name().clone(),
                        data_type: f.data_type().to_string(),
                        from: BTreeSet::new(),
                    })
                    .collect();
                tables.insert(format!("raw.{}", source.name), columns);
            }
        }
        for &m in &dag.order {
            let model = &project.models[m];
            let missing = dag.deps[m]
                .iter()
                .map(|d| d.name(project))
                .find(|name| !tables.contains_key(name));
            if let Some(missing) = missing {
                let why = match dag.deps[m].iter().find(|d| d.name(project) == missing) {
                    Some(Node::Source(_)) => format!("{missing} is not landed: run `mart land`"),
                    _ => unplanned
                        .get(&missing)
                        .cloned()
                        .unwrap_or_else(|| format!("{missing} has no lineage")),
                };
                unplanned.insert(model.name.clone(), why);
                continue;
            }
            match engine.plan(&model.sql).await {
                Ok(df) => {
                    let plan = df.logical_plan().clone();
                    let sets = columns(&plan);
                    let columns = plan
                        .schema()
                        .fields()
                        .iter()
                        .zip(sets)
                        .map(|(f, from)| Column {
                            name: f.name().clone(),
                            data_type: f.data_type().to_string(),
                            from,
                        })
                        .collect();
                    tables.insert(model.name.clone(), columns);
                    // Its readers see a table of its columns (a view would
                    // be inlined into their plans, hiding the boundary).
                    engine.register_empty(&model.name, df.schema().as_arrow())?;
                }
                Err(e) => {
                    unplanned.insert(model.name.clone(), crate::base::error::df_message(&e));
                }
            }
        }
        Ok(Lineage { tables, unplanned })
    }

    /// The columns `column` of `table` derives from, directly.
    pub fn upstream(&self, column: &ColumnRef) -> BTreeSet<ColumnRef> {
        self.tables
            .get(&column.table)
            .and_then(|cols| cols.iter().find(|c| c.name == column.column))
            .map(|c| c.from.clone())
            .unwrap_or_default()
    }

    /// The model columns derived directly from `column`.
    pub fn downstream(&self, column: &ColumnRef) -> BTreeSet<ColumnRef> {
        let mut out = BTreeSet::new();
        for (table, columns) in &self.tables {
            for c in columns {
                if c.from.contains(column) {
                    out.insert(ColumnRef {
                        table: table.clone(),
                        column: c.name.clone(),
                    });
                }
            }
        }
        out
    }

    /// `model.column` or `raw.source.column`, checked to exist.
    pub fn parse(&self, text: &str) -> Result<ColumnRef> {
        let text = text.trim().to_ascii_lowercase();
        let Some((table, column)) = text.rsplit_once('.') else {
            return Err(Error::usage(format!("`{text}` names no column"))
                .help("write `model.column` or `raw.source.column`"));
        };
        let Some(columns) = self.tables.get(table) else {
            if let Some(why) = self.unplanned.get(table) {
                return Err(Error::failed(format!(
                    "the lineage of `{table}` is unknown: {why}"
                )));
            }
            let help = closest(table, self.tables.keys().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| {
                    "models are named by their name, sources as `raw.<source>`".into()
                });
            return Err(Error::usage(format!("there is no table `{table}`")).help(help));
        };
        if !columns.iter().any(|c| c.name == column) {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            let help = closest(column, names.iter().copied())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("its columns are: {}", names.join(", ")));
            return Err(Error::usage(format!("`{table}` has no column `{column}`")).help(help));
        }
        Ok(ColumnRef {
            table: table.to_string(),
            column: column.to_string(),
        })
    }
}

/// For each output column of `plan`, the table columns it is computed from.
pub fn columns(plan: &LogicalPlan) -> Sets {
    let inputs: Vec<Sets> = plan.inputs().into_iter().map(columns).collect();
    let one = || inputs.first().cloned().unwrap_or_default();
    let width = plan.schema().fields().len();
    let sets = match plan {
        LogicalPlan::TableScan(scan) => {
            let table = table_name(&scan.table_name);
            scan.projected_schema
                .fields()
                .iter()
                .map(|f| {
                    BTreeSet::from([ColumnRef {
                        table: table.clone(),
                        column: f.name().clone(),
                    }])
                })
                .collect()
        }
        LogicalPlan::Projection(p) => exprs(p.expr.iter(), p.input.schema(), &one()),
        LogicalPlan::Aggregate(a) => {
            let mut list: Vec<&Expr> = grouping_set_to_exprlist(&a.group_expr).unwrap_or_default();
            let grouping_id = Expr::Literal(datafusion::common::ScalarValue::Null, None);
            if matches!(a.group_expr.as_slice(), [Expr::GroupingSet(_)]) {
                list.push(&grouping_id);
            }
            list.extend(&a.aggr_expr);
            exprs(list.into_iter(), a.input.schema(), &one())
        }
        LogicalPlan::Window(w) => {
            let mut sets = one();
            sets.extend(exprs(w.window_expr.iter(), w.input.schema(), &one()));
            sets
        }
        LogicalPlan::Distinct(Distinct::On(d)) => {
            exprs(d.select_expr.iter(), d.input.schema(), &one())
        }
        LogicalPlan::Unnest(u) => {
            let input = one();
            u.dependency_indices
                .iter()
                .map(|&i| input.get(i).cloned().unwrap_or_default())
                .collect()
        }
        LogicalPlan::Join(j) => {
            let (left, right) = (&inputs[0], &inputs[1]);
            match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left.clone(),
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right.clone(),
                _ => left.iter().chain(right).cloned().collect(),
            }
        }
        // Several inputs whose columns line up: UNION, and the two terms
        // of a recursive CTE (whose scans of itself add nothing).
        LogicalPlan::Union(_) | LogicalPlan::RecursiveQuery(_) => {
            let mut sets: Sets = vec![BTreeSet::new(); width];
            for input in &inputs {
                for (set, from) in sets.iter_mut().zip(input) {
                    set.extend(from.iter().cloned());
                }
            }
            if let LogicalPlan::RecursiveQuery(r) = plan {
                for set in &mut sets {
                    set.retain(|c| c.table != r.name);
                }
            }
            sets
        }
        // Filters, sorts, limits, aliases, DISTINCT, subqueries: the
        // columns of their one input, in order.
        _ => one(),
    };
    // Whatever a plan node does, it has one set per output column.
    let mut sets = sets;
    sets.resize(width, BTreeSet::new());
    sets
}

/// The columns each expression is computed from, given its input's.
fn exprs<'a>(list: impl Iterator<Item = &'a Expr>, schema: &DFSchema, input: &Sets) -> Sets {
    list.map(|e| expr(e, schema, input)).collect()
}

fn expr(e: &Expr, schema: &DFSchema, input: &Sets) -> BTreeSet<ColumnRef> {
    let mut out = BTreeSet::new();
    let _ = e.apply(|e| {
        match e {
            Expr::Column(c) => {
                if let Some(i) = schema.maybe_index_of_column(c) {
                    out.extend(input[i].iter().cloned());
                }
            }
            // A value computed by a subquery derives from what it selects.
            Expr::ScalarSubquery(s) => {
                for set in columns(&s.subquery) {
                    out.extend(set);
                }
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `raw.orders` or `stg_orders`, whatever catalog prefix the SQL used.
fn table_name(t: &TableReference) -> String {
    match t.schema() {
        Some("raw") => format!("raw.{}", t.table()),
        _ => t.table().to_string(),
    }
}
