//! Queries over appended rows: a table built from a table that has only
//! grown since is brought up to date from the new rows alone.
//!
//! A query is *linear* in a table X when each row of X gives its own
//! output rows whatever the other rows are (projections, filters, joins
//! that keep X's side): then Q(X + Δ) = Q(X) + Q(Δ), and Q(Δ) is appended
//! to the stored rows. A query that aggregates a part linear in X (with
//! anything over that aggregation) stores, beside its rows, the
//! aggregation's partial state, one row per group, as DataFusion's partial
//! aggregation makes it: the state of the new rows is merged into it
//! (DataFusion's `PartialReduce` mode) and the rows are computed from the
//! state (its `Final` mode), as any parallel DataFusion query computes them
//! from the states of its partitions.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, JoinType, TableReference};
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{DefaultTableSource, TableType, provider_as_source};
use datafusion::execution::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, TableSource};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, execute_stream,
};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use futures::StreamExt;

use crate::base::error::{Error, Result};
use crate::storage::warehouse::StoredFile;

/// How a query depends on the table that grew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Linear in it: what the new rows give is appended.
    Linear,
    /// An aggregation of a part linear in it, under anything.
    Aggregate,
}

/// A model's query, optimized: what is checked and rewritten here.
pub struct Planned {
    state: SessionState,
    plan: LogicalPlan,
}

/// A table a query reads, and its files now.
pub struct Scanned {
    pub table: TableReference,
    pub files: Vec<StoredFile>,
}

impl Planned {
    pub fn new(df: DataFrame) -> Result<Planned> {
        let (state, plan) = df.into_parts();
        let plan = state.optimize(&plan)?;
        Ok(Planned { state, plan })
    }

    /// What decides the query's result besides its tables' rows.
    pub fn text(&self) -> String {
        self.plan.display_indent_schema().to_string()
    }

    /// Every table the query reads with its files; `None` when one is not
    /// a table of Parquet files (a table function, a table in memory).
    pub fn scanned(&self) -> Result<Option<Vec<Scanned>>> {
        let mut out: Vec<Scanned> = Vec::new();
        let mut files_only = true;
        self.plan.apply_with_subqueries(|p| {
            let LogicalPlan::TableScan(scan) = p else {
                return Ok(TreeNodeRecursion::Continue);
            };
            if out.iter().any(|s| same(&s.table, &scan.table_name)) {
                return Ok(TreeNodeRecursion::Continue);
            }
            match listing(&scan.source) {
                Some(table) if table.options().table_partition_cols.is_empty() => {
                    out.push(Scanned {
                        table: scan.table_name.clone(),
                        files: files_of(table),
                    });
                    Ok(TreeNodeRecursion::Continue)
                }
                _ => {
                    files_only = false;
                    Ok(TreeNodeRecursion::Stop)
                }
            }
        })?;
        Ok(files_only.then_some(out))
    }

    /// The query's shape in the tables that grew, or why their new rows
    /// cannot be taken in: in each it is linear, or each reaches the same
    /// aggregation.
    pub fn shape(&self, grew: &[&TableReference]) -> std::result::Result<Shape, String> {
        let mut shapes = grew.iter().map(|x| self.shape_of(x));
        let first = shapes.next().unwrap_or(Ok((Shape::Linear, None)))?;
        for shape in shapes {
            if shape? != first {
                return Err("its tables that grew are not aggregated together".into());
            }
        }
        Ok(first.0)
    }

