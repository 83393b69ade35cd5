//! SQL that Postgres clients send, rewritten into what DataFusion takes.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrite `statements` in place; true if anything changed (the caller
/// then sends their text on instead of the client's).
///
/// `LIKE p ESCAPE '/'` (SQLAlchemy lists schemas with it): DataFusion
/// knows only the backslash as escape, so the pattern's backslashes are
/// doubled and its escape character becomes a backslash. (An escaped
/// escape, `//`, then reads as a backslash: no client sends it.)
pub fn rewrite(statements: &mut [Statement]) -> bool {
    let mut changed = false;
    for statement in statements.iter_mut() {
        let _ = visit_expressions_mut(statement, |expr| {
            if let Expr::Like {
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
        assert!(rewrite(&mut statements));
        assert_eq!(
            statements[0].to_string(),
            r"SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE replace(replace(($1::VARCHAR || '%'), '\', '\\'), '/', '\') ESCAPE '\'"
        );
        let mut plain =
            Parser::parse_sql(&PostgreSqlDialect {}, "select 1 where 'a' like 'a%'").unwrap();
        assert!(!rewrite(&mut plain));
    }
}
