//! `pg_catalog` with tables of the server's own: datafusion-postgres'
//! catalog, some of its tables replaced or added.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, RecordBatch};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::catalog::MemTable;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::base::error::Result;

/// Put `ours` (name, table) into `ctx`'s `pg_catalog`, over what it has.
pub fn overlay(
    ctx: &SessionContext,
    ours: Vec<(&'static str, Arc<dyn TableProvider>)>,
) -> Result<()> {
    let catalog = ctx.catalog("datafusion");
    let inner = catalog.as_ref().and_then(|c| c.schema("pg_catalog"));
    if let (Some(catalog), Some(inner)) = (catalog, inner) {
        let ours = ours.into_iter().map(|(n, t)| (n.to_string(), t)).collect();
        catalog.register_schema("pg_catalog", Arc::new(Overlay { inner, ours }))?;
    }
    Ok(())
}

#[derive(Debug)]
struct Overlay {
    inner: Arc<dyn SchemaProvider>,
    ours: HashMap<String, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for Overlay {
    /// The built-in names only: datafusion-pg-catalog numbers the tables of
    /// `pg_class` and `pg_attribute` from them, and a name added here
    /// could mismatch the two (psql's `\d daily_revenue` showed another
    /// table's columns). Ours are found by name all the same.
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.ours.get(name) {
            Some(table) => Ok(Some(table.clone())),
            None => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.ours.contains_key(name) || self.inner.table_exist(name)
    }
}

/// The `pg_class` oid of each table and view, by (schema, name).
pub async fn relation_oids(ctx: &SessionContext) -> DfResult<HashMap<(String, String), i64>> {
    let sql = "select c.oid, n.nspname, c.relname from pg_catalog.pg_class c \
               join pg_catalog.pg_namespace n on c.relnamespace = n.oid";
    let mut oids = HashMap::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        // Cast to the types read here, whatever the catalog's are.
        let oid = cast(batch.column(0), &DataType::Int64)?;
        let schema = cast(batch.column(1), &DataType::Utf8)?;
        let name = cast(batch.column(2), &DataType::Utf8)?;
        let oid = oid.as_primitive::<Int64Type>();
        let (schema, name) = (schema.as_string::<i32>(), name.as_string::<i32>());
        for row in 0..batch.num_rows() {
            let key = (schema.value(row).to_string(), name.value(row).to_string());
            oids.insert(key, oid.value(row));
        }
    }
    Ok(oids)
}

/// Make `ctx`'s catalog list its schemas and their tables by name.
/// datafusion-pg-catalog numbers tables (`pg_class.oid`) in the order it
/// meets them; unordered, two snapshots of the same tables numbered them
/// apart, and psql's `\d`, which looks a table up in one query and its
/// columns in the next, could read another table's columns across them.
pub fn ordered(ctx: &SessionContext) {
    if let Some(inner) = ctx.catalog("datafusion") {
        ctx.register_catalog("datafusion", Arc::new(Ordered(inner)));
    }
}

/// datafusion-pg-catalog's own `pg_catalog.name`, before any overlay.
pub async fn builtin(ctx: &SessionContext, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    match ctx
        .catalog("datafusion")
        .and_then(|c| c.schema("pg_catalog"))
    {
        Some(catalog) => catalog.table(name).await,
        None => Ok(None),
    }
}

#[derive(Debug)]
struct Ordered(Arc<dyn CatalogProvider>);

impl CatalogProvider for Ordered {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.0.schema_names();
        names.sort();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let schema = self.0.schema(name)?;
        Some(Arc::new(OrderedSchema(schema)))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.0.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.0.deregister_schema(name, cascade)
    }
}

