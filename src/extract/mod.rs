//! Reading sources out of production databases as streams of Arrow
//! batches: one consistent, read-only snapshot per landing, described
//! (every column's type checked) before a row is read.

mod mysql;
mod pgcopy;
mod postgres;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use futures::stream::BoxStream;

use crate::base::error::{Error, Result};
use crate::base::suggest::did_you_mean;
use crate::spec::database::{Database, Relation, System, UrlFrom};

/// Rows per batch handed on to the writer (and the size the decoders'
/// buffers are made for).
const BATCH_ROWS: usize = 8192;

/// The rows of one part of a read.
pub type Batches = BoxStream<'static, Result<RecordBatch>>;

/// Batches made by `produce` on a task of its own, at most `ahead` of the
/// reader: a connection is drained while the writer is busy, so the server
/// never waits on a full socket. `produce` stops when a send fails (the
/// reader is gone).
fn produced<F, Fut>(ahead: usize, produce: F) -> Batches
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<RecordBatch>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(ahead);
    tokio::spawn(produce(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed()
}

/// `stream`, read on a task of its own up to `ahead` batches early.
fn read_ahead(mut stream: Batches, ahead: usize) -> Batches {
    use futures::StreamExt;
    produced(ahead, |tx| async move {
        while let Some(batch) = stream.next().await {
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    })
}

/// What to read.
pub struct Request<'a> {
    /// The source's name, for messages.
    pub source: &'a str,
    pub database: &'a Database,
    /// The connection string (secret: never in a message).
    pub url: &'a str,
    /// Column types declared in the YAML, by column.
    pub declared: &'a [(String, DataType)],
    /// Whether to read the table's change marker.
    pub marker: bool,
}

impl Request<'_> {
    fn declared(&self, column: &str) -> Option<&DataType> {
        self.declared
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(column))
            .map(|(_, t)| t)
    }
}

/// A snapshot opened and described: the columns it lands, what says whether
/// the table changed since a landing, and the reading to stream.
pub struct Opened<R> {
    pub schema: SchemaRef,
    pub marker: Option<String>,
    pub reading: R,
}

pub enum Reading {
    Postgres(Box<postgres::Reading>),
    Mysql(mysql::Reading),
}

/// Open a landing's snapshot of `req`'s database.
pub async fn open(req: &Request<'_>) -> Result<Opened<Reading>> {
    match req.database.system {
        System::Postgres => {
            let o = postgres::open(req).await?;
            Ok(Opened {
                schema: o.schema,
                marker: o.marker,
                reading: Reading::Postgres(Box::new(o.reading)),
            })
        }
        System::Mysql => {
            let o = mysql::open(req).await?;
            Ok(Opened {
                schema: o.schema,
                marker: o.marker,
                reading: Reading::Mysql(o.reading),
            })
        }
    }
}

impl Reading {
    /// The condition that column `i` (`column`) is at least `value`, in
    /// the server's SQL.
    pub fn since(&self, i: usize, column: &str, value: &ScalarValue) -> Result<String> {
        match self {
            Reading::Postgres(r) => r.since(i, column, value),
            Reading::Mysql(r) => r.since(column, value),
        }
    }

    /// Counts MySQL's zero dates (`0000-00-00`) read, which land as null.
    pub fn zero_dates(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        match self {
            Reading::Postgres(_) => None,
            Reading::Mysql(r) => Some(r.zero_dates()),
        }
    }

    /// Stream the rows that match `filter` (a condition in the server's SQL),
    /// one stream per part of `split`.
    pub async fn streams(
        self,
        schema: SchemaRef,
        filter: Option<String>,
        split: Split<'_>,
    ) -> Result<Vec<Batches>> {
        match self {
            Reading::Postgres(r) => r.streams(schema, filter, split).await,
            Reading::Mysql(r) => r.streams(schema, filter).await,
        }
    }
}

