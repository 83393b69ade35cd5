//! The DataFusion session every command runs in: raw tables under the `raw`
//! schema, models under their bare names, and the one way a query's result
//! becomes a published table.

pub mod delta;
mod functions;
mod memory;
mod streamed;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::config::{ParquetColumnOptions, TableParquetOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryLimit, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};

use crate::base::error::{Cause, Error, Location, Result, df_message};
use crate::base::fs::dir_size;
use crate::base::time::now_ms;
use crate::storage::warehouse::{InputFile, Meta, Record, Staging, Version, Warehouse, Zone};
use memory::HeadroomPool;

/// Register `mart`'s own SQL functions (statistics, calendar) in `ctx`.
pub fn register_functions(ctx: &SessionContext) {
    functions::register(ctx);
}

/// Write each part into `dir` (each write names its files apart), then
/// link the kept files in; returns the rows written.
async fn write_parts(
    dir: &Path,
    partition_by: &[String],
    keys: &[String],
    parts: Vec<DataFrame>,
    kept: &[KeptFile],
) -> Result<u64> {
    let mut rows = 0;
    for df in parts {
        let options = DataFrameWriteOptions::new().with_partition_by(partition_by.to_vec());
        let parquet = writer_options(&df, keys);
        let batches = df
            .write_parquet(&format!("{}/", dir.display()), options, Some(parquet))
            .await?;
        rows += batches
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
            .map(|a| a.value(0))
            .unwrap_or(0);
    }
    for file in kept {
        carry(file, &dir.join(&file.relative))?;
    }
    Ok(rows)
}

/// Whether text columns get statistics (`config: parquet:` sets
/// `statistics_enabled`), kept in the session's settings.
struct TextStatistics(bool);

/// The session's Parquet writer options for `df`, but with no statistics
/// for its text columns other than `keys` unless the project asks for
/// them: comparing every string with its page's bounds is 8 % of writing
/// the TPC-H fact table, and the bounds of text that is not sorted prune
/// nothing. Keys keep theirs: incremental builds read their bounds.
fn writer_options(df: &DataFrame, keys: &[String]) -> TableParquetOptions {
    let task = df.task_ctx();
    let config = task.session_config();
    let mut options = TableParquetOptions {
        global: config.options().execution.parquet.clone(),
        ..TableParquetOptions::default()
    };
    if config
        .get_extension::<TextStatistics>()
        .is_some_and(|t| t.0)
    {
        return options;
    }
    for field in df.schema().fields() {
        let text = matches!(
            field.data_type(),
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        );
        if text && !keys.contains(field.name()) {
            let column = ParquetColumnOptions {
                statistics_enabled: Some("none".into()),
                ..ParquetColumnOptions::default()
            };
            options
                .column_specific_options
                .insert(field.name().clone(), column);
        }
    }
    options
}

/// `df` run in batches of about half a million values, as 8,192 rows of
/// 64 columns are: the readers of text files buffer each batch per
/// column, and a file of 2,000 columns read 8,192 rows at a time took 600
/// MB to land (310 MB in batches of 1,024 rows).
pub fn batches_for_width(df: DataFrame) -> DataFrame {
    let width = df.schema().fields().len().max(1);
    let (mut state, plan) = df.into_parts();
    let rows = state.config().batch_size();
    let fitted = (rows * 64 / width).clamp(256.min(rows), rows);
    let config = state.config_mut();
    *config = config.clone().with_batch_size(fitted);
    DataFrame::new(state, plan)
}

/// Carry a file over into a new version: a hard link costs nothing and
/// leaves the old version whole; a copy where asked or where links are not
/// possible.
fn carry(file: &KeptFile, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    if !file.link || std::fs::hard_link(&file.path, to).is_err() {
        std::fs::copy(&file.path, to).map_err(|e| Error::io("copy", &file.path, e))?;
    }
    Ok(())
}

