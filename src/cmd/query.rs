//! `mart query`: ad-hoc, read-only SQL over `raw.*` and every model, from
//! an argument, a file, standard input or an interactive prompt.

use std::path::Path;

use std::io::Write;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::Statement as DFStatement;
use futures::StreamExt;

use crate::base::error::{Cause, Error, Location, Result};
use crate::engine::Engine;
use crate::run::report::{Printer, rows as rows_text};
use crate::spec::sql::{self, error_position};

/// How `mart query` prints or writes a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Parquet,
    /// CSV with a byte-order mark, so that Excel reads UTF-8 text right.
    Excel,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Parquet => "parquet",
            Format::Excel => "excel",
        }
    }

    /// The format a file's extension names.
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Some(Format::Parquet),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Where `mart query` puts the last statement's result.
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    Printer(Format),
    /// A file, in the format of its extension or the one asked for.
    File(&'a Path, Option<Format>),
}

/// What the prompt's `\d` runs: the tables and views there are.
pub const LIST_TABLES: &str = "SELECT table_schema AS schema, table_name AS name, replace(lower(table_type), 'base ', '') AS kind FROM information_schema.tables WHERE table_schema IN ('raw', 'public') ORDER BY 1, 2;";

/// SQL piped in as it would be typed at the prompt: a line `\d` lists the
/// tables, `\q` ends the input. (Each stays one line, so that errors
/// point at the lines as written.)
pub fn prompt_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.trim() {
            "\\q" => break,
            "\\d" => out.push_str(LIST_TABLES),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Run every statement of `text` (from `origin`, to point at it), over
/// `engine` (a workspace's `reader()`); the last one's result goes `to`
/// the printer or a file.
pub async fn run(
    engine: &Engine,
    text: &str,
    origin: &Path,
    to: To<'_>,
    printer: &dyn Printer,
) -> Result<()> {
    let at = |line, column, len| Location::new(origin, line, column).with_len(len);
    let statements = sql::parse(text)
        .map_err(|e| Error::usage(e.message).at(at(e.line, e.column, 1), Some(text)))?;
    if statements.is_empty() {
        return Err(Error::usage("no SQL to run")
            .help("give a query as an argument, with -f FILE, or on standard input"));
    }
    if matches!(to, To::File(..)) && statements.len() > 1 {
        return Err(Error::usage(
            "-o writes one result, but the SQL holds several statements",
        ));
    }
    for statement in statements {
        let df = plan(engine, statement).await.map_err(|e| {
            let (line, column, len) = error_position(&e, text).unwrap_or((0, 0, 1));
            let mut err = Error::from(e).into_usage();
            if line > 0 {
                err = err.at(at(line, column, len), Some(text));
            }
            refused_hint(engine.unknown_table_hint(err))
        })?;
        match to {
            To::File(path, asked) => {
                let rows = write_file(df, path, asked).await?;
                printer.err(&format!(
                    "wrote {} to {}\n",
                    rows_text(rows),
                    path.display()
                ));
            }
            To::Printer(format) => print(df, format, printer).await?,
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
    let mut out = Vec::new();
    match format {
        Format::Table => {
            let table =
                pretty_format_batches_with_schema(schema.into(), &batches).map_err(arrow)?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            return printer.line(&format!("{table}\n{}", rows_text(rows as u64)));
        }
        Format::Csv | Format::Tsv | Format::Excel => {
            // A batch at a time, so that the text is never all in memory.
            let mut text = Text::new(format);
            for b in &batches {
                out.clear();
                text.write(&mut out, b)?;
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
        Format::Parquet => {
            return Err(Error::usage("Parquet is not for the terminal")
                .help("write it to a file: -o FILE.parquet"));
        }
    }
    printer.out(&String::from_utf8_lossy(&out))
}

fn arrow(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::failed(e.to_string())
}

/// Delimited text (CSV, TSV, CSV for Excel), written a batch at a time:
/// the header (after a byte-order mark for Excel) before the first.
struct Text {
    delimiter: u8,
    started: bool,
    bom: bool,
}

impl Text {
    fn new(format: Format) -> Text {
        Text {
            delimiter: if format == Format::Tsv { b'\t' } else { b',' },
            started: false,
            bom: format == Format::Excel,
        }
    }

    fn write(&mut self, out: &mut impl std::io::Write, batch: &RecordBatch) -> Result<()> {
        if !self.started && self.bom {
            out.write_all("\u{feff}".as_bytes())
                .map_err(|e| Error::failed(e.to_string()))?;
        }
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(!self.started)
            .with_delimiter(self.delimiter)
            .build(out);
        self.started = true;
        writer.write(batch).map_err(arrow)
    }
}

/// The format to write `path` in: its extension's, which `asked` (from
/// `--format`) must agree with, or `asked` where it has none.
fn file_format(path: &Path, asked: Option<Format>) -> Result<Format> {
    let shown = path.display();
    match (Format::of(path), asked) {
        (Some(Format::Csv), Some(Format::Excel)) => Ok(Format::Excel),
        (Some(ext), Some(asked)) if ext != asked => Err(Error::usage(format!(
            "--format {} disagrees with `{shown}`, a .{} file",
            asked.name(),
            ext.name()
        ))
        .help("drop --format, or name the file after the format you want")),
        (Some(ext), _) => Ok(ext),
        (None, Some(Format::Table)) => Err(Error::usage(format!(
            "cannot write `{shown}` as a table: tables are for the terminal"
        ))
        .help("--format parquet, csv, tsv, json or excel")),
        (None, Some(asked)) => Ok(asked),
        (None, None) => Err(
            Error::usage(format!("cannot tell what format to write `{shown}` in"))
                .help("name the output file .parquet, .csv, .tsv or .json, or give --format"),
        ),
    }
}

/// Write a result to one file, whole or not at all (it is written beside
/// it, then renamed over it); returns the rows written.
async fn write_file(df: DataFrame, path: &Path, asked: Option<Format>) -> Result<u64> {
    let format = file_format(path, asked)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.mart-partial"));
    let written = write_as(df, &partial, format).await;
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::failed(format!(
                "cannot write `{}`: {}",
                path.display(),
                e.message
            )));
        }
    };
    std::fs::rename(&partial, path).map_err(|e| Error::io("write", path, e))?;
    Ok(rows)
}

async fn write_as(df: DataFrame, path: &Path, format: Format) -> Result<u64> {
    let target = path.to_string_lossy().to_string();
    let options = DataFrameWriteOptions::new().with_single_file_output(true);
    let counted = match format {
        Format::Parquet => df.write_parquet(&target, options, None).await?,
        Format::Json => df.write_json(&target, options, None).await?,
        Format::Csv | Format::Tsv | Format::Excel | Format::Table => {
            let file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
            let mut out = std::io::BufWriter::new(file);
            let mut text = Text::new(format);
            let mut rows = 0;
            let mut stream = df.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                text.write(&mut out, &batch)?;
            }
            if !text.started {
                // No rows: the header alone.
                let schema = stream.schema();
                text.write(&mut out, &RecordBatch::new_empty(schema))?;
            }
            out.flush().map_err(|e| Error::io("write", path, e))?;
            return Ok(rows);
        }
    };
    Ok(counted
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .map_or(0, |a| a.value(0)))
}
