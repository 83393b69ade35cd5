//! `mart query`: ad-hoc, read-only SQL over `raw.*` and every model, from
//! an argument, a file, standard input or an interactive prompt.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::Statement as DFStatement;

use crate::run::build::register_all;
use crate::cli::{Format, Global, QueryArgs};
use crate::spec::dag::Dag;
use crate::engine::Engine;
use crate::base::error::{Error, Location, Result, df_message};
use crate::spec::project::Project;
use crate::spec::sql::{self, error_position};
use crate::storage::warehouse::Warehouse;

pub async fn run(global: &Global, args: &QueryArgs) -> Result<ExitCode> {
    let engine = open(global).await?;
    let (text, origin) = match (&args.sql, &args.file) {
        (Some(sql), _) => (sql.clone(), PathBuf::from("<query>")),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
            (text, file.clone())
        }
        (None, None) if std::io::stdin().is_terminal() => {
            if args.output.is_some() {
                return Err(Error::usage(
                    "-o needs the SQL as an argument, with -f, or on standard input",
                ));
            }
            repl(&engine, args.format).await;
            return Ok(ExitCode::SUCCESS);
        }
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::failed(format!("cannot read standard input: {e}")))?;
            (text, PathBuf::from("<stdin>"))
        }
    };
    run_text(&engine, &text, &origin, args.format, args.output.as_deref()).await?;
    Ok(ExitCode::SUCCESS)
}

/// A session over the warehouse: landed sources and built tables as they
/// are published, views and ephemeral models planned from the project.
async fn open(global: &Global) -> Result<Engine> {
    let project = Project::load(&global.project)?;
    let warehouse = Warehouse::new(global.warehouse_dir());
    let engine = Engine::new(&global.config(&project.config))?;
    let dag = Dag::build(&project).unwrap_or_else(|e| {
        eprintln!(
            "warning: views and ephemeral models are not available: {}",
            e.message
        );
        Dag::empty(&project)
    });
    register_all(&engine, &project, &dag, &warehouse).await?;
    Ok(engine)
}

/// Run every statement of `text`; the last one's result goes to `output` if given.
async fn run_text(
    engine: &Engine,
    text: &str,
    origin: &Path,
    format: Format,
    output: Option<&Path>,
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
            let mut err = Error::usage(df_message(&e));
            if line > 0 {
                err = err.at(at(line, column, len), Some(text));
            }
            refused_hint(unknown_table_hint(engine, err))
        })?;
        match output {
            Some(path) => write_file(df, path).await?,
            None => print(df, format).await?,
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

/// "table 'datafusion.public.x' not found": suggest the closest table.
fn unknown_table_hint(engine: &Engine, err: Error) -> Error {
    let Some(name) = err
        .message
        .strip_prefix("table '")
        .and_then(|r| r.split('\'').next())
    else {
        return err;
    };
    let name = name
        .trim_start_matches("datafusion.")
        .trim_start_matches("public.");
    let mut known = Vec::new();
    if let Some(catalog) = engine.ctx.catalog("datafusion") {
        for (schema, prefix) in [("public", ""), ("raw", "raw.")] {
            if let Some(s) = catalog.schema(schema) {
                known.extend(s.table_names().into_iter().map(|t| format!("{prefix}{t}")));
            }
        }
    }
    let help =
        crate::base::error::did_you_mean(name, known.iter().map(String::as_str)).unwrap_or_else(|| {
            "`\\d` at the prompt, or `show tables`, lists the tables; models appear once built"
                .into()
        });
    Error::usage(format!("there is no table `{name}`"))
        .help(help)
        .at_opt(err.location, err.source_line)
}

/// Statements that would write are refused: say why, and what to do instead.
fn refused_hint(mut err: Error) -> Error {
    let m = &err.message;
    if m.starts_with("DDL not supported") || m.starts_with("DML not supported") {
        err.message = format!("`mart query` is read-only ({m})");
        err = err.help("only `mart land` and `mart build` write the warehouse; to save a result, use `-o FILE` (.parquet, .csv or .json)");
    }
    err
}

async fn print(df: DataFrame, format: Format) -> Result<()> {
    let schema = df.schema().as_arrow().clone();
    let batches: Vec<RecordBatch> = df.collect().await?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Error::failed(format!("cannot write the result: {e}"));
    match format {
        Format::Table => {
            let table = pretty_format_batches_with_schema(schema.into(), &batches)
                .map_err(|e| Error::failed(e.to_string()))?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            writeln!(out, "{table}\n{}", crate::run::report::rows(rows as u64)).map_err(io)?;
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &batches {
                writer.write(b).map_err(|e| Error::failed(e.to_string()))?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
            for b in &batches {
                writer.write(b).map_err(|e| Error::failed(e.to_string()))?;
            }
            writer.finish().map_err(|e| Error::failed(e.to_string()))?;
            writeln!(out).map_err(io)?;
        }
    }
    Ok(())
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

/// The interactive prompt: statements end with `;`; `\q` quits, `\d` lists tables.
async fn repl(engine: &Engine, format: Format) {
    use rustyline::error::ReadlineError;
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        eprintln!("error: cannot start the interactive prompt");
        return;
    };
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mart_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "mart query: SQL over raw.* and the models. End statements with `;`, \\d lists tables, \\q quits."
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "mart> "
        } else {
            "  ... "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
                    break;
                }
                let statement = if buffer.is_empty() && trimmed == "\\d" {
                    "SELECT table_schema AS schema, table_name AS name, replace(lower(table_type), 'base ', '') AS kind FROM information_schema.tables WHERE table_schema IN ('raw', 'public') ORDER BY 1, 2;".to_string()
                } else {
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if !trimmed.ends_with(';') {
                        continue;
                    }
                    std::mem::take(&mut buffer)
                };
                let _ = editor.add_history_entry(if trimmed == "\\d" {
                    trimmed
                } else {
                    statement.trim()
                });
                if let Err(e) =
                    run_text(engine, &statement, Path::new("<query>"), format, None).await
                {
                    eprint!("{e}");
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
}
