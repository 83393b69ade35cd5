//! One client's session: each statement is checked (read-only), run by
//! datafusion-postgres over the snapshot of the warehouse current when it
//! starts, and bounded by the session's `statement_timeout` and by cancel
//! requests; its errors are typed (SQLSTATE).

use std::collections::HashMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{EmptyRelation, Expr, LogicalPlan};
use datafusion::sql::sqlparser;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, into_pg_type};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire;
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use futures::{Sink, Stream, StreamExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribePortalResponse, FieldInfo, Response, SendableRowStream};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, PgWireServerHandlers, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;

use crate::serve::auth::Startup;
use crate::serve::rewrite::rewritten;
use crate::serve::sessions::{Activity, Busy, Canceller, Sessions};
use crate::serve::snapshot::{Snapshot, Snapshots};
use crate::serve::sqlstate::{self, CANCELED};

/// datafusion-postgres's prepared statement: the SQL, and its statement
/// and plan. Cursors need the client's portal store to hold exactly this.
type Statement = (String, Option<(sqlparser::ast::Statement, LogicalPlan)>);

/// Where datafusion-postgres keeps a session's `statement_timeout`.
pub const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// One connection's handlers.
pub struct Connection {
    queries: Arc<Queries>,
    startup: Arc<Startup>,
    cancel: Arc<Sessions>,
}

impl Connection {
    pub fn new(
        snapshots: Arc<Snapshots>,
        startup: Startup,
        sessions: Arc<Sessions>,
        activity: Arc<Activity>,
    ) -> Self {
        let prepare = Arc::new(Prepare {
            snapshots: snapshots.clone(),
            sql_parser: PostgresCompatibilityParser::new(),
            cursors: Cursors::default(),
        });
        Connection {
            queries: Arc::new(Queries {
                snapshots,
                prepare,
                activity,
            }),
            startup: Arc::new(startup),
            cancel: sessions,
        }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        self.queries.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

pub struct Queries {
    snapshots: Arc<Snapshots>,
    prepare: Arc<Prepare>,
    activity: Arc<Activity>,
}

/// What bounds a running statement: its deadline and the client's cancel.
struct Bounds {
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    cancel: Option<Shared<oneshot::Receiver<()>>>,
    /// The session is busy while this lives.
    _busy: Option<Busy>,
}

impl Bounds {
    fn of<C: ClientInfo + ?Sized>(client: &C, activity: &Arc<Activity>, query: &str) -> Bounds {
        let timeout = client
            .metadata()
            .get(STATEMENT_TIMEOUT_KEY)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        let cancel = client
            .session_extensions()
            .get::<Canceller>()
            .map(|c| c.start().shared());
        Bounds {
            deadline: timeout.map(|t| Box::pin(tokio::time::sleep(t))),
            cancel,
            _busy: Some(activity.enter(query)),
        }
    }

    /// Whether the statement must stop now, and why.
    fn poll_stop(&mut self, cx: &mut Context<'_>) -> Option<PgWireError> {
        if let Some(cancel) = &mut self.cancel {
            match cancel.poll_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    return Some(sqlstate::error(
                        CANCELED,
                        "canceling statement due to user request",
                        None,
                    ));
                }
                // The sender is gone (a later statement took its place).
                Poll::Ready(Err(_)) => self.cancel = None,
                Poll::Pending => {}
            }
        }
        if let Some(deadline) = &mut self.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Some(sqlstate::error(
                CANCELED,
                "canceling statement due to statement timeout",
                Some("`SET statement_timeout` sets this session's limit; 0 turns it off".into()),
            ));
        }
        None
    }

    /// Run `work` (planning) unless the statement is stopped first.
    async fn run<T>(&mut self, work: impl Future<Output = PgWireResult<T>>) -> PgWireResult<T> {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Some(err) = self.poll_stop(cx) {
                return Poll::Ready(Err(err));
            }
            work.as_mut().poll(cx)
        })
        .await
    }
}

/// A response's rows, read under the statement's bounds, with the snapshot
/// held (and its versions leased) until the last row is sent.
struct Guarded {
    rows: SendableRowStream,
    bounds: Bounds,
    snapshot: Arc<Snapshot>,
    done: bool,
}

