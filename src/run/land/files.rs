//! Landing files: raw CSV, newline-delimited JSON and Parquet files become
//! Parquet tables.
//!
//! A source is landed again only when its inputs changed: the record of the
//! landed version keeps each input's path, size and modification time.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::logical_expr::{Expr, cast, ident};
use datafusion::prelude::{CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions};

use crate::base::error::{Cause, Error, Kind, Location, Result};
use crate::base::fs::{display_path, walk};
use crate::base::suggest::did_you_mean;
use crate::engine::{Engine, KeptFile, Target, batches_for_width, parquet_rows};
use crate::run::fingerprint;
use crate::run::land::Fresh;
use crate::run::report::Status;
use crate::spec::project::{Files, Format, Project, Read, Source};
use crate::storage::warehouse::{InputFile, Meta, Version, Warehouse, Zone};

/// Rows read to infer a CSV or JSON schema. A wrong guess (a column that
/// looks like integers for this long, then is not) is retried over every row.
const INFER_ROWS: usize = 100_000;

/// How a file source is read: every source this module lands is one.
fn options(source: &Source) -> &Files {
    match &source.read {
        Read::Files(f) => f,
        Read::Database(_) => unreachable!("`{}` reads a database", source.name),
    }
}

/// Land one source unless it is up to date, and leave it registered in
/// `engine` as `raw.<name>`. Returns how it fared, the version now
/// published, and the rows appended when only appended rows were landed.
pub(super) async fn land(
    engine: &Engine,
    project: &Project,
    warehouse: &Warehouse,
    source: &Source,
    files: Vec<InputFile>,
) -> Result<Fresh> {
    let current = warehouse.current(Zone::Raw, &source.name)?;
    let files = hash_contents(
        files,
        current
            .as_ref()
            .map(|c| c.record.inputs.as_slice())
            .unwrap_or_default(),
    )?;
    let fingerprint = fingerprint::source(source, &files);
    if let Some(current) = &current
        && current.record.meta.fingerprint == fingerprint
    {
        engine.register(Zone::Raw, current).await?;
        return Ok(Fresh::new(Status::UpToDate, current.clone(), None));
    }
    let format = format_of(project, source, &files)?;
    let landed = current
        .as_ref()
        .map(|c| c.record.inputs.as_slice())
        .unwrap_or_default();
    check_text_files(project, source, format, &files, landed)?;
    let target = || Target {
        zone: Zone::Raw,
        name: source.name.clone(),
        partition_by: Vec::new(),
        inputs: files.clone(),
        // A whole landing, unless it turns out to add rows alone.
        meta: Meta {
            fingerprint: fingerprint.clone(),
            base: fingerprint.clone(),
            ..Meta::default()
        },
        kept: Vec::new(),
        keys: Vec::new(),
    };
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    if format == Format::Parquet {
        return match land_parquet(engine, warehouse, source, target(), current.as_ref()).await {
            Ok(version) => Ok(Fresh::new(Status::Landed, version, None)),
            Err(e) => Err(explain_read_error(project, source, format, &files, e).await),
        };
    }
    if let Some(current) = &current {
        // Only appends since the last landing: land the new rows alone. Any
        // doubt (and any error) lands the whole source again below.
        if let Ok(Some((version, appended))) =
            land_appends(engine, warehouse, source, format, current, &files, target()).await
        {
            return Ok(Fresh::new(Status::Landed, version, Some(appended)));
        }
    }
    let (paths, target) = (&paths, &target);
    let whole = |rows| async move {
        let inferred = Columns::Inferred(rows);
        let df = read(
            engine,
            source,
            format,
            paths.clone(),
            options(source).has_header,
            inferred,
        )
        .await?;
        let (version, _) = engine.materialize(warehouse, target(), vec![df]).await?;
        Ok::<_, Error>(version)
    };
    let mut result = whole(INFER_ROWS).await;
    if matches!(&result, Err(e) if e.cause == Cause::Cast) {
        // A type guessed from the first rows that later rows break: infer
        // again from every row.
        result = whole(usize::MAX).await;
    }
    match result {
        Ok(version) => Ok(Fresh::new(Status::Landed, version, None)),
        Err(e) => Err(explain_read_error(project, source, format, &files, e).await),
    }
}