fn write_empty(path: &Path, schema: &Schema) -> Result<()> {
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

/// Where and how `Engine::materialize` writes a table.
pub struct Target {
    pub zone: Zone,
    pub name: String,
    pub partition_by: Vec<String>,
    /// For a landed source: the files it came from.
    pub inputs: Vec<InputFile>,
    /// What decided its contents and what it was built from.
    pub meta: Meta,
    /// Files of the current version carried over unchanged (an incremental
    /// build keeps what it does not replace).
    pub kept: Vec<KeptFile>,
    /// Columns written with statistics even when they are text: those an
    /// incremental build reads the bounds of.
    pub keys: Vec<String>,
}

/// A Parquet file of the current version that the new version keeps.
pub struct KeptFile {
    pub path: PathBuf,
    /// Where it goes in the new version (its partition folders).
    pub relative: PathBuf,
    pub rows: u64,
    /// Hard-link it (a file of the warehouse's own, never changed in
    /// place), or copy it (a user's file).
    pub link: bool,
}

impl KeptFile {
    /// Every Parquet file of `version`, hard-linked into the next one (a
    /// version that only adds rows to it).
    pub fn all_of(version: &Version) -> Result<Vec<KeptFile>> {
        let files = version.parquet_files()?;
        files
            .into_iter()
            .map(|(path, relative)| {
                Ok(KeptFile {
                    rows: parquet_rows(&path)?,
                    path,
                    relative,
                    link: true,
                })
            })
            .collect()
    }
}

/// The rows of a Parquet file, from its footer.
pub fn parquet_rows(path: &Path) -> Result<u64> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| Error::failed(format!("cannot read `{}`: {e}", path.display())))?;
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}

/// What the engine is told to do, resolved from flags, the environment and
/// the project's `config:` by the caller.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Memory the engine may hold before it spills to disk, in bytes.
    pub memory_limit: Option<u64>,
    /// DataFusion's Parquet writer options, by their key under
    /// `datafusion.execution.parquet.` (`compression: zstd(3)`).
    pub parquet: Vec<(String, String)>,
    /// Where the Parquet options are declared, for an error about them.
    pub declared: Option<Location>,
}

#[derive(Clone)]
pub struct Engine {
    pub ctx: SessionContext,
}

/// A table's name in SQL: `raw.orders` for a source, `daily_revenue` for
/// a model.
pub fn table_ref(zone: Zone, name: &str) -> TableReference {
    match zone {
        Zone::Raw => TableReference::partial("raw", name),
        Zone::Mart => TableReference::bare(name),
    }
}

