//! `mart serve`: serve the warehouse over the PostgreSQL protocol until
//! Ctrl-C or SIGTERM.

use std::sync::Arc;

use crate::base::error::{Error, Result};
use crate::cmd::ExitStatus;
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use crate::serve::{ServeOptions, serve};

pub async fn run(
    ws: &Workspace,
    options: ServeOptions,
    printer: &Arc<dyn Printer>,
) -> Result<ExitStatus> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::failed(format!("cannot watch for SIGTERM: {e}")))?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    serve(ws, options, printer.clone(), stop).await?;
    Ok(ExitStatus::Success)
}
