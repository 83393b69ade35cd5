//! `pg_catalog` with tables of the server's own: datafusion-postgres'
//! catalog, some of its tables replaced or added.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
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
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(
            self.ours
                .keys()
                .filter(|n| !names.contains(n))
                .cloned()
                .collect::<Vec<_>>(),
        );
        names
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
