//! `pg_catalog` with tables of the server's own: datafusion-postgres'
//! catalog, some of its tables replaced or added.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::prelude::SessionContext;

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
pub fn ordered(ctx: &SessionContext) -> Result<()> {
    if let Some(inner) = ctx.catalog("datafusion") {
        ctx.register_catalog("datafusion", Arc::new(Ordered(inner)));
    }
    Ok(())
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
