//! Reading a model's SQL without running it: checking that the file holds
//! exactly one query, and finding the tables it reads, with their positions.
//!
//! Dependencies come from the parsed SQL (no templating): every table name in
//! a FROM or JOIN that is not a CTE in scope. A non-recursive CTE's own body
//! is read before its name enters scope, so `WITH orders AS (SELECT * FROM
//! orders)` depends on the table `orders`, as the SQL means.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use datafusion::error::DataFusionError;

use crate::base::error::Cause;
use datafusion::sql::parser::{CopyToSource, DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, SetExpr, Spanned, Statement, TableFactor, Visit,
    Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// A table named in a query: `orders` or `raw.orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The name's parts, normalised as DataFusion does: unquoted parts lowercased.
    pub parts: Vec<String>,
    /// 1-based line and column of the name, and its length in characters.
    pub line: usize,
    pub column: usize,
    pub len: usize,
}

impl TableRef {
    pub fn name(&self) -> String {
        self.parts.join(".")
    }
}

/// Why a model's SQL was refused, with the 1-based position where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    pub help: Option<String>,
    pub line: usize,
    pub column: usize,
}

/// How long parsing one text may take. The SQL parser backtracks
/// exponentially on some nestings: fuzzing found `position(` nested 14 deep
/// taking 17 s, and 16 deep taking minutes.
const PARSE_DEADLINE: Duration = Duration::from_secs(5);

type Parsed = Result<VecDeque<DFStatement>, SqlError>;

/// Texts to parse, in one message: the parser says which one it is in
/// (`at`) and sends all the results at once, so that a project of 10,000
/// models costs two thread wake-ups, not 20,000 (a third of `mart ls`).
struct Request {
    texts: Arc<Vec<String>>,
    at: Arc<AtomicUsize>,
    reply: mpsc::Sender<Vec<Parsed>>,
}

/// The thread that parses, kept for the next text; forgotten when it is
/// stuck in a text past the deadline.
static PARSER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);

/// How deeply expressions may nest, as in DuckDB (`max_expression_depth`),
/// and how many queries a UNION (INTERSECT, EXCEPT) may chain. The planner
/// recurses over both: on an 8 MiB stack, a chain of 7,000 `+` or of 3,000
/// UNION ALL overflowed it and aborted the process.
const MAX_EXPR_DEPTH: usize = 1000;

fn parse_here(sql: &str) -> Parsed {
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| jinja(sql).unwrap_or_else(|| parse_error(&e)))?;
    if let Some(err) = statements.iter().find_map(too_deep) {
        // Dropping the tree recurses as deep as it goes: leave it be.
        std::mem::forget(statements);
        return Err(err);
    }
    Ok(statements)
}

