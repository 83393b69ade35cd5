//! PostgreSQL: a read-only `REPEATABLE READ` transaction per landing, its
//! rows streamed by binary `COPY (SELECT ...) TO STDOUT`, split into key
//! ranges read on connections of their own that share the snapshot
//! (`pg_export_snapshot`), so that every part sees the same data.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use futures::StreamExt;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls};

use super::pgcopy::{self, Decoder};
use super::{BATCH_ROWS, Batches, Opened, Request, Split, described, literal, read_ahead};
use crate::base::error::{Cause, Error, Result};
use crate::spec::database::Relation;

/// A landing's transaction, described and ready to stream.
pub struct Reading {
    config: Config,
    client: Client,
    /// The relation as SQL, and each column's PostgreSQL type.
    from: String,
    types: Vec<Type>,
    source: String,
    timeout: Option<Duration>,
}

/// Connect, open the landing's snapshot and describe what it reads: its
/// columns as Arrow types (an unhandled type is an error here, before
/// anything is read) and, when asked, the table's change marker.
pub async fn open(req: &Request<'_>) -> Result<Opened<Reading>> {
    let mut config = Config::from_str(req.url).map_err(|e| {
        Error::usage(format!(
            "source `{}`: the connection string is not PostgreSQL's: {e}",
            req.source
        ))
        .help("write it as postgres://user:password@host:port/database")
    })?;
    if config.get_application_name().is_none() {
        config.application_name("mart");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let client = connect(&config, req.source).await?;
    let timeout = req.database.statement_timeout;
    begin(&client, None, timeout)
        .await
        .map_err(|e| fail(req.source, e))?;
    let from = match &req.database.relation {
        Relation::Table(t) => t.clone(),
        Relation::Query(q) => format!("({}) AS mart_query", q.trim().trim_end_matches(';')),
    };
    let statement = client
        .prepare(&format!("SELECT * FROM {from}"))
        .await
        .map_err(|e| fail(req.source, e))?;
    let mut fields = Vec::new();
    let mut types = Vec::new();
    for c in statement.columns() {
        let declared = req.declared(c.name());
        let dt = pgcopy::arrow_type(c.type_(), c.type_modifier(), declared).map_err(|why| {
            Error::failed(format!(
                "source `{}`: column `{}` of {}: {why}",
                req.source,
                c.name(),
                req.database.relation.describe()
            ))
            .help(
                "cast it to a type mart lands in `query:` (e.g. `col::text`), or declare the column's `type:` (e.g. `decimal(38, 6)` for a numeric)",
            )
        })?;
        fields.push(Field::new(c.name(), dt, true));
        types.push(c.type_().clone());
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    described(req, &schema)?;
    let marker = match (&req.database.relation, req.marker) {
        (Relation::Table(t), true) => marker(&client, t).await.map_err(|e| fail(req.source, e))?,
        _ => None,
    };
    let reading = Reading {
        config,
        client,
        from,
        types,
        source: req.source.to_string(),
        timeout,
    };
    Ok(Opened {
        schema,
        marker,
        reading,
    })
}

impl Reading {
    /// The condition that column `i` is at least `value`: the value's text
    /// cast to the column's type.
    pub fn since(&self, i: usize, column: &str, value: &ScalarValue) -> Result<String> {
        let t = &self.types[i];
        let text = array_value_to_string(&value.to_array()?, 0)?;
        Ok(format!(
            "{} >= CAST({} AS {}.{})",
            quote(column),
            literal(&text),
            quote(t.schema()),
            quote(t.name())
        ))
    }

    /// The table's size in pages, in the snapshot (pages added later hold
    /// no row the snapshot sees, and the last range is open anyway).
    async fn pages(&self, source: &str) -> Result<i64> {
        let sql =
            "SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::int8
                   FROM pg_class c WHERE c.oid = $1::text::regclass";
        let row = self.client.query_one(sql, &[&self.from]).await;
        let row = row.map_err(|e| fail(source, e))?;
        let (kind, pages): (String, i64) = (row.get(0), row.get(1));
        if kind != "r" && kind != "m" {
            return Err(Error::usage(format!(
                "source `{source}`: `partitions` splits a table by its pages, and `{}` is not a plain table",
                self.from
            ))
            .help("name an integer column to split the read on with `partition_column:`"));
        }
        Ok(pages)
    }

    /// Stream the rows that match `filter` (SQL over the columns, or
    /// none), one stream per part of `split`.
    pub async fn streams(
        self,
        schema: SchemaRef,
        filter: Option<String>,
        split: Split<'_>,
    ) -> Result<Vec<Batches>> {
        let source = self.source.clone();
        let err = |e| fail(&source, e);
        let filter = filter.unwrap_or_else(|| "true".into());
        let ranges = match split {
            Split::Whole => vec!["true".to_string()],
            Split::Key(key, parts) => {
                let sql = format!(
                    "SELECT min({k})::int8, max({k})::int8 FROM {} WHERE {filter}",
                    self.from,
                    k = quote(key)
                );
                let row = self.client.query_one(&sql, &[]).await.map_err(err)?;
                let (lo, hi): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
                let key = quote(key);
                let cut = |from: Option<i64>, to: Option<i64>| match (from, to) {
                    (None, Some(to)) => format!("{key} < {to} OR {key} IS NULL"),
                    _ => between(&key, from, to),
                };
                let bounds = lo.zip(hi).map(|(lo, hi)| cuts(lo, hi, parts));
                bounds.map_or_else(
                    || vec!["true".into()],
                    |b| b.map(|(f, t)| cut(f, t)).collect(),
                )
            }
            Split::Pages(parts) => {
                let pages = self.pages(&source).await?;
                let tid = |page: i64| format!("'({page},0)'::tid");
                let cut = |f: Option<i64>, t: Option<i64>| between("ctid", f.map(tid), t.map(tid));
                cuts(0, pages.max(1) - 1, parts)
                    .map(|(f, t)| cut(f, t))
                    .collect()
            }
        };
        let snapshot = if ranges.len() > 1 {
            let row = self
                .client
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(err)?;
            Some(row.get::<_, String>(0))
        } else {
            None
        };
        let copy = |range: &str| {
            format!(
                "COPY (SELECT * FROM {} WHERE ({filter}) AND ({range})) TO STDOUT (FORMAT binary)",
                self.from
            )
        };
        // Every part joins the snapshot before any is read: the exporting
        // transaction must still be open when the others import it.
        let mut clients = Vec::new();
        for _ in 1..ranges.len() {
            let client = connect(&self.config, &source).await?;
            begin(&client, snapshot.as_deref(), self.timeout)
                .await
                .map_err(err)?;
            clients.push(client);
        }
        let mut streams = Vec::new();
        for (client, range) in std::iter::once(self.client).chain(clients).zip(&ranges) {
            let decoder = Decoder::new(schema.clone(), &self.types);
            let stream = copy_stream(client, copy(range), decoder, source.clone());
            streams.push(read_ahead(stream, 4));
        }
        Ok(streams)
    }
}

/// `parts` consecutive ranges that cover `[lo, hi]` (fewer if it has fewer
/// values), as their bounds `[from, to)`: the first open below, the last
/// open above, so that nothing outside `[lo, hi]` is missed.
fn cuts(lo: i64, hi: i64, parts: usize) -> impl Iterator<Item = (Option<i64>, Option<i64>)> {
    let span = (hi as i128 - lo as i128 + 1).max(1) as u128;
    let parts = (parts as u128).min(span).max(1);
    let cut = move |i: u128| (lo as i128 + (span * i / parts) as i128) as i64;
    (0..parts).map(move |i| ((i > 0).then(|| cut(i)), (i + 1 < parts).then(|| cut(i + 1))))
}

/// The condition `from <= column < to`, either bound open when `None`.
fn between<T: std::fmt::Display>(column: &str, from: Option<T>, to: Option<T>) -> String {
    match (from, to) {
        (None, None) => "true".into(),
        (None, Some(t)) => format!("{column} < {t}"),
        (Some(f), None) => format!("{column} >= {f}"),
        (Some(f), Some(t)) => format!("{column} >= {f} AND {column} < {t}"),
    }
}

/// A name quoted for PostgreSQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The rows of one `COPY`, decoded into batches as they arrive.
fn copy_stream(client: Client, sql: String, decoder: Decoder, source: String) -> Batches {
    let started = async move {
        let copy = client.copy_out(&sql).await.map_err(|e| fail(&source, e))?;
        Ok::<_, Error>((client, Box::pin(copy), decoder, source))
    };
    futures::stream::once(started)
        .map(|opened| {
            let (client, copy, decoder, source) = match opened {
                Ok(o) => o,
                Err(e) => return futures::stream::once(async { Err(e) }).boxed(),
            };
            futures::stream::unfold(Some((client, copy, decoder, source)), |state| async move {
                let (client, mut copy, mut decoder, source) = state?;
                loop {
                    match copy.next().await {
                        Some(Ok(chunk)) => {
                            if let Err(why) = decoder.feed(&chunk) {
                                return Some((Err(bad_value(&source, why)), None));
                            }
                            if decoder.rows() >= BATCH_ROWS {
                                let batch = decoder.flush().map_err(|w| bad_value(&source, w));
                                return Some((batch, Some((client, copy, decoder, source))));
                            }
                        }
                        Some(Err(e)) => return Some((Err(fail(&source, e)), None)),
                        None if !decoder.ended() => {
                            let e = Error::failed(format!(
                                "source `{source}`: the server's rows ended early"
                            ))
                            .caused_by(Cause::Connection);
                            return Some((Err(e), None));
                        }
                        None if decoder.rows() > 0 => {
                            let batch = decoder.flush().map_err(|w| bad_value(&source, w));
                            return Some((batch, None));
                        }
                        None => return None,
                    }
                }
            })
            .boxed()
        })
        .flatten()
        .boxed()
}

fn bad_value(source: &str, why: String) -> Error {
    Error::failed(format!("source `{source}`: {why}"))
}

async fn connect(config: &Config, source: &str) -> Result<Client> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| fail(source, e))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Open the read-only snapshot transaction (importing `snapshot`, for the
/// parts of a split read) with the statement timeout.
async fn begin(
    client: &Client,
    snapshot: Option<&str>,
    timeout: Option<Duration>,
) -> std::result::Result<(), tokio_postgres::Error> {
    let mut sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;".to_string();
    if let Some(id) = snapshot {
        sql.push_str(&format!("SET TRANSACTION SNAPSHOT '{id}';"));
    }
    let ms = timeout.map(|t| t.as_millis()).unwrap_or(0);
    sql.push_str(&format!("SET LOCAL statement_timeout = {ms};"));
    client.batch_execute(&sql).await
}

/// What changes whenever a table's rows do: its row count and the sum of
/// its rows' creating transaction ids (`xmin`). An insert or update writes
/// rows with a newer id than any there; a delete lowers the count. `None`
/// for what has no `xmin` (a view).
async fn marker(
    client: &Client,
    table: &str,
) -> std::result::Result<Option<String>, tokio_postgres::Error> {
    let kind = client
        .query_one(
            "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .await;
    match kind.map(|r| r.get::<_, String>(0)) {
        Ok(k) if matches!(k.as_str(), "r" | "p" | "m") => {}
        _ => return Ok(None),
    }
    let sql = format!(
        "SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text FROM {table}"
    );
    let row = client.query_one(&sql, &[]).await?;
    Ok(Some(row.get(0)))
}

/// An error of the server or the connection, for the source: the server's
/// message, detail and hint; connection failures marked for a retry.
fn fail(source: &str, e: tokio_postgres::Error) -> Error {
    let retry = match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P") || c == "53300"
        }
        None => true,
    };
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = db.message().to_string();
            if let Some(d) = db.detail() {
                m.push_str(&format!(" ({d})"));
            }
            m
        }
        None => std::error::Error::source(&e)
            .map(|s| format!("{e}: {s}"))
            .unwrap_or_else(|| e.to_string()),
    };
    let mut err = Error::failed(format!("source `{source}`: {message}"));
    let help = match e.code().map(|c| c.code()) {
        Some("28P01" | "28000") => Some("check the user and password of the connection string"),
        Some("3D000") => Some("check the database named in the connection string"),
        Some("42P01") => Some("check `table:` (as `schema.table`), and that the user may read it"),
        Some("42703") => {
            Some("check the columns named in `incremental:`, `partition_column:` or `query:`")
        }
        Some("42501") => Some("grant the user SELECT on what the source reads"),
        Some("57014") => {
            Some("raise the source's `statement_timeout:`, or read less (`incremental:`)")
        }
        Some(_) => None,
        None => Some(
            "check that the server is running and reachable at the host and port of the connection string",
        ),
    };
    let server_hint = e.as_db_error().and_then(|d| d.hint());
    if let Some(hint) = server_hint.or(help) {
        err = err.help(hint.to_string());
    }
    if retry {
        err = err.caused_by(Cause::Connection);
    }
    err
}

/// The Arrow type of a column, when it is an integer a read can be split on.
pub fn splittable(dt: &DataType) -> bool {
    matches!(dt, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

#[cfg(test)]
mod tests {
    use super::{between, cuts};

    fn key(lo: i64, hi: i64, parts: usize) -> Vec<String> {
        cuts(lo, hi, parts)
            .map(|(f, t)| between("id", f, t))
            .collect()
    }

    #[test]
    fn ranges_cover_every_value_once() {
        assert_eq!(key(1, 10, 3), ["id < 4", "id >= 4 AND id < 7", "id >= 7"]);
        assert_eq!(key(5, 5, 4), ["true"]);
        assert_eq!(key(0, 0, 1), ["true"]);
        assert_eq!(key(i64::MIN, i64::MAX, 2), ["id < 0", "id >= 0"]);
        let parts: Vec<_> = cuts(0, 99, 7).collect();
        assert_eq!(parts.len(), 7);
        for w in parts.windows(2) {
            assert_eq!(w[0].1, w[1].0, "ranges meet");
        }
    }
}