#[derive(Debug)]
struct OrderedSchema(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for OrderedSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.0.table_names();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.0.table(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.0.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.0.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}

/// The array columns of `pg_index` and `pg_constraint` as arrays (the
/// catalog holds them as text, `{1,2}` or `1 2`), and `pg_class` with the
/// `reloptions` column it lacks: SQLAlchemy's `get_pk_constraint`,
/// `get_indexes` and `get_unique_constraints` (Superset's table preview)
/// `unnest` them. The mart has no indexes or constraints of its own.
pub async fn with_arrays(
    ctx: &SessionContext,
) -> DfResult<Vec<(&'static str, Arc<dyn TableProvider>)>> {
    let short = DataType::Int16;
    let oid = DataType::Int32;
    let arrays: [(&'static str, Vec<(&str, &DataType)>); 2] = [
        (
            "pg_index",
            vec![
                ("indkey", &short),
                ("indcollation", &oid),
                ("indclass", &oid),
                ("indoption", &short),
            ],
        ),
        (
            "pg_constraint",
            vec![
                ("conkey", &short),
                ("confkey", &short),
                ("confdelsetcols", &short),
                ("conpfeqop", &oid),
                ("conppeqop", &oid),
                ("conffeqop", &oid),
                ("conexclop", &oid),
            ],
        ),
    ];
    let mut ours: Vec<(&'static str, Arc<dyn TableProvider>)> = Vec::new();
    for (table, columns) in arrays {
        if let Some(typed) = with_lists(ctx, table, &columns).await? {
            ours.push((table, typed));
        }
    }
    if let Some(pg_class) = pg_class_with_options(ctx).await? {
        ours.push(("pg_class", pg_class));
    }
    Ok(ours)
}

/// `pg_catalog.table` with `columns` (text) as lists of their item type.
async fn with_lists(
    ctx: &SessionContext,
    table: &str,
    columns: &[(&str, &DataType)],
) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let batches = ctx
        .table(format!("pg_catalog.{table}"))
        .await?
        .collect()
        .await?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    let as_list = |name: &str| columns.iter().find(|(c, _)| *c == name).map(|(_, t)| *t);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match as_list(f.name()) {
            Some(item) => Field::new(f.name(), DataType::new_list(item.clone(), true), true),
            None => f.as_ref().clone(),
        })
        .collect();
    let typed = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(batches.len());
    for batch in &batches {
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            arrays.push(match as_list(field.name()) {
                Some(item) => parse_arrays(batch.column(i), item)?,
                None => batch.column(i).clone(),
            });
        }
        out.push(RecordBatch::try_new(typed.clone(), arrays)?);
    }
    Ok(Some(Arc::new(MemTable::try_new(typed, vec![out])?)))
}

/// `pg_class` and a `reloptions` column (null: no table has options).
async fn pg_class_with_options(ctx: &SessionContext) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let Some(inner) = builtin(ctx, "pg_class").await? else {
        return Ok(None);
    };
    let options = lit(ScalarValue::try_from(DataType::new_list(
        DataType::Utf8,
        true,
    ))?);
    let plan = LogicalPlanBuilder::scan("pg_class", provider_as_source(inner), None)?;
    let mut columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    columns.push(options.alias("reloptions"));
    let plan = plan.project(columns)?.build()?;
    Ok(Some(Arc::new(ViewTable::new(plan, None))))
}

/// Postgres arrays written as text (`{1,2}`, or `1 2` for int2vector and
/// oidvector) as lists of `item`.
fn parse_arrays(column: &ArrayRef, item: &DataType) -> DfResult<ArrayRef> {
    let text = cast(column, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut values: Vec<Option<i64>> = Vec::new();
    let mut offsets = vec![0i32];
    let mut valid = Vec::with_capacity(text.len());
    for row in 0..text.len() {
        valid.push(!text.is_null(row));
        if !text.is_null(row) {
            let inner = text.value(row).trim_matches(|c| c == '{' || c == '}');
            for part in inner.split([',', ' ']).filter(|p| !p.is_empty()) {
                values.push(part.parse::<i64>().ok());
            }
        }
        offsets.push(values.len() as i32);
    }
    let values = cast(&(Arc::new(Int64Array::from(values)) as ArrayRef), item)?;
    let field = Arc::new(Field::new("item", item.clone(), true));
    let list = ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        values,
        Some(NullBuffer::from(valid)),
    )?;
    Ok(Arc::new(list))
}
