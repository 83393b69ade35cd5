//! The benchmark's reference: a mart's SQL run by bare DataFusion, with no
//! `mart` in between. It reads the project's `manifest.json` (written by a
//! `mart build`) for the sources and the models in build order, registers
//! the raw files as `raw.<source>`, and runs each model: `COPY (sql) TO
//! '<out>/<model>/' STORED AS PARQUET` for stored models, a view otherwise.
//!
//!     cargo bench --bench bare_datafusion -- PROJECT MANIFEST OUT [key=value ...]
//!
//! The `key=value` pairs are DataFusion settings (as `SET key = value`).
//! Prints each model's time and the total, in seconds.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::error::Result;
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [project, manifest, out, settings @ ..] = args.as_slice() else {
        eprintln!("usage: bare_datafusion PROJECT MANIFEST OUT [key=value ...]");
        std::process::exit(2);
    };
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(manifest)?)
        .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?;
    let mut config = SessionConfig::new();
    for setting in settings {
        let (key, value) = setting.split_once('=').expect("settings are key=value");
        config = config.set_str(key, value);
    }
    let ctx = SessionContext::new_with_config(config);
    // The example's SQL calls `mart`'s own functions.
    mart::register_functions(&ctx);
    ctx.catalog("datafusion")
        .expect("default catalog")
        .register_schema("raw", Arc::new(MemorySchemaProvider::new()))?;

    let started = Instant::now();
    for source in manifest["sources"].as_array().expect("sources") {
        let name = format!("raw.{}", source["name"].as_str().unwrap());
        let input = Path::new(project).join(source["input"].as_str().unwrap());
        let input = input.to_str().unwrap();
        let format = source["format"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                let ext = Path::new(input)
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("");
                match ext {
                    "csv" => "csv".into(),
                    "json" | "jsonl" | "ndjson" => "json".into(),
                    _ => "parquet".into(),
                }
            });
        match format.as_str() {
            "csv" => {
                ctx.register_csv(&name, input, CsvReadOptions::new().file_extension(""))
                    .await?
            }
            "json" => {
                ctx.register_json(&name, input, JsonReadOptions::default().file_extension(""))
                    .await?
            }
            _ => {
                ctx.register_parquet(&name, input, ParquetReadOptions::default())
                    .await?
            }
        }
    }
    for model in manifest["models"].as_array().expect("models") {
        let name = model["name"].as_str().unwrap();
        let sql = std::fs::read_to_string(Path::new(project).join(model["sql"].as_str().unwrap()))?;
        let sql = sql.trim().trim_end_matches(';');
        let t = Instant::now();
        match model["materialized"].as_str().unwrap() {
            "table" | "incremental" => {
                let dir = format!("{out}/{name}/");
                let partition_by: Vec<&str> = model["partition_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str())
                    .collect();
                let partitioned = match partition_by.as_slice() {
                    [] => String::new(),
                    cols => format!(" PARTITIONED BY ({})", cols.join(", ")),
                };
                ctx.sql(&format!(
                    "COPY ({sql}) TO '{dir}' STORED AS PARQUET{partitioned}"
                ))
                .await?
                .collect()
                .await?;
                // Read back as written: partition columns from the folder names.
                let columns = model["columns"].as_array().expect("columns");
                let partition_cols: Vec<(String, DataType)> = partition_by
                    .iter()
                    .map(|p| {
                        let column = columns
                            .iter()
                            .find(|c| c["name"] == *p)
                            .expect("partition column");
                        (
                            p.to_string(),
                            column["data_type"]
                                .as_str()
                                .unwrap()
                                .parse()
                                .expect("a data type"),
                        )
                    })
                    .collect();
                let options = ParquetReadOptions {
                    table_partition_cols: partition_cols,
                    ..Default::default()
                };
                let df = ctx.read_parquet(&dir, options).await?;
                ctx.register_table(name, df.into_view())?;
            }
            _ => {
                let df = ctx.sql(sql).await?;
                ctx.register_table(name, df.into_view())?;
            }
        }
        println!("{name:<28} {:>8.3}", t.elapsed().as_secs_f64());
    }
    println!("{:<28} {:>8.3}", "total", started.elapsed().as_secs_f64());
    Ok(())
}
