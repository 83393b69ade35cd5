//! `mart build`: land what is missing or stale, then build the selected
//! models in dependency order, one line per table, a summary at the end.

use std::sync::Arc;
use std::time::Instant;

use crate::base::error::Result;
use crate::cmd::ExitStatus;
use crate::run::build::{BuildOptions, build};
use crate::run::report::{Printer, Reporter};
use crate::run::workspace::Workspace;

pub async fn run(
    ws: &Workspace,
    options: &BuildOptions,
    printer: &Arc<dyn Printer>,
) -> Result<ExitStatus> {
    let started = Instant::now();
    let reporter = Arc::new(Reporter::new(printer.clone()));
    let built = build(ws, options, &reporter).await;
    let summary = reporter.finish();
    built?;
    printer.line(&summary.describe(started.elapsed()))?;
    Ok(ExitStatus::failed_if(summary.failed > 0))
}