impl Stream for Guarded {
    type Item = PgWireResult<DataRow>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(err) = this.bounds.poll_stop(cx) {
            // Dropping the rows stops the engine's work on them.
            this.rows = Box::pin(futures::stream::empty());
            this.done = true;
            return Poll::Ready(Some(Err(err)));
        }
        match this.rows.poll_next_unpin(cx) {
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(sqlstate::typed(e, &this.snapshot.engine))))
            }
            other => other,
        }
    }
}

/// Put the rows of each result under the statement's bounds.
fn guard(responses: Vec<Response>, mut bounds: Bounds, snapshot: &Arc<Snapshot>) -> Vec<Response> {
    let last = responses.len().saturating_sub(1);
    responses
        .into_iter()
        .enumerate()
        .map(|(i, response)| match response {
            Response::Query(mut query) => {
                let rows =
                    std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
                let bounds = if i == last {
                    std::mem::replace(
                        &mut bounds,
                        Bounds {
                            deadline: None,
                            cancel: None,
                            _busy: None,
                        },
                    )
                } else {
                    Bounds {
                        deadline: None,
                        cancel: bounds.cancel.clone(),
                        _busy: None,
                    }
                };
                query.data_rows = Box::pin(Guarded {
                    rows,
                    bounds,
                    snapshot: snapshot.clone(),
                    done: false,
                });
                Response::Query(query)
            }
            other => other,
        })
        .collect()
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let pid = client.pid_and_secret_key().0;
        let (statements, query) = self.prepare.parse(query, pid)?;
        let snapshot = self
            .snapshots
            .now()
            .await
            .map_err(|e| sqlstate::from_error(&e))?;
        for statement in &statements {
            self.prepare.cursors.note(statement, &snapshot).await;
        }
        let mut bounds = Bounds::of(client, &self.activity, &query);
        let service = snapshot.service.clone();
        let responses = bounds
            .run(SimpleQueryHandler::do_query(
                service.as_ref(),
                client,
                &query,
            ))
            .await
            .map_err(|e| sqlstate::typed(e, &snapshot.engine))?;
        Ok(guard(responses, bounds, &snapshot))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = Statement;
    type QueryParser = Prepare;

    fn query_parser(&self) -> Arc<Prepare> {
        self.prepare.clone()
    }

    /// A cursor's portal (psycopg describes it after `DECLARE`) has its
    /// columns; datafusion-postgres stores it without a plan to read them from.
    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let format = &portal.result_column_format;
        let cursor = match portal.statement.statement.1 {
            None => self.prepare.cursors.schema(&portal.name),
            Some(_) => None,
        };
        let fields = match cursor {
            Some(schema) => arrow_schema_to_pg_fields(schema.as_arrow(), format, None)?,
            None => self
                .prepare
                .get_result_schema(&portal.statement.statement, Some(format))?,
        };
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let snapshot = self
            .snapshots
            .now()
            .await
            .map_err(|e| sqlstate::from_error(&e))?;
        // Planned over an older snapshot: plan again over this one, so that
        // a statement prepared long ago still reads what is published now.
        let stored = &portal.statement;
        let replanned = match reads_only(&stored.statement, &snapshot).await {
            true => None,
            false => Some(
                self.prepare
                    .plan(client, &snapshot, &stored.statement.0)
                    .await?,
            ),
        };
        let statement = replanned.as_ref().unwrap_or(&stored.statement);
        // Parameters the outer plan lacks: typed here, where the client did not.
        let hinted = statement.1.as_ref().and_then(|(_, plan)| {
            let ours = subquery_parameter_types(plan)?;
            let client = |i: usize| stored.parameter_types.get(i).cloned().flatten();
            Some(
                (0..ours.len())
                    .map(|i| client(i).or(Some(ours[i].clone())))
                    .collect(),
            )
        });
        let rebuilt;
        let portal = if replanned.is_some() || hinted.is_some() {
            let types = hinted.unwrap_or_else(|| stored.parameter_types.clone());
            rebuilt = with_statement(portal, statement.clone(), types);
            &rebuilt
        } else {
            portal
        };
        let mut bounds = Bounds::of(client, &self.activity, &portal.statement.statement.0);
        let service = snapshot.service.clone();
        let response = bounds
            .run(ExtendedQueryHandler::do_query(
                service.as_ref(),
                client,
                portal,
                max_rows,
            ))
            .await
            .map_err(|e| sqlstate::typed(e, &snapshot.engine))?;
        Ok(guard(vec![response], bounds, &snapshot).remove(0))
    }
}