/// An error if an expression of `statement` nests deeper than
/// `MAX_EXPR_DEPTH`, or a set operation chains more queries.
fn too_deep(statement: &DFStatement) -> Option<SqlError> {
    /// The depth of the expressions being visited.
    struct Depth(usize);
    impl Visitor for Depth {
        type Break = SqlError;
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
            // Set operations chain on their left, unbounded by the parser.
            let mut body = query.body.as_ref();
            let mut chained = 0;
            while let SetExpr::SetOperation { left, right, .. } = body {
                chained += 1;
                if chained >= MAX_EXPR_DEPTH {
                    let (line, column) = position(match right.as_ref() {
                        SetExpr::Select(select) => Some(select.select_token.0.span.start),
                        _ => None,
                    });
                    return ControlFlow::Break(SqlError {
                        message: format!("a UNION here chains more than {MAX_EXPR_DEPTH} queries"),
                        help: Some("split it into steps: CTEs of a few hundred queries each, or land the parts as one source".into()),
                        line,
                        column,
                    });
                }
                body = left;
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
            self.0 += 1;
            if self.0 <= MAX_EXPR_DEPTH {
                return ControlFlow::Continue(());
            }
            // A span is found by recursion over the whole subtree: take a leaf's.
            let leaf = |e: &Expr| match e {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => {
                    Some(e.span().start)
                }
                _ => None,
            };
            let (line, column) = position(match expr {
                Expr::BinaryOp { right, .. } => leaf(right),
                _ => leaf(expr),
            });
            ControlFlow::Break(SqlError {
                message: format!("an expression here nests more than {MAX_EXPR_DEPTH} deep"),
                help: Some("split a long chain like `a + b + c + ...` or `x = 1 OR x = 2 OR ...` into steps (CTEs), or use `IN (...)` or a join with a table of values".into()),
                line,
                column,
            })
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<SqlError> {
            self.0 -= 1;
            ControlFlow::Continue(())
        }
    }
    let flow = match statement {
        DFStatement::Statement(s) => s.visit(&mut Depth(0)),
        DFStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(q) => q.visit(&mut Depth(0)),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => return too_deep(&explain.statement),
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => ControlFlow::Continue(()),
    };
    flow.break_value()
}

fn parser() -> Option<mpsc::Sender<Request>> {
    let mut parser = PARSER.lock().ok()?;
    if parser.is_none() {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("sql-parser".into())
            // A main thread's usual 8 MiB: the parser and the depth check
            // recurse as deep as the text nests, up to the limits above.
            .stack_size(8 << 20)
            .spawn(move || {
                for request in incoming {
                    let mut results = Vec::with_capacity(request.texts.len());
                    for (i, text) in request.texts.iter().enumerate() {
                        request.at.store(i, Ordering::Relaxed);
                        results.push(parse_here(text));
                    }
                    let _ = request.reply.send(results);
                }
            })
            .ok()?;
        *parser = Some(requests);
    }
    parser.clone()
}

/// Parse SQL into statements, in DataFusion's dialect, giving up after
/// `PARSE_DEADLINE` (the parse goes on in the background until the process
/// ends, which for every command but the prompt is at once).
pub fn parse(sql: &str) -> Parsed {
    parse_all(vec![sql.to_string()])
        .pop()
        .expect("one result per text")
}

/// Parse each text, as `parse` does, in one round trip to the parser.
fn parse_all(texts: Vec<String>) -> Vec<Parsed> {
    if texts.is_empty() {
        return Vec::new();
    }
    let texts = Arc::new(texts);
    let (reply, results) = mpsc::channel();
    let at = Arc::new(AtomicUsize::new(0));
    let request = Request {
        texts: texts.clone(),
        at: at.clone(),
        reply,
    };
    if parser().is_none_or(|parser| parser.send(request).is_err()) {
        return texts.iter().map(|t| parse_here(t)).collect();
    }
    // Wait while the parser moves on from text to text.
    let mut current = (0, Instant::now());
    loop {
        match results.recv_timeout(PARSE_DEADLINE / 4) {
            Ok(parsed) => return parsed,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = at.load(Ordering::Relaxed);
                if now != current.0 {
                    current = (now, Instant::now());
                } else if current.1.elapsed() >= PARSE_DEADLINE {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return texts.iter().map(|t| parse_here(t)).collect();
            }
        }
    }
    // Stuck in one text: the others go to a new parser.
    if let Ok(mut parser) = PARSER.lock() {
        *parser = None;
    }
    let stuck = current.0;
    let mut parsed = parse_all(texts[..stuck].to_vec());
    parsed.push(Err(too_slow()));
    parsed.extend(parse_all(texts[stuck + 1..].to_vec()));
    parsed
}

fn too_slow() -> SqlError {
    SqlError {
        message: format!(
            "the SQL takes more than {} s to parse",
            PARSE_DEADLINE.as_secs()
        ),
        help: Some(
            "look for a function such as `position(` nested many times, or parentheses left open by a typo".into(),
        ),
        line: 0,
        column: 0,
    }
}

/// Parse a model's SQL, check it is a single query and return the tables it reads.
pub fn model_refs(sql: &str) -> Result<Vec<TableRef>, SqlError> {
    refs_of(sql, parse(sql))
}

/// `model_refs` of each text, parsed in one round trip.
pub fn model_refs_all(sqls: &[&str]) -> Vec<Result<Vec<TableRef>, SqlError>> {
    let parsed = parse_all(sqls.iter().map(|s| s.to_string()).collect());
    sqls.iter()
        .zip(parsed)
        .map(|(sql, p)| refs_of(sql, p))
        .collect()
}

fn refs_of(sql: &str, parsed: Parsed) -> Result<Vec<TableRef>, SqlError> {
    let statements = parsed?;
    // Tokens only place errors: read them again only for one.
    let tokens = || significant_tokens(sql);
    let Some(first) = statements.front() else {
        return Err(SqlError {
            message: "the SQL file holds no query".into(),
            help: Some("write one SELECT (or WITH ... SELECT) query in it".into()),
            line: 0,
            column: 0,
        });
    };
    if statements.len() > 1 {
        // The first significant token after a `;` starts the second statement.
        let tokens = tokens();
        let second = tokens
            .iter()
            .skip_while(|t| t.token != Token::SemiColon)
            .find(|t| t.token != Token::SemiColon);
        let (line, column) = second.map(span_start).unwrap_or((0, 0));
        return Err(SqlError {
            message: format!(
                "the SQL file holds {} statements; a model is one query",
                statements.len()
            ),
            help: Some(
                "keep one SELECT query per file: move the others to models of their own".into(),
            ),
            line,
            column,
        });
    }
    let query = match first {
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::Query(q) => q,
            _ => return Err(not_a_query(&tokens())),
        },
        _ => return Err(not_a_query(&tokens())),
    };
    Ok(query_refs(query))
}