/// Land what was appended to a CSV or JSON-lines source since `current`:
/// new rows at the end of files already landed, and new files. It applies
/// only when every landed file is still there and starts with the very bytes
/// landed (their hash matches), ending at a line break, and when the new rows
/// have the landed columns; then the new version is the current one's files,
/// linked, and the new rows, read with the landed schema. `None`: not only
/// appends.
async fn land_appends(
    engine: &Engine,
    warehouse: &Warehouse,
    source: &Source,
    format: Format,
    current: &Version,
    files: &[InputFile],
    mut target: Target,
) -> Result<Option<(Version, u64)>> {
    let Some(parts) = appended(source, current, files)? else {
        return Ok(None);
    };
    let schema = &current.record.schema;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let tmp = warehouse.root.join("_mart").join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let mut frames = Vec::new();
    let mut tails = Vec::new();
    for (i, Appended { path, offset }) in parts.iter().enumerate() {
        // A tail is copied aside to be read as a file of its own.
        let file = if *offset == 0 {
            path.clone()
        } else {
            let tail = tmp.join(format!(".append-{}-{i}", source.name));
            copy_tail(Path::new(path), *offset, &tail)?;
            tails.push(tail.clone());
            tail.to_string_lossy().into_owned()
        };
        let header = options(source).has_header && *offset == 0;
        // The new rows' own columns must be the landed ones.
        let inferred = read(
            engine,
            source,
            format,
            vec![file.clone()],
            header,
            Columns::Inferred(usize::MAX),
        )
        .await?;
        let columns: Vec<&str> = inferred
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let same = match format {
            Format::Csv if header => columns == names,
            Format::Csv => columns.len() == names.len(),
            _ => columns.iter().all(|c| names.contains(c)),
        };
        if !same {
            return Ok(None);
        }
        frames.push(
            read(
                engine,
                source,
                format,
                vec![file],
                header,
                Columns::Given(schema),
            )
            .await?,
        );
    }
    target.meta = current.record.meta.added_to(target.meta);
    target.kept.extend(KeptFile::all_of(current)?);
    let result = engine.materialize(warehouse, target, frames).await;
    for tail in tails {
        let _ = std::fs::remove_file(tail);
    }
    Ok(Some(result?))
}

/// Rows appended to a file since it was landed: from `offset` on (0: a
/// new file, read whole).
struct Appended {
    path: String,
    offset: u64,
}

/// Where the rows added since `current` start in each file, if the files
/// only grew: every landed file is still there, read with the same
/// options, and starts with the very bytes landed. `None`: not only appends.
fn appended(
    source: &Source,
    current: &Version,
    files: &[InputFile],
) -> Result<Option<Vec<Appended>>> {
    let landed = &current.record.inputs;
    if !same_options(source, current)
        || !landed
            .iter()
            .all(|l| files.iter().any(|f| f.path == l.path))
    {
        return Ok(None); // read otherwise now, or a file is gone
    }
    let mut parts = Vec::new();
    for f in files {
        let path = f.path.clone();
        match landed.iter().find(|l| l.path == f.path) {
            None => parts.push(Appended { path, offset: 0 }),
            Some(l) if l.size == f.size && l.hash.is_some() && l.hash == f.hash => {}
            Some(l)
                if f.size > l.size
                    && l.hash.is_some()
                    && prefix_hash(&f.path, l.size)? == l.hash =>
            {
                parts.push(Appended {
                    path,
                    offset: l.size,
                })
            }
            Some(_) => return Ok(None),
        }
    }
    Ok((!parts.is_empty()).then_some(parts))
}

/// Whether `source` is read as it was when `current` was landed: its
/// options give the landed fingerprint over the landed files.
fn same_options(source: &Source, current: &Version) -> bool {
    fingerprint::source(source, &current.record.inputs) == current.record.meta.fingerprint
}

