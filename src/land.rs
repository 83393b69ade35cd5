//! Landing: raw CSV, newline-delimited JSON and Parquet files become Parquet
//! tables under `warehouse/raw/<source>/`, readable in SQL as `raw.<source>`.
//!
//! A source is landed again only when its inputs changed: the record of the
//! landed version keeps each input's path, size and modification time.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, UNIX_EPOCH};

use datafusion::prelude::{CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions};

use crate::cli::Global;
use crate::engine::{Engine, KeptFile, Target, parquet_rows};
use crate::error::{Error, Location, Result, did_you_mean};
use crate::fingerprint;
use crate::project::{Format, Project, Source, display_path};
use crate::report::{self, Reporter, Status};
use crate::warehouse::{InputFile, Version, Warehouse, Zone};

/// Rows read to infer a CSV or JSON schema. A wrong guess (a column that
/// looks like integers for this long, then is not) is retried over every row.
const INFER_ROWS: usize = 100_000;

pub async fn run(global: &Global, names: &[String]) -> Result<ExitCode> {
    let started = Instant::now();
    let project = Project::load(&global.project)?;
    let mut selected = Vec::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        match project.source(&name) {
            Some(s) => selected.push(s),
            None => {
                let help = did_you_mean(&name, project.sources.iter().map(|s| s.name.as_str()))
                    .unwrap_or_else(|| {
                        "`mart land` takes the names of sources declared under `sources:` in marts/"
                            .into()
                    });
                return Err(Error::usage(format!("there is no source named `{name}`")).help(help));
            }
        }
    }
    if names.is_empty() {
        selected = project.sources.iter().collect();
    }
    let warehouse = Warehouse::new(global.warehouse_dir());
    let engine = Engine::new(&global.config(&project.config))?;
    let reporter = Reporter::new(selected.len(), true);
    land_sources(&engine, &project, &warehouse, &selected, &reporter).await?;
    let summary = reporter.finish();
    summary.print(started.elapsed());
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Land `sources`, each unless it is up to date, leaving them registered in
/// `engine`. Every input file is looked for before anything is written: a
/// source that matches no file is a bad project. Returns, for each source,
/// how it fared and the fingerprint of the version now registered.
pub async fn land_sources(
    engine: &Engine,
    project: &Project,
    warehouse: &Warehouse,
    sources: &[&Source],
    reporter: &Reporter,
) -> Result<Vec<(Status, Option<String>)>> {
    let inputs: Vec<_> = sources
        .iter()
        .map(|s| resolve_inputs(project, s))
        .collect::<Result<_>>()?;
    warehouse.clean_up()?;
    let mut out = Vec::with_capacity(sources.len());
    for (source, files) in sources.iter().zip(inputs) {
        let name = format!("raw.{}", source.name);
        reporter.started(&name);
        let started = Instant::now();
        match land_source(engine, project, warehouse, source, files).await {
            Ok((status, version)) => {
                let elapsed = (status == Status::Landed).then(|| started.elapsed());
                reporter.finished(
                    status,
                    "source",
                    &name,
                    &report::rows(version.record.rows),
                    elapsed,
                );
                out.push((status, Some(version.record.fingerprint)));
            }
            Err(err) => {
                reporter.failed("source", &name, started.elapsed(), &err);
                out.push((Status::Failed, None));
            }
        }
    }
    Ok(out)
}

/// Land one source unless it is up to date, and leave it registered in
/// `engine` as `raw.<name>`.
async fn land_source(
    engine: &Engine,
    project: &Project,
    warehouse: &Warehouse,
    source: &Source,
    files: Vec<InputFile>,
) -> Result<(Status, Version)> {
    let current = warehouse.current(Zone::Raw, &source.name)?;
    let files = hash_contents(
        files,
        current
            .as_ref()
            .map(|c| c.record.inputs.as_slice())
            .unwrap_or_default(),
    )?;
    let fingerprint = fingerprint::source(source, &files);
    if let Some(current) = current {
        if current.record.fingerprint == fingerprint {
            engine.register(Zone::Raw, &current).await?;
            return Ok((Status::UpToDate, current));
        }
    }
    let format = format_of(project, source, &files)?;
    let target = || Target {
        zone: Zone::Raw,
        name: source.name.clone(),
        partition_by: Vec::new(),
        inputs: files.clone(),
        fingerprint: fingerprint.clone(),
        definition: String::new(),
        kept: Vec::new(),
    };
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    if format == Format::Parquet {
        return match land_parquet(engine, warehouse, source, target(), &paths).await {
            Ok(version) => Ok((Status::Landed, version)),
            Err(e) => Err(explain_read_error(project, source, format, &files, e).await),
        };
    }
    let mut result = match read(engine, source, format, paths.clone(), INFER_ROWS).await {
        Ok(df) => engine
            .materialize(warehouse, target(), vec![df])
            .await
            .map(|(v, _)| v),
        Err(e) => Err(e),
    };
    if matches!(&result, Err(e) if is_parse_error(e)) {
        // A type guessed from the first rows that later rows break: infer
        // again from every row.
        result = match read(engine, source, format, paths, usize::MAX).await {
            Ok(df) => engine
                .materialize(warehouse, target(), vec![df])
                .await
                .map(|(v, _)| v),
            Err(e) => Err(e),
        };
    }
    match result {
        Ok(version) => Ok((Status::Landed, version)),
        Err(e) => Err(explain_read_error(project, source, format, &files, e).await),
    }
}