fn not_a_query(tokens: &[TokenWithSpan]) -> SqlError {
    let (line, column) = tokens.first().map(span_start).unwrap_or((0, 0));
    let what: Vec<String> = tokens
        .iter()
        .take(2)
        .map(|t| t.token.to_string().to_uppercase())
        .collect();
    SqlError {
        message: format!("a model is a query, but this file holds a `{}` statement", what.join(" ")),
        help: Some(
            "write one SELECT (or WITH ... SELECT) query; mart creates and replaces the table itself, so DDL and DML are refused".into(),
        ),
        line,
        column,
    }
}

/// A dbt template (`{{ ref('orders') }}`, `{% if %}`) where a query does
/// not parse: said as such, with what to write instead.
fn jinja(sql: &str) -> Option<SqlError> {
    let at = [sql.find("{{"), sql.find("{%")]
        .into_iter()
        .flatten()
        .min()?;
    let line = sql[..at].matches('\n').count() + 1;
    let column = sql[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    let end = sql[at..].find(['}', '\n']).map_or(sql.len(), |e| at + e);
    let end = if sql[end..].starts_with("}}") {
        end + 2
    } else {
        end
    };
    let template = &sql[at..end];
    // The quoted names inside, e.g. `ref('orders')` -> ["orders"].
    let names: Vec<&str> = template.split(['\'', '"']).skip(1).step_by(2).collect();
    let help = match (template.contains("ref("), template.contains("source("), names.as_slice()) {
        (true, _, [.., model]) => format!("name the model itself: `{model}` (mart finds what a model reads by parsing its SQL)"),
        (_, true, [.., table]) => format!("name the source itself: `raw.{table}`"),
        _ => "a model is one plain SQL query: mart has no templates; name tables directly (`raw.<source>`, `<model>`)".into(),
    };
    Some(SqlError {
        message: format!("`{template}` is a dbt template, not SQL"),
        help: Some(help),
        line,
        column,
    })
}

fn parse_error(err: &DataFusionError) -> SqlError {
    let message = match err.find_root() {
        DataFusionError::SQL(e, _) => match e.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
            ParserError::RecursionLimitExceeded => "the query is nested too deeply".into(),
        },
        other => crate::base::error::df_message(other),
    };
    // sqlparser appends " at Line: L, Column: C"; keep the position apart.
    let (text, line, column) = match message.rfind(" at Line: ") {
        Some(i) => {
            let pos = &message[i + " at Line: ".len()..];
            let mut nums = pos
                .split(", Column: ")
                .map(|n| n.trim().parse::<usize>().unwrap_or(0));
            let line = nums.next().unwrap_or(0);
            let column = nums.next().unwrap_or(0);
            (message[..i].to_string(), line, column)
        }
        None => (message, 0, 0),
    };
    SqlError {
        message: format!("SQL syntax error: {text}"),
        help: None,
        line,
        column,
    }
}

/// Tokens other than whitespace and comments. Tokenizing cannot fail once
/// the statement parsed.
fn significant_tokens(sql: &str) -> Vec<TokenWithSpan> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect()
}

fn span_start(t: &TokenWithSpan) -> (usize, usize) {
    position(Some(t.span.start))
}

/// 1-based line and column, or (0, 0) where unknown.
fn position(at: Option<Location>) -> (usize, usize) {
    at.map_or((0, 0), |at| (at.line as usize, at.column as usize))
}

/// The tables a query reads, in order of appearance, CTEs left out.
pub fn query_refs(query: &Query) -> Vec<TableRef> {
    let mut visitor = RefVisitor {
        refs: Vec::new(),
        ctes: Vec::new(),
    };
    let _ = query.visit(&mut visitor);
    visitor.refs
}

struct RefVisitor {
    refs: Vec<TableRef>,
    /// CTE names in scope, innermost last.
    ctes: Vec<String>,
}

fn normalise(part: &ObjectNamePart) -> String {
    match part {
        ObjectNamePart::Identifier(id) if id.quote_style.is_some() => id.value.clone(),
        ObjectNamePart::Identifier(id) => id.value.to_lowercase(),
        ObjectNamePart::Function(f) => f.to_string(),
    }
}

impl RefVisitor {
    fn record(&mut self, name: &ObjectName) {
        let parts: Vec<String> = name.0.iter().map(normalise).collect();
        if parts.len() == 1 && self.ctes.contains(&parts[0]) {
            return;
        }
        let idents: Vec<_> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        let (Some(first), Some(last)) = (idents.first(), idents.last()) else {
            return;
        };
        let (start, end) = (first.span.start, last.span.end);
        let len = if start.line == end.line {
            (end.column.saturating_sub(start.column)) as usize
        } else {
            1
        };
        let r = TableRef {
            parts,
            line: start.line as usize,
            column: start.column as usize,
            len: len.max(1),
        };
        if !self.refs.contains(&r) {
            self.refs.push(r);
        }
    }
}

