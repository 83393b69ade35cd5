//! SQL that Postgres clients send, rewritten into what DataFusion takes.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArguments, Ident, ObjectName, Statement, Value,
    visit_expressions_mut, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql`, from session `pid`, rewritten, or None if nothing in it needs
/// to be. Parsed as sqlparser reads Postgres, before datafusion-postgres'
/// own rewrites (which would turn a `regproc` literal into a lookup by oid).
pub fn rewritten(sql: &str, pid: i32) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if ![
        "escape",
        "regproc",
        "pg_backend_pid",
        "pg_stat_activity",
        "generate_subscripts",
        "'f'",
        "'t'",
    ]
    .iter()
    .any(|word| lower.contains(word))
    {
        return None; // the cheap test, to parse only when it may apply
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    rewrite(&mut statements, pid).then(|| {
        statements
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Rewrite `statements` in place; true if anything changed.
///
/// `LIKE p ESCAPE '/'` (SQLAlchemy lists schemas with it): DataFusion
/// knows only the backslash as escape, so the pattern's backslashes are
/// doubled and its escape character becomes a backslash. (An escaped
/// escape, `//`, then reads as a backslash: no client sends it.)
///
/// `typinput = 'pg_catalog.array_in'::regproc` (DBeaver tells arrays so):
/// `pg_type`'s function columns hold names here, as Postgres shows them,
/// so a function named by a literal is compared as its name; elsewhere
/// its schema is dropped, as `pg_proc` lookups by name need.
///
/// `pg_backend_pid()` becomes the session's pid (datafusion-postgres'
/// function answers 1 for every session), as `pg_cancel_backend` needs;
/// a bare `pg_stat_activity` is `pg_catalog`'s, as in Postgres.
fn rewrite(statements: &mut [Statement], pid: i32) -> bool {
    let mut changed = false;
    for statement in statements.iter_mut() {
        let _ = visit_relations_mut(statement, |table| {
            if table.to_string().eq_ignore_ascii_case("pg_stat_activity") {
                *table = ObjectName::from(vec![
                    Ident::new("pg_catalog"),
                    Ident::new("pg_stat_activity"),
                ]);
                changed = true;
            }
            ControlFlow::<()>::Continue(())
        });
        let _ = visit_expressions_mut(statement, |expr| {
            if let Some(unnested) = subscripts(expr) {
                *expr = unnested;
                changed = true;
            } else if let Expr::Function(f) = expr
                && f.name.to_string().eq_ignore_ascii_case("pg_backend_pid")
                && let Ok(pid) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&format!("cast({pid} as int)"))
                    .and_then(|mut p| p.parse_expr())
            {
                *expr = pid;
                changed = true;
            } else if let Expr::BinaryOp { left, op, right } = expr
                && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
                && let Some(flag) = flag_compared(left, right).or(flag_compared(right, left))
            {
                let literal = if flag_column(left) { right } else { left };
                **literal = Expr::Value(Value::Boolean(flag).into());
                changed = true;
            } else if let Expr::BinaryOp { left, op, right } = expr
                && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
            {
                for side in [left, right] {
                    if let Some(name) = function_named(side) {
                        **side = Expr::Value(Value::SingleQuotedString(name).into());
                        changed = true;
                    }
                }
            } else if let Some(name) = function_named(expr)
                && let Expr::Cast { expr: literal, .. } = expr
                && let Expr::Value(v) = literal.as_mut()
                && v.value != Value::SingleQuotedString(name.clone())
            {
                v.value = Value::SingleQuotedString(name);
                changed = true;
            } else if let Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } = expr
                && let Some(escape) = escape_char.as_ref().and_then(|v| single_char(&v.value))
                && escape != '\\'
                && let Some(rewritten) = with_backslash(pattern, escape)
            {
                **pattern = rewritten;
                *escape_char = Some(Value::SingleQuotedString("\\".into()).into());
                changed = true;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    changed
}

/// Boolean columns of the catalog that clients compare with `'t'` or
/// `'f'` (SQLAlchemy's `ix.indisprimary = 'f'`), which Postgres reads as a
/// boolean and DataFusion as text.
const FLAG_COLUMNS: &[&str] = &[
    "indisunique",
    "indisprimary",
    "indisexclusion",
    "indimmediate",
    "indisclustered",
    "indisvalid",
    "indisready",
    "indislive",
    "indnullsnotdistinct",
    "attnotnull",
    "atthasdef",
    "attisdropped",
    "relhasindex",
    "relispartition",
    "condeferrable",
    "condeferred",
    "convalidated",
];

fn flag_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => &last.value,
            None => return false,
        },
        _ => return false,
    };
    FLAG_COLUMNS.contains(&name.to_ascii_lowercase().as_str())
}