/// The content hash of a file's first `len` bytes, as `hash_contents` makes
/// it; `None` unless those bytes end a line.
fn prefix_hash(path: &str, len: u64) -> Result<Option<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let path = Path::new(path);
    let mut file = fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len.saturating_sub(1)))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(|e| Error::io("read", path, e))?;
    if len == 0 || last[0] != b'\n' {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("read", path, e))?;
    content_hash(path, file.take(len)).map(Some)
}

/// The hash that identifies content: BLAKE3, in 32 hex digits.
fn content_hash(path: &Path, reader: impl std::io::Read) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(reader)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(hasher.finalize().to_hex()[..32].to_string())
}

/// Copy the bytes of `path` from `offset` on to `to`.
fn copy_tail(path: &Path, offset: u64, to: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut from = fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    from.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("read", path, e))?;
    let mut out = fs::File::create(to).map_err(|e| Error::io("create", to, e))?;
    std::io::copy(&mut from, &mut out).map_err(|e| Error::io("write", to, e))?;
    Ok(())
}

/// Parquet is landed as it is: once DataFusion has read every file's footer
/// (a file that is not Parquet fails here) and merged their schemas, the
/// files are copied into the new version, not decoded and encoded again.
/// Copied, not linked: a file rewritten in place must not change what is
/// landed. A file landed before and unchanged since is linked from the
/// current version instead, so adding a file copies that file alone.
async fn land_parquet(
    engine: &Engine,
    warehouse: &Warehouse,
    source: &Source,
    mut target: Target,
    current: Option<&Version>,
) -> Result<Version> {
    let paths: Vec<String> = target.inputs.iter().map(|f| f.path.clone()).collect();
    // Every file landed before still there as it was: new files add rows alone.
    if let Some(current) = current
        && same_options(source, current)
        && current
            .record
            .inputs
            .iter()
            .all(|l| target.inputs.contains(l))
    {
        target.meta = current.record.meta.added_to(target.meta.clone());
    }
    let df = read(
        engine,
        source,
        Format::Parquet,
        paths,
        false,
        Columns::Inferred(0),
    )
    .await?;
    for (i, input) in target.inputs.iter().enumerate() {
        let relative = PathBuf::from(format!("part-{i:05}.parquet"));
        let landed = current.and_then(|c| {
            let j = c.record.inputs.iter().position(|l| l == input)?;
            let file = c.dir.join(format!("part-{j:05}.parquet"));
            file.is_file().then_some(file)
        });
        let (path, link) = match landed {
            Some(file) => (file, true),
            None => (PathBuf::from(&input.path), false),
        };
        target.kept.push(KeptFile {
            rows: parquet_rows(&path)?,
            relative,
            path,
            link,
        });
    }
    // No rows to write: the schema, and the files carried over.
    let (version, _) = engine
        .materialize(warehouse, target, vec![df.limit(0, Some(0))?])
        .await?;
    Ok(version)
}

/// Where the columns of raw CSV or JSON come from.
#[derive(Clone, Copy)]
enum Columns<'a> {
    /// Inferred from this many rows.
    Inferred(usize),
    /// As landed before.
    Given(&'a Schema),
}

/// Read raw files; `header` is for CSV, `columns` for CSV and JSON. CSV
/// and JSON columns are typed as `typed` says; a column declared as a
/// timestamp of a time zone is read in that zone and landed in UTC.
async fn read(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: Vec<String>,
    header: bool,
    columns: Columns<'_>,
) -> Result<DataFrame> {
    if format == Format::Parquet {
        let options = ParquetReadOptions {
            file_extension: "",
            ..Default::default()
        };
        return Ok(engine.ctx.read_parquet(paths, options).await?);
    }
    let (landed, orders) = match columns {
        Columns::Given(schema) => (schema.clone(), Vec::new()),
        Columns::Inferred(rows) => {
            let (schema, orders) = infer(engine, source, format, &paths, header, rows).await?;
            let typed = typed(
                engine, source, format, &paths, header, &orders, schema, rows,
            )
            .await?;
            (typed, orders)
        }
    };
    let reading = read_as_declared(source, &landed);
    let df = read_text(engine, source, format, paths, header, &orders, &reading).await?;
    let df = batches_for_width(df);
    if reading == landed {
        return Ok(df);
    }
    let exprs: Vec<Expr> = landed
        .fields()
        .iter()
        .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
        .collect();
    Ok(df.select(exprs)?)
}

