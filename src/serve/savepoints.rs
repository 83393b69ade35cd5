//! A hook datafusion-postgres lacks.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::PgWireResult;

/// `SAVEPOINT`, `RELEASE` and `ROLLBACK TO`: accepted, like the
/// transactions around them (nothing is written, so there is nothing to
/// undo). SQLAlchemy and psycopg send them around their first queries.
pub struct Savepoints;

fn savepoint_tag(statement: &sqlparser::ast::Statement) -> Option<&'static str> {
    use sqlparser::ast::Statement as S;
    match statement {
        S::Savepoint { .. } => Some("SAVEPOINT"),
        S::ReleaseSavepoint { .. } => Some("RELEASE"),
        S::Rollback {
            savepoint: Some(_), ..
        } => Some("ROLLBACK"),
        _ => None,
    }
}

#[async_trait]
impl QueryHook for Savepoints {
    async fn handle_simple_query(
        &self,
        statement: &sqlparser::ast::Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        savepoint_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &sqlparser::ast::Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        savepoint_tag(statement).map(|_| {
            Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &sqlparser::ast::Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        savepoint_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}