/// A string literal in SQL (the same in PostgreSQL and MySQL's default mode).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns the source's options name exist, and a split is on integers.
fn described(req: &Request<'_>, schema: &SchemaRef) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let d = req.database;
    let named = d
        .incremental
        .iter()
        .flat_map(|c| c.primary_key.iter().chain([&c.column]))
        .chain(&d.partition_column);
    for c in named {
        if !names.contains(&c.as_str()) {
            let help = did_you_mean(c, names.iter().copied())
                .unwrap_or_else(|| format!("its columns: {}", names.join(", ")));
            return Err(Error::usage(format!(
                "source `{}`: {} has no column `{c}`",
                req.source,
                d.relation.describe(),
            ))
            .help(help));
        }
    }
    Ok(())
}

/// How a read is shared among connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Split<'a> {
    Whole,
    /// Ranges of an integer column.
    Key(&'a str, usize),
    /// Ranges of a table's pages (PostgreSQL's `ctid`): no key needed, and
    /// each connection reads only its own pages.
    Pages(usize),
}

/// How to read `d` in its `partitions`: a table by its pages unless a
/// `partition_column` is named; a query by that column or its one-column
/// primary key.
pub fn split<'a>(source: &str, d: &'a Database, schema: &SchemaRef) -> Result<Split<'a>> {
    let parts = d.partitions;
    if parts <= 1 {
        return Ok(Split::Whole);
    }
    let key = match (&d.partition_column, &d.relation) {
        (Some(column), _) => column.as_str(),
        (None, Relation::Table(_)) => return Ok(Split::Pages(parts)),
        (None, Relation::Query(_)) => match d.incremental.as_ref().map(|c| &c.primary_key[..]) {
            Some([key]) => key.as_str(),
            _ => {
                return Err(Error::usage(format!(
                    "source `{source}`: `partitions: {parts}` on a query needs an integer column to split the read on"
                ))
                .help("name it with `partition_column:` (a key spread evenly, like an id)"));
            }
        },
    };
    match schema.field_with_name(key).map(|f| f.data_type()) {
        Ok(t) if postgres::splittable(t) => Ok(Split::Key(key, parts)),
        _ => Err(Error::usage(format!(
            "source `{source}`: `{key}` is not an integer column: a read is split on integers"
        ))
        .help("name an integer column with `partition_column:`, or read in one part")),
    }
}

/// The connection string of a source, from the environment variable (or
/// the file it names). The errors name the variable, never its value.
pub fn connection_string(source: &str, from: &UrlFrom) -> Result<String> {
    let (var, file) = match from {
        UrlFrom::Env(v) => (v, false),
        UrlFrom::FileEnv(v) => (v, true),
    };
    let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        return Err(Error::failed(format!(
            "source `{source}`: the environment variable `{var}` is not set"
        ))
        .help(match file {
            false => format!(
                "set `{var}` to the connection string, e.g. postgres://user:password@host:5432/db"
            ),
            true => format!("set `{var}` to the path of a file holding the connection string"),
        }));
    };
    if !file {
        return value
            .into_string()
            .map(|s| s.trim().to_string())
            .map_err(|_| Error::failed(format!("source `{source}`: `{var}` is not UTF-8")));
    }
    let path = std::path::PathBuf::from(value);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::failed(format!(
            "source `{source}`: cannot read the connection string from the file `{var}` names: {e}"
        ))
    })?;
    Ok(text.trim().to_string())
}

/// Where a connection string points, without its password: what the
/// fingerprint of a database source covers (another server is another
/// source), never the secret.
pub fn endpoint(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (auth, at) = match rest.rsplit_once('@') {
            Some((auth, at)) => (auth.split(':').next().unwrap_or(""), at),
            None => ("", rest),
        };
        let at = at.split('?').next().unwrap_or(at);
        return format!("{scheme}://{auth}@{at}");
    }
    // Keyword form: every setting but the password.
    url.split_whitespace()
        .filter(|kv| !kv.to_ascii_lowercase().starts_with("password"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_keep_no_password() {
        assert_eq!(
            endpoint("postgres://mart:s3cret@db.local:5432/shop?sslmode=disable"),
            "postgres://mart@db.local:5432/shop"
        );
        assert_eq!(
            endpoint("mysql://root@127.0.0.1/shop"),
            "mysql://root@127.0.0.1/shop"
        );
        assert_eq!(
            endpoint("host=db user=mart password=s3cret dbname=shop"),
            "host=db user=mart dbname=shop"
        );
    }
}