/// Parquet is landed as it is: once DataFusion has read every file's footer
/// (a file that is not Parquet fails here) and merged their schemas, the
/// files are copied into the new version, not decoded and encoded again.
/// Copied, not linked: a file rewritten in place must not change what is
/// landed.
async fn land_parquet(
    engine: &Engine,
    warehouse: &Warehouse,
    source: &Source,
    mut target: Target,
    paths: &[String],
) -> Result<Version> {
    let df = read(engine, source, Format::Parquet, paths.to_vec(), 0).await?;
    for (i, path) in paths.iter().enumerate() {
        let path = PathBuf::from(path);
        target.kept.push(KeptFile {
            rows: parquet_rows(&path)?,
            relative: PathBuf::from(format!("part-{i:05}.parquet")),
            path,
            link: false,
        });
    }
    // No rows to write: the schema, and the files carried over.
    let (version, _) = engine
        .materialize(warehouse, target, vec![df.limit(0, Some(0))?])
        .await?;
    Ok(version)
}

async fn read(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: Vec<String>,
    infer_rows: usize,
) -> Result<DataFrame> {
    let ctx = &engine.ctx;
    let df = match format {
        Format::Csv => {
            let options = CsvReadOptions::new()
                .has_header(source.has_header)
                .delimiter(source.delimiter)
                .file_extension("")
                .schema_infer_max_records(infer_rows);
            ctx.read_csv(paths, options).await?
        }
        Format::Json => {
            let options = JsonReadOptions::default()
                .file_extension("")
                .schema_infer_max_records(infer_rows);
            ctx.read_json(paths, options).await?
        }
        Format::Parquet => {
            let options = ParquetReadOptions {
                file_extension: "",
                ..Default::default()
            };
            ctx.read_parquet(paths, options).await?
        }
    };
    Ok(df)
}

fn is_parse_error(err: &Error) -> bool {
    let m = &err.message;
    m.contains("Error while parsing value")
        || m.contains("Cannot cast")
        || m.contains("not a valid")
}

/// Files up to this size are identified by a hash of their content; larger
/// ones by their size and modification time alone. BLAKE3 reads this much in
/// a few milliseconds.
const HASH_LIMIT: u64 = 64 << 20;

/// Fill in the content hash of each small input file, reusing the hash
/// recorded when it was landed if its size and modification time are
/// unchanged, so that a no-op build reads no file.
fn hash_contents(mut files: Vec<InputFile>, landed: &[InputFile]) -> Result<Vec<InputFile>> {
    for file in &mut files {
        if file.size > HASH_LIMIT {
            continue;
        }
        let same = landed.iter().find(|l| {
            l.path == file.path && l.size == file.size && l.modified_ns == file.modified_ns
        });
        file.hash = match same.and_then(|l| l.hash.clone()) {
            Some(hash) => Some(hash),
            None => {
                let path = Path::new(&file.path);
                let mut hasher = blake3::Hasher::new();
                fs::File::open(path)
                    .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
                    .map_err(|e| Error::io("read", path, e))?;
                Some(hasher.finalize().to_hex()[..32].to_string())
            }
        };
    }
    Ok(files)
}

/// A source's input files, with the size and modification time that decide
/// whether it must be landed again. No match is an error.
fn resolve_inputs(project: &Project, source: &Source) -> Result<Vec<InputFile>> {
    let full = if Path::new(&source.path).is_absolute() {
        PathBuf::from(&source.path)
    } else {
        project.root.join(&source.path)
    };
    let mut paths = Vec::new();
    let pattern = full.to_string_lossy().to_string();
    if source.path.contains(['*', '?', '[']) {
        let matches = glob::glob(&pattern).map_err(|e| {
            Error::usage(format!(
                "source `{}`: `{}` is not a valid glob: {}",
                source.name, source.path, e.msg
            ))
            .at(
                source.declared.clone(),
                fs::read_to_string(&source.declared.file).ok().as_deref(),
            )
        })?;
        paths.extend(matches.flatten().filter(|p| p.is_file()));
    } else if full.is_dir() {
        crate::project::walk(&full, &mut |p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with(['.', '_']));
            let wanted = match source.format {
                Some(f) => Format::from_extension(p).is_none_or(|e| e == f),
                None => Format::from_extension(p).is_some(),
            };
            if !hidden && wanted {
                paths.push(p.to_path_buf());
            }
        })?;
    } else if full.is_file() {
        paths.push(full.clone());
    }
    paths.sort();
    if paths.is_empty() {
        let text = fs::read_to_string(&source.declared.file).ok();
        return Err(Error::usage(format!(
            "source `{}`: `{}` matches no file",
            source.name, source.path
        ))
        .at(source.declared.clone(), text.as_deref())
        .help(format!(
            "`path:` is a file, a folder or a glob, relative to the project folder `{}`",
            project.root.display()
        )));
    }
    paths
        .into_iter()
        .map(|p| {
            let meta = fs::metadata(&p).map_err(|e| Error::io("read", &p, e))?;
            let modified_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let path = fs::canonicalize(&p)
                .unwrap_or(p)
                .to_string_lossy()
                .to_string();
            Ok(InputFile {
                path,
                size: meta.len(),
                modified_ns,
                hash: None,
            })
        })
        .collect()
}

