//! The DataFusion session every command runs in: raw tables under the `raw`
//! schema, models under their bare names, and the one way a query's result
//! becomes a published table.

use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::warehouse::{InputFile, Record, Version, Warehouse, Zone, dir_size, now_ms};

fn write_empty(path: &std::path::Path, schema: &Schema) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let writer = ArrowWriter::try_new(file, Arc::new(schema.clone()), None)
        .and_then(|w| w.close().map(|_| ()));
    writer.map_err(|e| Error::failed(format!("cannot write `{}`: {e}", path.display())))
}

/// What SQL may do in `mart`: read. Only `land` and `build` write, and
/// through `Engine::materialize` alone.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
}

pub struct Engine {
    pub ctx: SessionContext,
}

fn table_ref(zone: Zone, name: &str) -> TableReference {
    match zone {
        Zone::Raw => TableReference::partial("raw", name),
        Zone::Mart => TableReference::bare(name),
    }
}

impl Engine {
    pub fn new() -> Result<Engine> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            // Positions in planning errors, to point analysts at their SQL.
            .set_bool("datafusion.sql_parser.collect_spans", true);
        // Tables are re-registered at each new version's folder, so a cached
        // file listing can never be stale; keep none.
        let runtime = RuntimeEnvBuilder::new()
            .with_object_list_cache_limit(0)
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| Error::failed("DataFusion has no default catalog"))?;
        catalog.register_schema("raw", Arc::new(MemorySchemaProvider::new()))?;
        Ok(Engine { ctx })
    }

    /// Make a published version readable under its table name.
    pub async fn register(&self, zone: Zone, version: &Version) -> Result<()> {
        let record = &version.record;
        let partitions: Vec<(String, _)> = record
            .partition_by
            .iter()
            .filter_map(|p| record.schema.field_with_name(p).ok())
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        // The files hold every column but the partition columns, which the
        // folder names carry.
        let file_fields: Vec<Field> = record
            .schema
            .fields()
            .iter()
            .filter(|f| !record.partition_by.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partitions);
        let path = format!("{}/", version.dir.display());
        let name = table_ref(zone, &record.name);
        self.ctx.deregister_table(name.clone())?;
        self.ctx
            .register_listing_table(
                name,
                path,
                options,
                Some(Arc::new(Schema::new(file_fields))),
                None,
            )
            .await?;
        Ok(())
    }

    /// Plan a query, refusing anything that would write (DDL, DML, COPY).
    pub async fn plan(&self, sql: &str) -> Result<DataFrame, DataFusionError> {
        self.ctx.sql_with_options(sql, read_only()).await
    }

    /// Register a planned query as a view: it is resolved when read.
    pub fn register_view(&self, name: &str, df: DataFrame) -> Result<()> {
        self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, df.into_view())?;
        Ok(())
    }

    /// Write `df` as a new version of a table, publish it atomically and make
    /// it readable in this session. On failure nothing is published and the
    /// previous version stays as it was.
    pub async fn materialize(
        &self,
        warehouse: &Warehouse,
        zone: Zone,
        name: &str,
        df: DataFrame,
        partition_by: &[String],
        inputs: Vec<InputFile>,
    ) -> Result<Version> {
        let schema = df.schema().as_arrow().clone();
        let staging = warehouse.stage(zone, name)?;
        let options = DataFrameWriteOptions::new().with_partition_by(partition_by.to_vec());
        let dir = format!("{}/", staging.dir.display());
        let written = match df.write_parquet(&dir, options, None).await {
            Ok(batches) => batches,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging.dir);
                return Err(e.into());
            }
        };
        let rows = written
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
            .map(|a| a.value(0))
            .unwrap_or(0);
        if rows == 0 && partition_by.is_empty() {
            // DataFusion writes no file for no rows; other readers need one
            // to know the columns.
            write_empty(&staging.dir.join("part-0.parquet"), &schema)?;
        }
        let record = Record {
            name: name.to_string(),
            schema,
            partition_by: partition_by.to_vec(),
            rows,
            bytes: dir_size(&staging.dir),
            written_at_ms: now_ms(),
            inputs,
        };
        let version = warehouse.publish(staging, &record)?;
        self.register(zone, &version).await?;
        Ok(version)
    }
}