/// The columns of CSV or JSON files as their readers infer them from
/// `rows` rows, and for CSV files with a header each file's order of
/// columns. DataFusion infers the columns of several files from the first
/// alone: each file's are inferred and merged, so that a column that is
/// numbers in one file and text in another is read as text.
async fn infer(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: &[String],
    header: bool,
    rows: usize,
) -> Result<(Schema, Vec<Vec<String>>)> {
    if paths.len() == 1 {
        let df = read_inferred(engine, source, format, paths.to_vec(), header, rows).await?;
        return Ok((df.schema().as_arrow().clone(), Vec::new()));
    }
    // A sample of every file, as many rows in all as asked.
    let rows = match rows {
        usize::MAX => rows,
        rows => (rows / paths.len()).max(1000),
    };
    let mut schemas = Vec::with_capacity(paths.len());
    for path in paths {
        let df = read_inferred(engine, source, format, vec![path.clone()], header, rows).await?;
        schemas.push((path.as_str(), df.schema().as_arrow().clone()));
    }
    let orders = match (format, header) {
        (Format::Csv, true) => schemas
            .iter()
            .map(|(_, s)| s.fields().iter().map(|f| f.name().clone()).collect())
            .collect(),
        _ => Vec::new(),
    };
    Ok((merge_columns(format, &schemas)?, orders))
}

async fn read_inferred(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: Vec<String>,
    header: bool,
    rows: usize,
) -> Result<DataFrame> {
    let ctx = &engine.ctx;
    Ok(match format {
        Format::Csv => {
            let options = CsvReadOptions::new()
                .has_header(header)
                .delimiter(options(source).delimiter)
                .file_extension("")
                .schema_infer_max_records(rows);
            ctx.read_csv(paths, options).await?
        }
        _ => {
            let options = JsonReadOptions::default()
                .file_extension("")
                .schema_infer_max_records(rows);
            ctx.read_json(paths, options).await?
        }
    })
}

/// Read CSV or JSON files with the columns of `schema`. CSV files whose
/// headers (`orders`, one a file, if known) hold the columns in another
/// order are read apart and combined by name, as DuckDB's `union_by_name`.
async fn read_text(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: Vec<String>,
    header: bool,
    orders: &[Vec<String>],
    schema: &Schema,
) -> Result<DataFrame> {
    let ctx = &engine.ctx;
    if format == Format::Json {
        let mut options = JsonReadOptions::default().file_extension("");
        options.schema = Some(schema);
        return Ok(ctx.read_json(paths, options).await?);
    }
    let csv = |paths: Vec<String>, schema: Schema| async move {
        let mut options = CsvReadOptions::new()
            .has_header(header)
            .delimiter(options(source).delimiter)
            .file_extension("");
        options.schema = Some(&schema);
        ctx.read_csv(paths, options).await
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Files by their order of columns, the schema's own first.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let order = orders
            .get(i)
            .cloned()
            .unwrap_or_else(|| names.iter().map(|n| n.to_string()).collect());
        match groups.iter_mut().find(|(o, _)| *o == order) {
            Some((_, group)) => group.push(path.clone()),
            None => groups.push((order, vec![path.clone()])),
        }
    }
    let mut combined: Option<DataFrame> = None;
    for (order, paths) in groups {
        let fields: Vec<_> = order
            .iter()
            .filter_map(|n| schema.field_with_name(n).ok().cloned())
            .collect();
        let df = csv(paths, Schema::new(fields))
            .await?
            .select_columns(&names)?;
        combined = Some(match combined {
            None => df,
            Some(all) => all.union(df)?,
        });
    }
    combined.ok_or_else(|| Error::failed("no file to read"))
}

/// What a column of text holds: times (the digits of their fractions of a
/// second, whether they carry an offset), dates, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Date,
    Time { digits: usize, offset: bool },
    Other,
}