fn format_of(project: &Project, source: &Source, files: &[InputFile]) -> Result<Format> {
    if let Some(f) = source.format {
        return Ok(f);
    }
    let mut found = None;
    for file in files {
        let f = Format::from_extension(Path::new(&file.path));
        if f.is_none() || (found.is_some() && f != found) {
            let text = fs::read_to_string(&source.declared.file).ok();
            return Err(Error::usage(format!(
                "source `{}`: cannot tell the format of `{}` from its extension",
                source.name,
                shown(project, &file.path).display()
            ))
            .at(source.declared.clone(), text.as_deref())
            .help("set `format: csv`, `format: json` or `format: parquet` on the source"));
        }
        found = f;
    }
    Ok(found.unwrap_or(Format::Csv))
}

fn shown(project: &Project, path: &str) -> PathBuf {
    let root = fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    match Path::new(path).strip_prefix(&root) {
        Ok(rel) => display_path(&project.root, rel),
        Err(_) => PathBuf::from(path),
    }
}

/// Name the file (and the line, where it can be found) that a read failed on.
async fn explain_read_error(
    project: &Project,
    source: &Source,
    format: Format,
    files: &[InputFile],
    err: Error,
) -> Error {
    let culprit = if files.len() == 1 {
        Some(&files[0])
    } else {
        find_bad_file(source, format, files).await
    };
    let mut message = err.message;
    let (line, column) = match (format, culprit) {
        (Format::Json, Some(file)) => match bad_json_line(&file.path) {
            Some((line, column, why)) => {
                message = format!("line {line} is not a JSON object ({why})");
                (Some(line), column)
            }
            None => (None, 0),
        },
        (Format::Csv, Some(_)) => (csv_error_line(&message), 0),
        _ => (None, 0),
    };
    let mut error = Error::failed(format!("cannot land source `{}`: {message}", source.name));
    error.help = err.help;
    let Some(file) = culprit else { return error };
    let path = shown(project, &file.path);
    if error.help.is_none() {
        error.help = Some(match format {
            Format::Csv => "fix the file, or set `delimiter:` / `has_header:` on the source if they differ from `,` and true".into(),
            Format::Json => "each line of a JSON source must be one JSON object".into(),
            Format::Parquet => "the file is not valid Parquet: export it again".into(),
        });
    }
    match line {
        Some(n) => {
            let mut e = error.at(Location::new(path, n, column), None);
            e.source_line = read_line(&file.path, n);
            e
        }
        None => error.at(Location::new(path, 0, 0), None),
    }
}

/// With several input files, read each alone to find the one that fails.
async fn find_bad_file<'a>(
    source: &Source,
    format: Format,
    files: &'a [InputFile],
) -> Option<&'a InputFile> {
    let engine = Engine::new(&Default::default()).ok()?;
    for file in files {
        let bad = match read(&engine, source, format, vec![file.path.clone()], usize::MAX).await {
            Ok(df) => df.count().await.is_err(),
            Err(_) => true,
        };
        if bad {
            return Some(file);
        }
    }
    None
}

/// The first line of a newline-delimited JSON file that is not a JSON
/// object: its number, the column of the problem and what it is.
fn bad_json_line(path: &str) -> Option<(usize, usize, String)> {
    let file = fs::File::open(path).ok()?;
    BufReader::new(file)
        .lines()
        .enumerate()
        .find_map(|(i, line)| {
            let Ok(line) = line else {
                return Some((i + 1, 0, "not UTF-8 text".into()));
            };
            if line.trim().is_empty() {
                return None;
            }
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(serde_json::Value::Object(_)) => None,
                Ok(_) => Some((i + 1, 1, "a JSON value, but not an object".into())),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.split(" at line ").next().unwrap_or(&why).to_string();
                    Some((i + 1, e.column(), why))
                }
            }
        })
}

/// The line arrow-csv names ("... at line N"), which counts the header.
fn csv_error_line(message: &str) -> Option<usize> {
    let rest = &message[message.rfind("line ")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn read_line(path: &str, n: usize) -> Option<String> {
    let file = fs::File::open(path).ok()?;
    BufReader::new(file).lines().nth(n.checked_sub(1)?)?.ok()
}