    /// The query's shape in table `x` (and the aggregation it reaches, by
    /// address), or why new rows of `x` cannot be taken in.
    fn shape_of(
        &self,
        x: &TableReference,
    ) -> std::result::Result<(Shape, Option<*const LogicalPlan>), String> {
        let mut scans = 0;
        let _ = self.plan.apply_with_subqueries(|p| {
            if let LogicalPlan::TableScan(s) = p
                && same(&s.table_name, x)
            {
                scans += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        });
        if scans > 1 {
            return Err(format!("it reads {x} more than once"));
        }
        let Some(path) = path_to(&self.plan, x) else {
            return Err(format!("it reads {x} in a subquery"));
        };
        let mut aggregated = false;
        let mut aggregate = None;
        let mut sorted = false;
        for (node, child) in path.iter().rev() {
            if aggregated {
                break; // above the aggregation, anything goes
            }
            if node.expressions().iter().any(Expr::is_volatile) {
                return Err("it calls a volatile function (random(), now()) on the rows".into());
            }
            match node {
                LogicalPlan::TableScan(s) if s.fetch.is_some() => {
                    return Err("it keeps a LIMIT of the rows".into());
                }
                LogicalPlan::TableScan(_)
                | LogicalPlan::Projection(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::SubqueryAlias(_)
                | LogicalPlan::Unnest(_) => {}
                LogicalPlan::Sort(s) if s.fetch.is_none() => sorted = true,
                LogicalPlan::Join(j) if keeps_rows(j.join_type, *child) => {}
                LogicalPlan::Join(j) => {
                    return Err(format!(
                        "a {} join does not keep its rows one by one",
                        j.join_type.to_string().to_uppercase()
                    ));
                }
                LogicalPlan::Aggregate(_) => {
                    aggregated = true;
                    aggregate = Some(*node as *const LogicalPlan);
                }
                LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => {
                    return Err("it keeps a LIMIT of the rows".into());
                }
                LogicalPlan::Distinct(_) => return Err("its DISTINCT sees all rows".into()),
                LogicalPlan::Window(_) => return Err("a window function sees all rows".into()),
                LogicalPlan::Union(_) => return Err("it reads it in a UNION".into()),
                other => return Err(format!("of its {} step", other.display())),
            }
        }
        match (aggregated, sorted) {
            (true, _) => Ok((Shape::Aggregate, aggregate)),
            (false, true) => Err("appended rows would not keep its ORDER BY".into()),
            (false, false) => Ok((Shape::Linear, None)),
        }
    }

    /// The query with some tables read from some of their files only
    /// (`term`: each table and its files).
    pub fn over(&self, term: &Term) -> Result<DataFrame> {
        let plan = self.plan.clone().transform_up_with_subqueries(|p| {
            let LogicalPlan::TableScan(mut scan) = p else {
                return Ok(Transformed::no(p));
            };
            let Some((_, files)) = term.iter().find(|(t, _)| same(t, &scan.table_name)) else {
                return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
            };
            let table = listing(&scan.source).ok_or_else(|| {
                DataFusionError::Internal(format!("{} is not read from files", scan.table_name))
            })?;
            scan.source = provider_as_source(Arc::new(restricted(table, files)?));
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        })?;
        Ok(DataFrame::new(self.state.clone(), plan.data))
    }

    /// The rows of the query (of shape `Aggregate`) computed from its
    /// aggregation's state, written to `state_out` first: the state of
    /// each term (a term reads its first table's files alone: all of them
    /// for a whole build, the new ones for an update) merged, with the
    /// `stored` state when there is one. `None` when DataFusion plans the
    /// aggregation in a way this does not take apart.
    pub async fn fold(
        &self,
        ctx: &SessionContext,
        terms: &[Term],
        stored: Option<&Path>,
        state_out: &Path,
    ) -> Result<Option<DataFrame>> {
        let runs = terms
            .iter()
            .map(|t| {
                Ok((
                    self.over(t)?,
                    t.first().map(|f| f.1.clone()).unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // Each run's partial aggregation; the first run's plan gives what
        // lies above the aggregation.
        let mut partials: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let mut top = None;
        for (df, reads) in runs {
            let reads: HashSet<String> = reads.iter().map(|p| object_path(p)).collect();
            let physical = df.create_physical_plan().await?;
            let Some((found, partial)) = partial_of(&physical, &reads)? else {
                return Ok(None);
            };
            if partials
                .first()
                .is_some_and(|p| p.schema() != partial.schema())
            {
                return Ok(None);
            }
            partials.push(partial.clone());
            top.get_or_insert((physical, found, partial));
        }
        let Some((physical, found, partial)) = top else {
            return Ok(None);
        };
        let n = partial.aggr_expr().len();
        let merge = |mode, input: Arc<dyn ExecutionPlan>| {
            AggregateExec::try_new(
                mode,
                partial.group_expr().as_final(),
                partial.aggr_expr().to_vec(),
                vec![None; n],
                Arc::new(CoalescePartitionsExec::new(input)),
                partial.input_schema(),
            )
        };
        if let Some(stored) = stored {
            partials.push(state_scan(ctx, stored, partial.schema()).await?);
        }
        let reduce = merge(AggregateMode::PartialReduce, UnionExec::try_new(partials)?)?;
        write_state(Arc::new(reduce), &self.state, state_out).await?;
        let state = state_scan(ctx, state_out, partial.schema()).await?;
        let single =
            found.downcast_ref::<AggregateExec>().map(|a| *a.mode()) == Some(AggregateMode::Single);
        let replacement: Arc<dyn ExecutionPlan> = match single {
            false => state,
            true => Arc::new(merge(AggregateMode::Final, state)?),
        };
        let output = physical
            .transform_down(|node| {
                Ok(match Arc::ptr_eq(&node, &found) {
                    true => Transformed::new(replacement.clone(), true, TreeNodeRecursion::Jump),
                    false => Transformed::no(node),
                })
            })?
            .data;
        Ok(Some(ctx.read_table(Arc::new(PlanTable(output)))?))
    }
}

/// The query with some tables read from some of their files only.
pub type Term = Vec<(TableReference, Vec<PathBuf>)>;

/// An aggregation in a physical plan, and its partial aggregation.
type Split = (Arc<dyn ExecutionPlan>, Arc<AggregateExec>);

/// The aggregation right above a scan of `reads` in `physical`, and its
/// partial aggregation (itself, or made from it when DataFusion plans it
/// in one step); `None` when there is none this can take apart.
fn partial_of(physical: &Arc<dyn ExecutionPlan>, reads: &HashSet<String>) -> Result<Option<Split>> {
    let Some(found) = deepest_aggregate(physical, reads) else {
        return Ok(None);
    };
    let agg = found
        .downcast_ref::<AggregateExec>()
        .expect("an aggregation");
    if agg.limit_options().is_some() {
        return Ok(None); // it keeps a limited number of groups
    }
    let partial = match agg.mode() {
        AggregateMode::Partial => Arc::new(agg.clone()),
        AggregateMode::Single => Arc::new(AggregateExec::try_new(
            AggregateMode::Partial,
            agg.group_expr().clone(),
            agg.aggr_expr().to_vec(),
            agg.filter_expr().to_vec(),
            Arc::clone(agg.input()),
            agg.input_schema(),
        )?),
        _ => return Ok(None),
    };
    Ok(Some((found, partial)))
}

/// Whether a join of this type gives each row of its input `child` (0:
/// left, 1: right) its own output rows, whatever the other rows are.
fn keeps_rows(join: JoinType, child: usize) -> bool {
    use JoinType as J;
    match join {
        J::Inner => true,
        J::Left | J::LeftSemi | J::LeftAnti | J::LeftMark => child == 0,
        J::Right | J::RightSemi | J::RightAnti | J::RightMark => child == 1,
        J::Full => false,
    }
}

/// The steps from `plan` down to its scan of `x`: each step and which of
/// its inputs leads there (scans in subqueries are not followed).
fn path_to<'a>(plan: &'a LogicalPlan, x: &TableReference) -> Option<Vec<(&'a LogicalPlan, usize)>> {
    if let LogicalPlan::TableScan(s) = plan
        && same(&s.table_name, x)
    {
        return Some(vec![(plan, 0)]);
    }
    for (i, input) in plan.inputs().into_iter().enumerate() {
        if let Some(mut path) = path_to(input, x) {
            path.insert(0, (plan, i));
            return Some(path);
        }
    }
    None
}

fn same(a: &TableReference, b: &TableReference) -> bool {
    a.clone().resolve("datafusion", "public") == b.clone().resolve("datafusion", "public")
}

fn listing(source: &Arc<dyn TableSource>) -> Option<&ListingTable> {
    let source = source.downcast_ref::<DefaultTableSource>()?;
    source.table_provider.downcast_ref::<ListingTable>()
}

/// The Parquet files a listing table reads now (it lists folders).
fn files_of(table: &ListingTable) -> Vec<StoredFile> {
    let mut out = Vec::new();
    for url in table.table_paths() {
        let dir = PathBuf::from(format!("/{}", url.prefix().as_ref()));
        let _ = crate::base::fs::walk(&dir, &mut |p| {
            if p.extension().is_some_and(|e| e == "parquet")
                && let Some(file) = StoredFile::of(p)
            {
                out.push(file);
            }
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `table` reading only `files`.
fn restricted(table: &ListingTable, files: &[PathBuf]) -> datafusion::error::Result<ListingTable> {
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(f.display().to_string()))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(table.options().clone())
        .with_schema(table.schema());
    ListingTable::try_new(config)
}

/// A file's path as the object store names it (no leading slash).
fn object_path(path: &Path) -> String {
    path.display()
        .to_string()
        .trim_start_matches('/')
        .to_string()
}

/// The deepest aggregation above a scan of `reads`.
fn deepest_aggregate(
    plan: &Arc<dyn ExecutionPlan>,
    reads: &HashSet<String>,
) -> Option<Arc<dyn ExecutionPlan>> {
    fn walk(
        plan: &Arc<dyn ExecutionPlan>,
        reads: &HashSet<String>,
    ) -> (bool, Option<Arc<dyn ExecutionPlan>>) {
        let mut scans = scans_any(plan.as_ref(), reads);
        for child in plan.children() {
            let (below, found) = walk(child, reads);
            if found.is_some() {
                return (true, found);
            }
            scans |= below;
        }
        let is_aggregate = plan.downcast_ref::<AggregateExec>().is_some();
        (scans, (scans && is_aggregate).then(|| Arc::clone(plan)))
    }
    walk(plan, reads).1
}

fn scans_any(plan: &dyn ExecutionPlan, reads: &HashSet<String>) -> bool {
    let Some(source) = plan.downcast_ref::<DataSourceExec>() else {
        return false;
    };
    let Some(config) = source.data_source().downcast_ref::<FileScanConfig>() else {
        return false;
    };
    config
        .file_groups
        .iter()
        .flat_map(|g| g.files())
        .any(|f| reads.contains(f.path().as_ref()))
}

/// A stored state, read with the columns the aggregation makes.
async fn state_scan(
    ctx: &SessionContext,
    path: &Path,
    schema: SchemaRef,
) -> Result<Arc<dyn ExecutionPlan>> {
    let options = ParquetReadOptions {
        file_extension: "",
        schema: Some(&schema),
        ..Default::default()
    };
    let df = ctx
        .read_parquet(path.display().to_string(), options)
        .await?;
    Ok(df.create_physical_plan().await?)
}

async fn write_state(
    plan: Arc<dyn ExecutionPlan>,
    state: &SessionState,
    path: &Path,
) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::failed(format!("cannot write `{}`: {e}", path.display()))
    };
    let file = File::create(path).map_err(|e| Error::io("create", path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, plan.schema(), Some(props)).map_err(|e| failed(&e))?;
    let mut stream = execute_stream(plan, state.task_ctx())?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?).map_err(|e| failed(&e))?;
    }
    writer.close().map_err(|e| failed(&e))?;
    Ok(())
}

/// A physical plan read as a table: how rows computed by a rewritten
/// plan are written as any query's are.
#[derive(Debug)]
struct PlanTable(Arc<dyn ExecutionPlan>);

#[async_trait]
impl TableProvider for PlanTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let schema = self.0.schema();
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        let sealed: Arc<dyn ExecutionPlan> = Arc::new(Sealed(Arc::clone(&self.0)));
        match projection {
            None => Ok(sealed),
            Some(p) if *p == all => Ok(sealed),
            Some(p) => {
                let exprs = p.iter().map(|&i| ProjectionExpr {
                    expr: Arc::new(Column::new(schema.field(i).name(), i)),
                    alias: schema.field(i).name().clone(),
                });
                Ok(Arc::new(ProjectionExec::try_new(exprs, sealed)?))
            }
        }
    }
}

/// A plan optimized already, sealed as a leaf: planning the write around
/// it must not optimize it again (join inputs are not swapped once their
/// dynamic filters exist).
#[derive(Debug)]
struct Sealed(Arc<dyn ExecutionPlan>);

impl DisplayAs for Sealed {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Sealed")
    }
}

impl ExecutionPlan for Sealed {
    fn name(&self) -> &str {
        "Sealed"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.0.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        self.0.execute(partition, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;

    async fn shape_of(sql: &str, grew: &[&str]) -> std::result::Result<Shape, String> {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let column = || Arc::new(Int64Array::from(vec![1, 2])) as _;
        let batch = RecordBatch::try_new(schema.clone(), vec![column(), column()]).unwrap();
        for name in ["t", "u"] {
            let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
            ctx.register_table(name, Arc::new(table)).unwrap();
        }
        let planned = Planned::new(ctx.sql(sql).await.unwrap()).unwrap();
        let grew: Vec<TableReference> = grew.iter().map(|&t| TableReference::from(t)).collect();
        planned.shape(&grew.iter().collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn what_takes_appended_rows_and_why_not() {
        use Shape::{Aggregate, Linear};
        let cases: &[(&str, &[&str], std::result::Result<Shape, &str>)] = &[
            ("select k, v * 2 from t where v > 1", &["t"], Ok(Linear)),
            (
                "select t.k, u.v from t join u on t.k = u.k",
                &["t", "u"],
                Ok(Linear),
            ),
            (
                "select t.k, u.v from t left join u on t.k = u.k",
                &["t"],
                Ok(Linear),
            ),
            (
                "select t.k, u.v from t left join u on t.k = u.k",
                &["u"],
                Err("a LEFT join does not keep its rows one by one"),
            ),
            (
                "select k, sum(v) from t group by k having count(*) > 1 order by k limit 3",
                &["t"],
                Ok(Aggregate),
            ),
            (
                "select u.k, count(*) from t join u on t.k = u.k group by u.k",
                &["t", "u"],
                Ok(Aggregate),
            ),
            (
                "select k, rank() over (order by v) from t",
                &["t"],
                Err("a window function sees all rows"),
            ),
            ("select distinct k from t", &["t"], Ok(Aggregate)),
            (
                "select k from t union all select k from u",
                &["t"],
                Err("it reads it in a UNION"),
            ),
            (
                "select k from t order by v",
                &["t"],
                Err("appended rows would not keep its ORDER BY"),
            ),
            (
                "select sum(v) from (select v from t limit 5)",
                &["t"],
                Err("it keeps a LIMIT of the rows"),
            ),
            (
                "select a.k from t a join t b on a.k = b.k",
                &["t"],
                Err("it reads t more than once"),
            ),
            (
                "select k, random() as r from t",
                &["t"],
                Err("it calls a volatile function (random(), now()) on the rows"),
            ),
        ];
        for (sql, grew, expected) in cases {
            let got = shape_of(sql, grew).await;
            assert_eq!(got, expected.map_err(String::from), "{sql}");
        }
    }
}