/// `2026-10-01`, `2026-10-01T07:27:33`, `2026-10-01 07:27:33.250+09:00`, `...Z`.
fn text_kind(s: &str) -> Text {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    if !date {
        return Text::Other;
    }
    if b.len() == 10 {
        return Text::Date;
    }
    let time = matches!(b.get(10), Some(b'T' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !time {
        return Text::Other;
    }
    let mut at = 19;
    let mut fraction = 0;
    if b.get(at) == Some(&b'.') {
        fraction = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if !(1..=9).contains(&fraction) {
            return Text::Other;
        }
        at += 1 + fraction;
    }
    let zone = &s[at..];
    let offset = match zone.as_bytes() {
        [] => false,
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, rest @ ..] if h1.is_ascii_digit() && h2.is_ascii_digit() => {
            match rest {
                [] => true,
                [m1, m2] | [b':', m1, m2] => m1.is_ascii_digit() && m2.is_ascii_digit(),
                _ => false,
            }
        }
        _ => return Text::Other,
    };
    Text::Time {
        digits: fraction,
        offset,
    }
}

/// The types a source's columns land as, beyond what the readers infer:
/// - a timestamp written with an offset (`+09:00`, `Z`) is an instant,
///   typed `Timestamp(.., "UTC")`; naive ones stay naive;
/// - a JSON string that is a date or a time in every row sampled is one,
///   as CSV's reader infers it;
/// - a column's declared `type:` wins (a timestamp with `timezone:` lands
///   in UTC, read in that zone: see `read_as_declared`).
#[allow(clippy::too_many_arguments)]
async fn typed(
    engine: &Engine,
    source: &Source,
    format: Format,
    paths: &[String],
    header: bool,
    orders: &[Vec<String>],
    schema: Schema,
    rows: usize,
) -> Result<Schema> {
    use datafusion::arrow::array::{Array, StringArray};
    let declared = |name: &str| {
        source
            .columns
            .iter()
            .find(|c| c.read_as.is_some() && c.name.eq_ignore_ascii_case(name))
    };
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let candidates: Vec<usize> = (0..fields.len())
        .filter(|&i| declared(fields[i].name()).is_none())
        .filter(|&i| {
            matches!(
                (format, fields[i].data_type()),
                (Format::Csv, DataType::Timestamp(_, None)) | (Format::Json, DataType::Utf8)
            )
        })
        .collect();
    if !candidates.is_empty() {
        let mut as_text = fields.clone();
        for &i in &candidates {
            as_text[i] = Field::new(fields[i].name(), DataType::Utf8, true);
        }
        let names: Vec<&str> = candidates
            .iter()
            .map(|&i| fields[i].name().as_str())
            .collect();
        let df = read_text(
            engine,
            source,
            format,
            paths.to_vec(),
            header,
            orders,
            &Schema::new(as_text),
        )
        .await?
        .select_columns(&names)?
        .limit(0, (rows != usize::MAX).then_some(rows))?;
        let batches = df.collect().await?;
        for (j, &i) in candidates.iter().enumerate() {
            let values = batches.iter().flat_map(|b| {
                let a = b.column(j).as_any().downcast_ref::<StringArray>();
                a.into_iter().flat_map(|a| a.iter().flatten())
            });
            if let Some(ty) = common_kind(values).and_then(|k| k.refine(fields[i].data_type())) {
                fields[i] = Field::new(fields[i].name(), ty, true);
            }
        }
    }
    declared_types(source, &schema, &mut fields)?;
    Ok(Schema::new(fields))
}

/// What every value of a text column is, if they are all dates or all
/// times (the most fractional digits and whether any has an offset).
fn common_kind<'a>(values: impl Iterator<Item = &'a str>) -> Option<Text> {
    let mut kinds = values.map(text_kind);
    let first = kinds.next()?;
    kinds.try_fold(first, |all, k| match (all, k) {
        (Text::Date, Text::Date) => Some(Text::Date),
        (
            Text::Time {
                digits: a,
                offset: x,
            },
            Text::Time {
                digits: b,
                offset: y,
            },
        ) => Some(Text::Time {
            digits: a.max(b),
            offset: x || y,
        }),
        _ => None,
    })
}

