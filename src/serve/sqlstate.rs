//! What a client is told when a statement fails: the SQLSTATE code Postgres
//! would send, from the error's typed cause, with the message `mart query`
//! would print (its help as the hint).

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

use crate::base::error::{Cause, Error, df_message};
use crate::engine::Engine;

pub const READ_ONLY: &str = "25006";
pub const SYNTAX: &str = "42601";
pub const CANCELED: &str = "57014";
pub const TOO_MANY_CONNECTIONS: &str = "53300";
pub const PRIVILEGE: &str = "42501";
pub const INTERNAL: &str = "XX000";

/// An error to send: `ERROR`, `code`, `message`, and a hint if any.
pub fn error(code: &str, message: impl Into<String>, hint: Option<String>) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message.into());
    info.hint = hint;
    PgWireError::UserError(Box::new(info))
}

/// The code of a cause.
fn code(cause: &Cause) -> &'static str {
    match cause {
        Cause::UnknownTable(_) => "42P01",
        Cause::UnknownColumn(_) => "42703",
        Cause::Syntax => SYNTAX,
        Cause::ReadOnly => READ_ONLY,
        Cause::OutOfMemory => "53200",
        Cause::DivideByZero => "22012",
        Cause::Cast => "22P02",
        Cause::Io(_) => "58030",
        Cause::Connection => "08006",
        Cause::Other => INTERNAL,
    }
}

/// A `mart` error as the client sees it.
pub fn from_error(err: &Error) -> PgWireError {
    error(code(&err.cause), err.message.clone(), err.help.clone())
}

/// An error of the engine or the protocol layer, typed: a DataFusion error
/// gets its cause's code and `mart query`'s message (with "did you mean"
/// from `engine`); a parser error is a syntax error; others pass.
pub fn typed(err: PgWireError, engine: &Engine) -> PgWireError {
    let PgWireError::ApiError(inner) = err else {
        return err;
    };
    if let Some(df) = inner.downcast_ref::<DataFusionError>() {
        let cause = Cause::of(df);
        if cause == Cause::Other && matches!(df.find_root(), DataFusionError::Plan(_)) {
            return error("42000", df_message(df), None);
        }
        let mut err = engine.unknown_table_hint(Error::usage(df_message(df)).caused_by(cause));
        if err.cause == Cause::OutOfMemory {
            err.help = Some("the server's --memory-limit is shared by all queries: try again later, or narrow the query".into());
        }
        return from_error(&err);
    }
    if let Some(parse) = inner.downcast_ref::<datafusion::sql::sqlparser::parser::ParserError>() {
        return error(SYNTAX, parse.to_string(), None);
    }
    error(INTERNAL, inner.to_string(), None)
}

/// Refuse what a read-only server must not run, as Postgres refuses it in
/// a read-only transaction (SQLSTATE 25006). Reading, `SET`/`SHOW`,
/// transactions and cursors pass; `SET` of the engine's own settings
/// (`datafusion.*`) is refused: they are the server's, shared by everyone.
pub fn check(statement: &Statement) -> Result<(), PgWireError> {
    use Statement as S;
    match statement {
        S::Query(query) => {
            if let SetExpr::Select(select) = query.body.as_ref()
                && select.into.is_some()
            {
                return Err(refused("SELECT INTO"));
            }
            Ok(())
        }
        S::Set(set) => {
            let text = set.to_string().to_ascii_lowercase();
            if text.contains("datafusion.") {
                return Err(error(
                    PRIVILEGE,
                    "the engine's settings (`datafusion.*`) are the server's, shared by every session",
                    Some(
                        "set them in the project's `config:` or on `mart serve`'s command line"
                            .into(),
                    ),
                ));
            }
            Ok(())
        }
        S::Explain { statement, .. } => check(statement),
        S::ShowVariable { .. }
        | S::ShowVariables { .. }
        | S::ShowStatus { .. }
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowSchemas { .. }
        | S::ShowCatalogs { .. }
        | S::ShowFunctions { .. }
        | S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. }
        | S::Declare { .. }
        | S::Fetch { .. }
        | S::Close { .. }
        | S::Discard { .. }
        | S::Deallocate { .. } => Ok(()),
        other => Err(refused(&kind(other))),
    }
}

fn refused(what: &str) -> PgWireError {
    error(
        READ_ONLY,
        format!("cannot execute {what} in a read-only transaction"),
        Some("`mart serve` only reads the mart: `mart land` and `mart build` write it".into()),
    )
}

/// `INSERT`, `CREATE TABLE`, `COPY`: the statement's leading keywords.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .take(2)
        .collect();
    let two = matches!(
        words.first().map(|w| w.to_ascii_uppercase()).as_deref(),
        Some("CREATE" | "DROP" | "ALTER")
    );
    let n = if two { words.len() } else { 1.min(words.len()) };
    words[..n].join(" ").to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn verdict(sql: &str) -> Option<String> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        match check(&statements[0]) {
            Ok(()) => None,
            Err(PgWireError::UserError(info)) => Some(format!("{} {}", info.code, info.message)),
            Err(other) => Some(other.to_string()),
        }
    }

    #[test]
    fn reads_and_session_chatter_pass() {
        for sql in [
            "select 1",
            "with x as (select 1) select * from x",
            "SET extra_float_digits = 3",
            "SET application_name = 'Metabase'",
            "SHOW TRANSACTION ISOLATION LEVEL",
            "BEGIN READ ONLY",
            "COMMIT",
            "ROLLBACK",
            "DECLARE c CURSOR FOR SELECT 1",
            "FETCH 10 FROM c",
            "CLOSE c",
            "EXPLAIN SELECT 1",
        ] {
            assert_eq!(verdict(sql), None, "{sql}");
        }
    }

    #[test]
    fn writes_are_refused_with_25006() {
        for (sql, what) in [
            ("insert into t values (1)", "INSERT"),
            ("update t set a = 1", "UPDATE"),
            ("delete from t", "DELETE"),
            ("create table t (a int)", "CREATE TABLE"),
            ("create view v as select 1", "CREATE VIEW"),
            ("drop table daily_revenue", "DROP TABLE"),
            ("alter table t add column b int", "ALTER TABLE"),
            ("truncate t", "TRUNCATE"),
            ("copy t to '/tmp/x.csv'", "COPY"),
            ("copy (select 1) to stdout", "COPY"),
            ("select 1 into t", "SELECT INTO"),
            ("explain insert into t values (1)", "INSERT"),
        ] {
            assert_eq!(
                verdict(sql),
                Some(format!(
                    "25006 cannot execute {what} in a read-only transaction"
                )),
                "{sql}"
            );
        }
        assert!(
            verdict("set datafusion.execution.batch_size = 1")
                .is_some_and(|v| v.starts_with("42501"))
        );
    }
}
