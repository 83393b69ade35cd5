//! `mart query`: ad-hoc, read-only SQL over `raw.*` and every model, from
//! an argument, a file, standard input or an interactive prompt.

use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::Statement as DFStatement;

use crate::base::error::{Cause, Error, Kind, Location, Result, df_message};
use crate::engine::Engine;
use crate::run::report::{Printer, rows as rows_text};
use crate::spec::sql::{self, error_position};

/// How `mart query` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Run every statement of `text` (from `origin`, to point at it), over
/// `engine` (a workspace's `reader()`); the last one's result goes to
/// `output` if given.
pub async fn run(
    engine: &Engine,
    text: &str,
    origin: &Path,
    format: Format,
    output: Option<&Path>,
    printer: &dyn Printer,
) -> Result<()> {
    let at = |line, column, len| Location::new(origin, line, column).with_len(len);
    let statements = sql::parse(text)
        .map_err(|e| Error::usage(e.message).at(at(e.line, e.column, 1), Some(text)))?;
    if statements.is_empty() {
        return Err(Error::usage("no SQL to run")
            .help("give a query as an argument, with -f FILE, or on standard input"));
    }
    if output.is_some() && statements.len() > 1 {
        return Err(Error::usage(
            "-o writes one result, but the SQL holds several statements",
        ));
    }
    for statement in statements {
        let df = plan(engine, statement).await.map_err(|e| {
            let (line, column, len) = error_position(&e, text).unwrap_or((0, 0, 1));
            let mut err = Error::from(e);
            err.kind = Kind::Usage;
            if line > 0 {
                err = err.at(at(line, column, len), Some(text));
            }
            refused_hint(engine.unknown_table_hint(err))
        })?;
        match output {
            Some(path) => write_file(df, path).await?,
            None => print(df, format, printer).await?,
        }
    }
    Ok(())
}

async fn plan(engine: &Engine, statement: DFStatement) -> Result<DataFrame, DataFusionError> {
    let state = engine.ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    crate::engine::read_only().verify_plan(&plan)?;
    engine.ctx.execute_logical_plan(plan).await
}

/// Statements that would write are refused: say why, and what to do instead.
fn refused_hint(mut err: Error) -> Error {
    if err.cause == Cause::ReadOnly {
        err.message = format!("`mart query` is read-only ({})", err.message);
        err = err.help("only `mart land` and `mart build` write the warehouse; to save a result, use `-o FILE` (.parquet, .csv or .json)");
    }
    err
}

async fn print(df: DataFrame, format: Format, printer: &dyn Printer) -> Result<()> {
    let schema = df.schema().as_arrow().clone();
    let batches: Vec<RecordBatch> = df.collect().await?;
    let arrow = |e: datafusion::arrow::error::ArrowError| Error::failed(e.to_string());
    let mut out = Vec::new();
    match format {
        Format::Table => {
            let table =
                pretty_format_batches_with_schema(schema.into(), &batches).map_err(arrow)?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            return printer.line(&format!("{table}\n{}", rows_text(rows as u64)));
        }
        Format::Csv => {
            // A batch at a time, so that the text is never all in memory.
            for (i, b) in batches.iter().enumerate() {
                out.clear();
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(i == 0)
                    .build(&mut out);
                writer.write(b).map_err(arrow)?;
                drop(writer);
                printer.out(&String::from_utf8_lossy(&out))?;
            }
            return Ok(());
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
            for b in &batches {
                writer.write(b).map_err(arrow)?;
            }
            writer.finish().map_err(arrow)?;
            out.push(b'\n');
        }
    }
    printer.out(&String::from_utf8_lossy(&out))
}

/// Write a result to one file, in the format its extension names.
async fn write_file(df: DataFrame, path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let target = path.to_string_lossy().to_string();
    let options = DataFrameWriteOptions::new().with_single_file_output(true);
    let written = match ext.as_deref() {
        Some("parquet") => df.write_parquet(&target, options, None).await,
        Some("csv") => df.write_csv(&target, options, None).await,
        Some("json") | Some("jsonl") | Some("ndjson") => {
            df.write_json(&target, options, None).await
        }
        _ => {
            return Err(Error::usage(format!(
                "cannot tell what format to write `{}` in",
                path.display()
            ))
            .help("name the output file .parquet, .csv or .json"));
        }
    };
    written.map_err(|e| {
        Error::failed(format!(
            "cannot write `{}`: {}",
            path.display(),
            df_message(&e)
        ))
    })?;
    Ok(())
}