impl Engine {
    pub fn new(settings: &EngineOptions) -> Result<Engine> {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            // Positions in planning errors, to point analysts at their SQL.
            .set_bool("datafusion.sql_parser.collect_spans", true)
            // Snappy, as DuckDB writes: on the TPC-H benchmark's wide fact
            // table it writes 10 % faster than DataFusion's zstd(3), for
            // files about a third larger (benches/perf.sh, docs/benchmarks.md).
            .set_str("datafusion.execution.parquet.compression", "snappy")
            // One file per table (split past 50M rows), its columns encoded
            // in parallel: 5 to 10 % faster on that table than the default
            // of four files, with a third less memory.
            .set_usize("datafusion.execution.minimum_parallel_output_files", 1);
        let text_statistics = settings
            .parquet
            .iter()
            .any(|(k, _)| k == "statistics_enabled");
        config = config.with_extension(Arc::new(TextStatistics(text_statistics)));
        for (key, value) in &settings.parquet {
            let key = format!("datafusion.execution.parquet.{key}");
            if let Err(e) = config.options_mut().set(&key, value) {
                let declared = settings
                    .declared
                    .clone()
                    .unwrap_or_else(|| Location::new("marts", 0, 0));
                return Err(Error::usage(format!("config: parquet: {}", df_message(&e)))
                    .at(declared, None)
                    .help("the keys are DataFusion's Parquet writer options: compression, max_row_group_size, statistics_enabled, dictionary_enabled, bloom_filter_on_write, ..."));
            }
        }
        // Tables are re-registered at each new version's folder, so a cached
        // file listing can never be stale; keep none.
        let mut runtime = RuntimeEnvBuilder::new().with_object_list_cache_limit(0);
        if let Some(limit) = settings.memory_limit {
            // Operators that can spill (sorts, aggregations) spill to the
            // system's temporary folder; see `memory`.
            let pool = TrackConsumersPool::new(
                HeadroomPool::new(limit as usize),
                NonZeroUsize::new(5).expect("5 > 0"),
            );
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        Engine::with(config, runtime.build_arc()?)
    }

    /// Every session of every command (build, query, and a server's) is
    /// made here: SQL functions of `mart`'s own belong here too, so that
    /// all of them see the same.
    fn with(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> Result<Engine> {
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        functions::register(&ctx);
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| Error::failed("DataFusion has no default catalog"))?;
        catalog.register_schema("raw", Arc::new(MemorySchemaProvider::new()))?;
        Ok(Engine { ctx })
    }

    /// A new session with nothing registered, sharing this one's settings
    /// and memory pool: a server's sessions share one memory limit.
    pub fn sibling(&self) -> Result<Engine> {
        Engine::with(self.ctx.copied_config(), self.ctx.runtime_env())
    }

    /// An error about an unknown table, with the closest table this
    /// session has: "did you mean".
    pub fn unknown_table_hint(&self, err: Error) -> Error {
        let Cause::UnknownTable(name) = &err.cause else {
            return err;
        };
        let name = name
            .trim_start_matches("datafusion.")
            .trim_start_matches("public.");
        let mut known = Vec::new();
        if let Some(catalog) = self.ctx.catalog("datafusion") {
            for (schema, prefix) in [("public", ""), ("raw", "raw.")] {
                if let Some(s) = catalog.schema(schema) {
                    known.extend(s.table_names().into_iter().map(|t| format!("{prefix}{t}")));
                }
            }
        }
        let help = crate::base::suggest::did_you_mean(name, known.iter().map(String::as_str))
            .unwrap_or_else(|| {
                "`\\d` at the prompt, or `show tables`, lists the tables; models appear once built"
                    .into()
            });
        Error::usage(format!("there is no table `{name}`"))
            .help(help)
            .at_opt(err.location.clone(), err.source_line.clone())
            .caused_by(err.cause.clone())
    }

    /// Make a published version readable under its table name.
    pub async fn register(&self, zone: Zone, version: &Version) -> Result<()> {
        self.register_as(zone, version, self.listing_table(version)?)
    }

    /// Make a published version readable under its table name, from
    /// `table` (its files, or a copy of them in memory).
    pub fn register_as(
        &self,
        zone: Zone,
        version: &Version,
        table: Arc<dyn TableProvider>,
    ) -> Result<()> {
        let name = table_ref(zone, &version.record.name);
        self.ctx.deregister_table(name.clone())?;
        self.ctx.register_table(name, table)?;
        Ok(())
    }

    /// A published version decoded into memory, spread over the session's
    /// partitions (so a query over it uses every core), and its size in
    /// bytes. Answers as its files do: it is their rows, typed alike.
    pub async fn decode(&self, version: &Version) -> Result<(Arc<MemTable>, usize)> {
        let df = self.read_version(version).await?;
        let schema = df.schema().inner().clone();
        let batches: Vec<RecordBatch> = df.collect().await?;
        let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let n = self.ctx.copied_config().target_partitions().max(1);
        let mut parts = vec![Vec::new(); n];
        for (i, batch) in batches.into_iter().enumerate() {
            parts[i % n].push(batch);
        }
        Ok((Arc::new(MemTable::try_new(schema, parts)?), bytes))
    }

    /// A published version as a DataFrame, whatever is registered.
    pub async fn read_version(&self, version: &Version) -> Result<DataFrame> {
        Ok(self.ctx.read_table(self.listing_table(version)?)?)
    }

    fn listing_table(&self, version: &Version) -> Result<Arc<ListingTable>> {
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
        let mut parquet = self.ctx.state_ref().read().table_options().parquet.clone();
        parquet.global.pushdown_filters = true;
        parquet.global.reorder_filters = true;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default().with_options(parquet)))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partitions);
        let url = ListingTableUrl::parse(format!("{}/", version.dir.display()))?;
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(Arc::new(Schema::new(file_fields)));
        let cache = self
            .ctx
            .runtime_env()
            .cache_manager
            .get_file_statistic_cache();
        Ok(Arc::new(ListingTable::try_new(config)?.with_cache(cache)))
    }

    /// Plan a query, refusing anything that would write (DDL, DML, COPY).
    pub async fn plan(&self, sql: &str) -> Result<DataFrame, DataFusionError> {
        // `sql_with_options` copies the session's state twice (to plan, and
        // into the DataFrame): a tenth of a no-op build of 10,000 models.
        let state = self.ctx.state();
        let plan = state.create_logical_plan(sql).await?;
        read_only().verify_plan(&plan)?;
        match plan {
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => {
                self.ctx.execute_logical_plan(plan).await
            }
            plan => Ok(DataFrame::new(state, plan)),
        }
    }

    /// Whether this session runs under a memory limit.
    pub fn has_memory_limit(&self) -> bool {
        matches!(
            self.ctx.runtime_env().memory_pool.memory_limit(),
            MemoryLimit::Finite(_)
        )
    }

    /// `df` planned with sort-merge joins rather than hash joins: they
    /// sort (and so spill) both sides rather than hold one in memory.
    pub fn without_hash_joins(df: DataFrame) -> DataFrame {
        let (mut state, plan) = df.into_parts();
        state.config_mut().options_mut().optimizer.prefer_hash_join = false;
        DataFrame::new(state, plan)
    }

    /// Register a planned query as a view: it is resolved when read.
    pub fn register_view(&self, name: &str, df: DataFrame) -> Result<()> {
        self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, df.into_view())?;
        Ok(())
    }

    /// Register an empty table of `schema` under a model's name: what
    /// planning the models that read it needs.
    pub fn register_empty(&self, name: &str, schema: &Schema) -> Result<()> {
        let empty = EmptyTable::new(Arc::new(schema.clone()));
        self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, Arc::new(empty))?;
        Ok(())
    }

    /// Write `parts` and the kept files as a new version of a table,
    /// publish it atomically and make it readable in this session; see
    /// `stage`. Returns the version and the rows written (kept files aside).
    pub async fn materialize(
        &self,
        warehouse: &Warehouse,
        target: Target,
        parts: Vec<DataFrame>,
    ) -> Result<(Version, u64)> {
        let staged = self.stage(warehouse, target, parts).await?;
        let written = staged.written;
        Ok((self.publish(warehouse, staged).await?, written))
    }

    /// Publish a staged version and make it readable under its name.
    pub async fn publish(&self, warehouse: &Warehouse, staged: Staged) -> Result<Version> {
        let Staged {
            staging, version, ..
        } = staged;
        let zone = staging.zone();
        let version = warehouse.publish(staging, &version.record)?;
        self.register(zone, &version).await?;
        Ok(version)
    }

    /// Write `parts` (each a DataFrame of the table's columns, the first
    /// giving the schema) and the kept files as a new version of a table,
    /// not yet visible to anyone: it can be read (registered) to be
    /// checked, then published or dropped. On failure nothing is left and
    /// the published version stays as it was.
    pub async fn stage(
        &self,
        warehouse: &Warehouse,
        target: Target,
        parts: Vec<DataFrame>,
    ) -> Result<Staged> {
        let Target {
            zone,
            name,
            partition_by,
            inputs,
            meta,
            kept,
            keys,
        } = target;
        let Some(schema) = parts.first().map(|df| df.schema().as_arrow().clone()) else {
            return Err(Error::failed(format!("nothing to write for `{name}`")));
        };
        let staging = warehouse.stage(zone, &name)?;
        let written = match write_parts(&staging.dir, &partition_by, &keys, parts, &kept).await {
            Ok(rows) => rows,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging.dir);
                return Err(e);
            }
        };
        let rows = written + kept.iter().map(|f| f.rows).sum::<u64>();
        if rows == 0 && kept.is_empty() && partition_by.is_empty() {
            // DataFusion writes no file for no rows; other readers need one
            // to know the columns.
            write_empty(&staging.dir.join("part-0.parquet"), &schema)?;
        }
        let record = Record {
            name,
            schema,
            partition_by,
            rows,
            bytes: dir_size(&staging.dir),
            written_at_ms: now_ms(),
            inputs,
            meta,
        };
        let version = Version {
            dir: staging.dir.clone(),
            record,
        };
        Ok(Staged {
            staging,
            version,
            written,
        })
    }

    /// Forget a table of this session.
    pub fn deregister(&self, zone: Zone, name: &str) -> Result<()> {
        self.ctx.deregister_table(table_ref(zone, name))?;
        Ok(())
    }
}

/// A version written but not published.
pub struct Staged {
    staging: Staging,
    /// Its folder and record (readable by `Engine::register`).
    pub version: Version,
    /// The rows written (kept files aside).
    pub written: u64,
}

impl Staged {
    /// Drop it: nothing of it stays.
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.staging.dir);
    }
}