/// `column = 'f'` with a flag column: the boolean the text means.
fn flag_compared(column: &Expr, literal: &Expr) -> Option<bool> {
    let Expr::Value(v) = literal else {
        return None;
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return None;
    };
    if !flag_column(column) {
        return None;
    }
    match text.to_ascii_lowercase().as_str() {
        "t" | "true" => Some(true),
        "f" | "false" => Some(false),
        _ => None,
    }
}

/// `generate_subscripts(a, d)` as what DataFusion can run beside
/// `unnest(a)` in a select list (SQLAlchemy pairs them to number a key's
/// columns): `unnest(generate_series(1, array_length(a, d)))`.
fn subscripts(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if name != "generate_subscripts" && name != "pg_catalog.generate_subscripts" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let [array, dim] = list.args.as_slice() else {
        return None;
    };
    let text = format!("unnest(generate_series(1, array_length({array}, {dim})))");
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .ok()?
        .parse_expr()
        .ok()
}

/// The function a `'schema.name'::regproc` literal names, without schema.
fn function_named(expr: &Expr) -> Option<String> {
    let Expr::Cast {
        expr: literal,
        data_type: DataType::Custom(type_name, _),
        ..
    } = expr
    else {
        return None;
    };
    let Expr::Value(v) = literal.as_ref() else {
        return None;
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return None;
    };
    let is_regproc = type_name.to_string().eq_ignore_ascii_case("regproc")
        || type_name
            .to_string()
            .eq_ignore_ascii_case("pg_catalog.regproc");
    let name = text.rsplit('.').next().unwrap_or(text);
    is_regproc.then(|| name.to_string())
}

fn single_char(value: &Value) -> Option<char> {
    let Value::SingleQuotedString(s) = value else {
        return None;
    };
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

fn with_backslash(pattern: &Expr, escape: char) -> Option<Expr> {
    let quoted = escape.to_string().replace('\'', "''");
    let text = format!(r"replace(replace(({pattern}), '\', '\\'), '{quoted}', '\')");
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .ok()?
        .parse_expr()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escape_becomes_a_backslash_escape() {
        let sql =
            "select nspname from pg_namespace where nspname not like $1::VARCHAR || '%' escape '/'";
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        assert!(rewrite(&mut statements, 7));
        assert_eq!(
            statements[0].to_string(),
            r"SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE replace(replace(($1::VARCHAR || '%'), '\', '\\'), '/', '\') ESCAPE '\'"
        );
        let mut plain =
            Parser::parse_sql(&PostgreSqlDialect {}, "select 1 where 'a' like 'a%'").unwrap();
        assert!(!rewrite(&mut plain, 7));
    }

    #[test]
    fn regproc_literals_backend_pids_and_pg_stat_activity() {
        let rewritten = |sql: &str| {
            let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
            rewrite(&mut statements, 7);
            statements[0].to_string()
        };
        assert_eq!(
            rewritten("select typinput='pg_catalog.array_in'::regproc as a from pg_type"),
            "SELECT typinput = 'array_in' AS a FROM pg_type"
        );
        assert_eq!(
            rewritten("select 'pg_catalog.array_in'::regproc"),
            "SELECT 'array_in'::regproc"
        );
        assert_eq!(
            rewritten("select pg_cancel_backend(pg_backend_pid())"),
            "SELECT pg_cancel_backend(CAST(7 AS INT))"
        );
        assert_eq!(
            rewritten("select unnest(k) a, generate_subscripts(k, 1) o from t"),
            "SELECT unnest(k) AS a, unnest(generate_series(1, array_length(k, 1))) AS o FROM t"
        );
        assert_eq!(
            rewritten("select 1 from pg_index ix where ix.indisprimary = 'f' and relkind = 'f'"),
            "SELECT 1 FROM pg_index ix WHERE ix.indisprimary = false AND relkind = 'f'"
        );
        assert_eq!(
            rewritten("select pid from pg_stat_activity a"),
            "SELECT pid FROM pg_catalog.pg_stat_activity a"
        );
        assert_eq!(
            rewritten("select 'x.y'::text = a"),
            "SELECT 'x.y'::TEXT = a"
        );
    }
}