impl Visitor for RefVisitor {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        // A name with arguments is a table function (`generate_series(1, 3)`).
        if let TableFactor::Table {
            name, args: None, ..
        } = factor
        {
            self.record(name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_lowercase();
                if with.recursive {
                    self.ctes.push(name);
                } else {
                    // The body is visited before the name is in scope (it is
                    // visited again later with the name in scope: `record`
                    // ignores what it has already seen).
                    let _ = cte.visit(self);
                    self.ctes.push(name);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for _ in &with.cte_tables {
                self.ctes.pop();
            }
        }
        ControlFlow::Continue(())
    }
}

/// A planning error in the SQL of `file`, pointed at where it is and
/// introduced by `what` (`model \`orders\``).
pub fn located_error(
    what: &str,
    file: &std::path::Path,
    sql: &str,
    err: &DataFusionError,
) -> crate::base::error::Error {
    let (line, column, len) = error_position(err, sql).unwrap_or((0, 0, 1));
    let at = crate::base::error::Location::new(file, line, column).with_len(len);
    crate::base::error::Error::failed(format!("{what}: {}", crate::base::error::df_message(err)))
        .at(at, Some(sql))
}

/// Where in `sql` a planning error points: DataFusion's own span when it
/// gives one, else the first mention of the column or table it names.
pub fn error_position(err: &DataFusionError, sql: &str) -> Option<(usize, usize, usize)> {
    for e in err.iter() {
        if let Some(span) = e.diagnostic().and_then(|d| d.span)
            && span.start.line > 0
        {
            let len = if span.start.line == span.end.line {
                span.end.column.saturating_sub(span.start.column) as usize
            } else {
                1
            };
            return Some((
                span.start.line as usize,
                span.start.column as usize,
                len.max(1),
            ));
        }
    }
    match Cause::of(err) {
        Cause::UnknownColumn(name) => {
            find_word(sql, &name).map(|(l, c)| (l, c, name.chars().count()))
        }
        _ => None,
    }
}

/// The first place `word` stands as a whole word, outside comments and strings.
fn find_word(sql: &str, word: &str) -> Option<(usize, usize)> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    tokens.iter().find_map(|t| match &t.token {
        Token::Word(w) if w.value.eq_ignore_ascii_case(word) => Some(span_start(t)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        model_refs(sql)
            .unwrap()
            .iter()
            .map(TableRef::name)
            .collect()
    }

    #[test]
    fn ctes_are_not_dependencies() {
        assert_eq!(
            names("with a as (select * from raw.x) select * from a join b using (id)"),
            ["raw.x", "b"]
        );
        // A CTE named like the table it reads.
        assert_eq!(
            names("with orders as (select * from orders) select * from orders"),
            ["orders"]
        );
        // A CTE named like a model hides the model in the outer query only.
        assert_eq!(
            names("with m as (select 1 as x) select * from m, (select * from m) s"),
            Vec::<String>::new()
        );
        assert_eq!(
            names("select * from (with m as (select 1) select * from m) s, m"),
            ["m"]
        );
    }

    #[test]
    fn positions_and_functions() {
        let refs = model_refs("select *\nfrom  Raw.Orders o, generate_series(1, 3)").unwrap();
        assert_eq!(
            refs,
            [TableRef {
                parts: vec!["raw".into(), "orders".into()],
                line: 2,
                column: 7,
                len: 10
            }]
        );
    }

    #[test]
    fn a_dbt_template_says_what_to_write() {
        let e = model_refs("select id\nfrom {{ ref('orders') }}\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6));
        assert_eq!(
            e.message,
            "`{{ ref('orders') }}` is a dbt template, not SQL"
        );
        assert!(e.help.unwrap().contains("`orders`"));
        let e = model_refs("select * from {{ source('shop', 'users') }}").unwrap_err();
        assert!(e.help.unwrap().contains("`raw.users`"));
        let e = model_refs("select 1 {% if x %} from t").unwrap_err();
        assert!(e.help.unwrap().contains("no templates"));
        // Braces in a string literal are not a template.
        assert!(model_refs("select '{{x}}' as a").is_ok());
    }

    #[test]
    fn refuses_what_is_not_one_query() {
        let e = model_refs("select 1;\n  select 2;").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        let e = model_refs("create table t as select 1").unwrap_err();
        assert!(e.message.contains("CREATE TABLE"), "{}", e.message);
        let e = model_refs("-- nothing\n").unwrap_err();
        assert!(e.message.contains("no query"));
        let e = model_refs("select 1 frm x").unwrap_err();
        assert!(e.message.starts_with("SQL syntax error"), "{}", e.message);
        assert_eq!(e.line, 1);
    }
}