impl Text {
    /// The type a column the reader typed `read` lands as, when all its
    /// values are of this kind: a naive CSV timestamp with offsets is UTC;
    /// JSON text is a date or a timestamp to the precision written.
    fn refine(self, read: &DataType) -> Option<DataType> {
        match (self, read) {
            (Text::Time { offset: true, .. }, DataType::Timestamp(unit, None)) => {
                Some(DataType::Timestamp(*unit, Some("UTC".into())))
            }
            (Text::Time { digits, offset }, DataType::Utf8) => {
                let unit = match digits {
                    0 => TimeUnit::Second,
                    1..=3 => TimeUnit::Millisecond,
                    4..=6 => TimeUnit::Microsecond,
                    _ => TimeUnit::Nanosecond,
                };
                Some(DataType::Timestamp(unit, offset.then(|| "UTC".into())))
            }
            (Text::Date, DataType::Utf8) => Some(DataType::Date32),
            _ => None,
        }
    }
}

/// Give the columns with a declared `type:` that type (a timestamp with
/// a `timezone:` lands in UTC); a declared column the files lack is an error.
fn declared_types(source: &Source, schema: &Schema, fields: &mut [Field]) -> Result<()> {
    for column in source.columns.iter().filter(|c| c.read_as.is_some()) {
        let Some(field) = fields
            .iter_mut()
            .find(|f| f.name().eq_ignore_ascii_case(&column.name))
        else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::usage(format!(
                "source `{}`: column `{}` has a declared type, but the files have no such column",
                source.name, column.name
            ))
            .at(source.declared.clone(), None)
            .help(
                did_you_mean(&column.name, names.iter().copied())
                    .unwrap_or_else(|| format!("the columns are: {}", names.join(", "))),
            ));
        };
        let ty = match column.read_as.clone() {
            Some(DataType::Timestamp(unit, Some(_))) => {
                DataType::Timestamp(unit, Some("UTC".into()))
            }
            Some(ty) => ty,
            None => continue,
        };
        *field = Field::new(field.name(), ty, true);
    }
    Ok(())
}

/// The columns to read the files with: as landed, but a timestamp declared
/// with a `timezone:` is read as local times of that zone.
fn read_as_declared(source: &Source, landed: &Schema) -> Schema {
    use datafusion::arrow::datatypes::{DataType, Field};
    let fields: Vec<Field> = landed
        .fields()
        .iter()
        .map(|f| {
            let zoned = source.columns.iter().find_map(|c| match &c.read_as {
                Some(ty @ DataType::Timestamp(_, Some(_)))
                    if c.name.eq_ignore_ascii_case(f.name()) =>
                {
                    Some(ty.clone())
                }
                _ => None,
            });
            match zoned {
                Some(ty) => Field::new(f.name(), ty, true),
                None => f.as_ref().clone(),
            }
        })
        .collect();
    Schema::new(fields)
}