impl ErrorHandler for Queries {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if matches!(error, PgWireError::ApiError(_)) {
            let taken = std::mem::replace(error, PgWireError::InvalidSASLState);
            *error = sqlstate::typed(taken, &self.snapshots.last().engine);
        }
    }
}

/// Parses a prepared statement over the current snapshot, refusing what
/// would write.
pub struct Prepare {
    snapshots: Arc<Snapshots>,
    sql_parser: PostgresCompatibilityParser,
    cursors: Cursors,
}

/// `portal`, bound to `statement` with `parameter_types`.
fn with_statement(
    portal: &Portal<Statement>,
    statement: Statement,
    parameter_types: Vec<Option<Type>>,
) -> Portal<Statement> {
    let stored = &portal.statement;
    let mut fresh = Portal::default();
    fresh.name = portal.name.clone();
    fresh.statement = Arc::new(StoredStatement::new(
        stored.id.clone(),
        statement,
        parameter_types,
    ));
    fresh.parameter_format = portal.parameter_format.clone();
    fresh.parameters = portal.parameters.clone();
    fresh.result_column_format = portal.result_column_format.clone();
    fresh.state = portal.state.clone();
    fresh
}

/// The parameters' types, `$1` first, when the outer plan does not hold
/// them all: datafusion-postgres types what it finds there and numbers
/// it from `$1`, so the values of a query with parameters in a subquery,
/// or in a select-list subquery that datafusion-pg-catalog drops
/// (SQLAlchemy 2's column query), were read as other parameters' types.
fn subquery_parameter_types(plan: &LogicalPlan) -> Option<Vec<Type>> {
    let mut types: HashMap<usize, Option<DataType>> = HashMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        for expr in node.expressions() {
            let _ = expr.apply(|e| {
                let (placeholder, cast) = match e {
                    Expr::Placeholder(p) => (p, None),
                    Expr::Cast(c) => match c.expr.as_ref() {
                        Expr::Placeholder(p) => (p, Some(c.field.data_type().clone())),
                        _ => return Ok(TreeNodeRecursion::Continue),
                    },
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Ok(n) = placeholder.id.trim_start_matches('$').parse::<usize>() {
                    let known = placeholder.field.as_ref().map(|f| f.data_type().clone());
                    let slot = types.entry(n).or_default();
                    *slot = slot.clone().or(known).or(cast);
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let count = types.keys().copied().max().unwrap_or(0);
    let outer = plan.get_parameter_types().map(|t| t.len()).unwrap_or(0);
    if outer >= count {
        return None;
    }
    let pg_type = |n: usize| {
        let data_type = types.get(&n).cloned().flatten()?;
        into_pg_type(&data_type).ok()
    };
    // One the plan does not read (datafusion-pg-catalog drops subqueries
    // from select lists) is read as text, and never used.
    Some(
        (1..=count)
            .map(|n| pg_type(n).unwrap_or(Type::TEXT))
            .collect(),
    )
}

/// Whether `statement`'s plan reads only tables `snapshot` serves, as it
/// serves them now (and so holds their versions). A statement prepared
/// once and run many times was planned over the snapshot of its Parse;
/// the SQL text does not tell which.
async fn reads_only(statement: &Statement, snapshot: &Snapshot) -> bool {
    let Some((_, plan)) = &statement.1 else {
        return false;
    };
    let mut scans = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans.push((scan.table_name.clone(), scan.source.clone()));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    for (name, source) in scans {
        let (Ok(planned), Ok(now)) = (
            source_as_provider(&source),
            snapshot.engine.ctx.table_provider(name).await,
        ) else {
            return false;
        };
        if Arc::as_ptr(&planned) as *const () != Arc::as_ptr(&now) as *const () {
            return false;
        }
    }
    true
}

/// The cursors a session declared: their columns (datafusion-postgres
/// describes a prepared `FETCH` as returning nothing, and libpq, psycopg's
/// server-side cursors, cannot read rows it was not told the columns of),
/// and the snapshot each reads, held (its versions leased) until `CLOSE`.
#[derive(Default)]
struct Cursors(Mutex<HashMap<String, Declared>>);

/// A cursor's columns and snapshot.
type Declared = (DFSchemaRef, Arc<Snapshot>);

impl Cursors {
    /// Remember what `DECLARE` declares and forget what `CLOSE` closes.
    async fn note(&self, statement: &sqlparser::ast::Statement, snapshot: &Arc<Snapshot>) {
        use sqlparser::ast::{CloseCursor, Statement as S};
        match statement {
            S::Declare { stmts } => {
                for declare in stmts {
                    if let (Some(name), Some(query)) = (declare.names.first(), &declare.for_query)
                        && let Ok(df) = snapshot.engine.ctx.sql(&query.to_string()).await
                    {
                        let schema = df.schema().clone().into();
                        self.lock()
                            .insert(name.value.clone(), (schema, snapshot.clone()));
                    }
                }
            }
            S::Close {
                cursor: CloseCursor::All,
            } => self.lock().clear(),
            S::Close {
                cursor: CloseCursor::Specific { name },
            } => {
                self.lock().remove(&name.value);
            }
            _ => {}
        }
    }

    /// A `FETCH`'s plan: no rows to plan, but the cursor's columns.
    fn fetch(&self, statement: &sqlparser::ast::Statement) -> Option<LogicalPlan> {
        let sqlparser::ast::Statement::Fetch { name, .. } = statement else {
            return None;
        };
        let schema = self.lock().get(&name.value)?.0.clone();
        Some(LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema,
        }))
    }

    /// A cursor's columns.
    fn schema(&self, name: &str) -> Option<DFSchemaRef> {
        self.lock().get(name).map(|(schema, _)| schema.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Declared>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Prepare {
    /// Parse `sql`, refuse what would write (before planning: DataFusion
    /// cannot plan some writes, ALTER, at all), and rewrite what DataFusion
    /// would not take; the statements and the SQL to run.
    fn parse(&self, sql: &str, pid: i32) -> PgWireResult<(Vec<sqlparser::ast::Statement>, String)> {
        let statements = self
            .sql_parser
            .parse(sql)
            .map_err(|e| sqlstate::error(sqlstate::SYNTAX, e.to_string(), None))?;
        for statement in &statements {
            sqlstate::check(statement)?;
        }
        Ok((
            statements,
            rewritten(sql, pid).unwrap_or_else(|| sql.to_string()),
        ))
    }

    async fn plan<C>(
        &self,
        client: &C,
        snapshot: &Arc<Snapshot>,
        sql: &str,
    ) -> PgWireResult<Statement>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // datafusion-postgres parses it (once) below, and what it parsed
        // is checked.
        let pid = client.pid_and_secret_key().0;
        let sql = rewritten(sql, pid).unwrap_or_else(|| sql.to_string());
        let parser = ExtendedQueryHandler::query_parser(snapshot.service.as_ref());
        let mut statement = match parser.parse_sql(client, &sql, &[]).await {
            Ok(statement) => statement.unwrap_or_else(|| (sql.clone(), None)),
            Err(e) => {
                // A write DataFusion cannot plan (ALTER) is refused as a write.
                self.parse(&sql, pid)?;
                return Err(sqlstate::typed(e, &snapshot.engine));
            }
        };
        if let Some((parsed, plan)) = &mut statement.1 {
            sqlstate::check(parsed)?;
            self.cursors.note(parsed, snapshot).await;
            if let Some(fetch) = self.cursors.fetch(parsed) {
                *plan = fetch;
            }
        }
        Ok(statement)
    }
}

#[async_trait]
impl QueryParser for Prepare {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let snapshot = self
            .snapshots
            .now()
            .await
            .map_err(|e| sqlstate::from_error(&e))?;
        let statement = self.plan(client, &snapshot, sql).await?;
        Ok(Some(statement))
    }

    fn get_parameter_types(&self, statement: &Statement) -> PgWireResult<Vec<Type>> {
        let service = self.snapshots.last().service.clone();
        match statement
            .1
            .as_ref()
            .and_then(|(_, p)| subquery_parameter_types(p))
        {
            Some(types) => Ok(types),
            None => {
                ExtendedQueryHandler::query_parser(service.as_ref()).get_parameter_types(statement)
            }
        }
    }

    fn get_result_schema(
        &self,
        statement: &Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let service = self.snapshots.last().service.clone();
        ExtendedQueryHandler::query_parser(service.as_ref())
            .get_result_schema(statement, column_format)
    }
}