/// What the CSV and JSON readers would take without a word: an empty CSV
/// file (it has not even a header), only empty JSON files (nothing says
/// what the columns are), and a CSV quote that never closes (the rest of the
/// file would become one field).
fn check_text_files(
    project: &Project,
    source: &Source,
    format: Format,
    files: &[InputFile],
    landed: &[InputFile],
) -> Result<()> {
    let fail = |file: &InputFile, line: usize, message: String, help: &str| {
        let path = shown(project, &file.path);
        let mut err = Error::failed(format!("cannot land source `{}`: {message}", source.name))
            .at(Location::new(path, line, 0), None)
            .help(help.to_string());
        err.source_line = (line > 0).then(|| read_line(&file.path, line)).flatten();
        err
    };
    match format {
        Format::Csv => {
            // Files landed before as they are now were checked then.
            let new = files
                .iter()
                .filter(|f| f.hash.is_none() || !landed.contains(f));
            for file in new {
                if file.size == 0 && options(source).has_header {
                    return Err(fail(
                        file,
                        0,
                        "the file is empty: a CSV file needs at least its header line".into(),
                        "export it again, or remove it if it holds nothing",
                    ));
                }
                let quote_open = unclosed_quote(Path::new(&file.path), options(source).delimiter)
                    .map_err(|e| Error::io("read", Path::new(&file.path), e))?;
                if let Some(line) = quote_open {
                    return Err(fail(
                        file,
                        line,
                        format!("the quoted field opened on line {line} is never closed"),
                        "close the quote (a quote inside a quoted field is written twice: \"\")",
                    ));
                }
            }
        }
        Format::Json if files.iter().all(|f| f.size == 0) => {
            return Err(fail(
                &files[0],
                0,
                "the files are empty: there is no row to find the columns from".into(),
                "land the source once it has rows",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The line on which a quoted CSV field opens and never closes, if one
/// does. Quotes open a field only at its start, as the CSV reader reads
/// them; chunks without a quote are skipped at memchr speed.
fn unclosed_quote(path: &Path, delimiter: u8) -> std::io::Result<Option<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut reader = BufReader::with_capacity(1 << 20, fs::File::open(path)?);
    let (mut state, mut offset, mut opened) = (State::FieldStart, 0u64, 0u64);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        if state != State::Quoted && state != State::QuoteInQuoted && !chunk.contains(&b'"') {
            let last = chunk[chunk.len() - 1];
            state = if last == b'\n' || last == delimiter {
                State::FieldStart
            } else {
                State::Unquoted
            };
        } else {
            for (i, &b) in chunk.iter().enumerate() {
                state = match (state, b) {
                    (State::FieldStart, b'"') => {
                        opened = offset + i as u64;
                        State::Quoted
                    }
                    (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\n') => {
                        State::FieldStart
                    }
                    (State::FieldStart | State::Unquoted | State::QuoteInQuoted, d)
                        if d == delimiter =>
                    {
                        State::FieldStart
                    }
                    (State::FieldStart | State::Unquoted, _) => State::Unquoted,
                    (State::Quoted, b'"') => State::QuoteInQuoted,
                    (State::Quoted, _) => State::Quoted,
                    (State::QuoteInQuoted, b'"') => State::Quoted,
                    (State::QuoteInQuoted, _) => State::Unquoted,
                };
            }
        }
        let n = chunk.len();
        offset += n as u64;
        reader.consume(n);
    }
    if state != State::Quoted {
        return Ok(None);
    }
    // The line of the opening quote: count the line breaks before it.
    let mut reader = BufReader::with_capacity(1 << 20, fs::File::open(path)?);
    let (mut line, mut at) = (1, 0u64);
    while at < opened {
        let chunk = reader.fill_buf()?;
        let take = chunk.len().min((opened - at) as usize);
        line += chunk[..take].iter().filter(|&&b| b == b'\n').count();
        at += take as u64;
        reader.consume(take);
    }
    Ok(Some(line))
}

/// One set of columns for the files of a source, from each file's own.
/// CSV files must have the same columns, in any order (they are combined by
/// name); JSON objects are read by name, so their fields are united. A column typed differently
/// in two files becomes the type both fit in: floats for integers and
/// floats, else text.
fn merge_columns(format: Format, schemas: &[(&str, Schema)]) -> Result<Schema> {
    use datafusion::arrow::datatypes::{DataType, Field};
    let (first_path, first) = &schemas[0];
    let mut fields: Vec<Field> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (path, schema) in &schemas[1..] {
        let names = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
        };
        let sorted = |s: &Schema| {
            let mut n = names(s);
            n.sort();
            n
        };
        if format == Format::Csv && sorted(schema) != sorted(first) {
            return Err(Error::failed(format!(
                "`{path}` has the columns ({}) but `{first_path}` has ({}): the files of one source need the same header",
                names(schema).join(", "),
                names(first).join(", ")
            ))
            .help("give each kind of file a source of its own, or export them with the same columns"));
        }
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.as_ref().clone().with_nullable(true)),
                Some(f) if f.data_type() == field.data_type() => {}
                Some(f) => {
                    let wider = match (f.data_type(), field.data_type()) {
                        (DataType::Null, t) | (t, DataType::Null) => t.clone(),
                        (DataType::Int64, DataType::Float64)
                        | (DataType::Float64, DataType::Int64) => DataType::Float64,
                        _ => DataType::Utf8,
                    };
                    *f = Field::new(f.name(), wider, true);
                }
            }
        }
    }
    Ok(Schema::new(fields))
}

/// Files up to this size are identified by a hash of their content (which
/// also tells an append from a rewrite); larger ones by their size and
/// modification time alone. BLAKE3 hashes about 1 GB/s here, and only files
/// whose size or time changed are hashed.
const HASH_LIMIT: u64 = 1 << 30;

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
                let reader = fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
                Some(content_hash(path, reader)?)
            }
        };
    }
    Ok(files)
}

/// A source's input files, with the size and modification time that decide
/// whether it must be landed again. No match is an error.
pub(super) fn resolve_inputs(project: &Project, source: &Source) -> Result<Vec<InputFile>> {
    let full = if Path::new(&options(source).path).is_absolute() {
        PathBuf::from(&options(source).path)
    } else {
        project.root.join(&options(source).path)
    };
    let mut paths = Vec::new();
    let pattern = full.to_string_lossy().to_string();
    if options(source).path.contains(['*', '?', '[']) {
        let matches = glob::glob(&pattern).map_err(|e| {
            Error::usage(format!(
                "source `{}`: `{}` is not a valid glob: {}",
                source.name,
                options(source).path,
                e.msg
            ))
            .at(source.declared.clone(), None)
        })?;
        paths.extend(matches.flatten().filter(|p| p.is_file()));
    } else if full.is_dir() {
        walk(&full, &mut |p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with(['.', '_']));
            let wanted = match options(source).format {
                Some(f) => Format::from_extension(p).is_none_or(|e| e == f),
                None => Format::from_extension(p).is_some(),
            };
            // A pipe or device would block or never end the read.
            if !hidden && wanted && p.is_file() {
                paths.push(p.to_path_buf());
            }
        })?;
    } else if full.is_file() {
        paths.push(full.clone());
    }
    paths.sort();
    if paths.is_empty() {
        return Err(Error::usage(format!(
            "source `{}`: `{}` matches no file",
            source.name,
            options(source).path
        ))
        .at(source.declared.clone(), None)
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
    if let Some(f) = options(source).format {
        return Ok(f);
    }
    let mut found = None;
    for file in files {
        let f = Format::from_extension(Path::new(&file.path));
        if f.is_none() || (found.is_some() && f != found) {
            return Err(Error::usage(format!(
                "source `{}`: cannot tell the format of `{}` from its extension",
                source.name,
                shown(project, &file.path).display()
            ))
            .at(source.declared.clone(), None)
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
    if err.kind == Kind::Usage {
        return err;
    }
    let culprit = if files.len() == 1 {
        Some(&files[0])
    } else {
        find_bad_file(source, format, files).await
    };
    let mut message = err.message.clone();
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
    error.help = err.help.clone();
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
        let all = Columns::Inferred(usize::MAX);
        let bad = match read(
            &engine,
            source,
            format,
            vec![file.path.clone()],
            options(source).has_header,
            all,
        )
        .await
        {
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

#[cfg(test)]
mod tests {
    use super::{Text, text_kind};

    #[test]
    fn times_are_told_by_their_text() {
        let time = |digits, offset| Text::Time { digits, offset };
        assert_eq!(text_kind("2026-10-01"), Text::Date);
        assert_eq!(text_kind("2026-10-01T07:27:33"), time(0, false));
        assert_eq!(text_kind("2026-10-01 07:27:33.25"), time(2, false));
        assert_eq!(text_kind("2026-10-01T07:27:33Z"), time(0, true));
        assert_eq!(text_kind("2026-10-01T07:27:33.123456+09:00"), time(6, true));
        assert_eq!(text_kind("2026-10-01T07:27:33-0330"), time(0, true));
        assert_eq!(text_kind("2026-10-01T07:27:33+09"), time(0, true));
        for other in [
            "2026",
            "2026-10-1",
            "2026-10-01T07:27",
            "2026-10-01T07:27:33 PST",
            "2026-10-01T07:27:33.",
            "2026-10-01T07:27:33+9",
            "x2026-10-01",
        ] {
            assert_eq!(text_kind(other), Text::Other, "{other}");
        }
    }
}
