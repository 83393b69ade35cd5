//! `mart land [NAME...]`: land the sources named (all by default) as
//! Parquet, each unless what it reads is unchanged.

use std::sync::Arc;
use std::time::Instant;

use crate::base::error::{Error, Result};
use crate::base::suggest::did_you_mean;
use crate::cmd::ExitStatus;
use crate::run::land::land_sources;
use crate::run::report::{Printer, Reporter};
use crate::run::workspace::Workspace;

pub async fn run(
    ws: &Workspace,
    names: &[String],
    wait: bool,
    full_refresh: bool,
    printer: &Arc<dyn Printer>,
) -> Result<ExitStatus> {
    let started = Instant::now();
    let project = &ws.project;
    let mut selected = Vec::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        match project.source(&name) {
            Some(s) => selected.push(s),
            None => {
                let help = did_you_mean(&name, project.sources.iter().map(|s| s.name.as_str()))
                    .unwrap_or_else(|| {
                        "`mart land` takes the names of sources declared under `sources:` in marts/"
                            .into()
                    });
                return Err(Error::usage(format!("there is no source named `{name}`")).help(help));
            }
        }
    }
    if names.is_empty() {
        selected = project.sources.iter().collect();
    }
    let _lock = ws
        .warehouse
        .lock("land", wait, &|n| printer.lock_notice(n))?;
    let engine = ws.session()?;
    let reporter = Reporter::new(printer.clone());
    reporter.begin(selected.len());
    let landed = land_sources(
        &engine,
        project,
        &ws.warehouse,
        &selected,
        full_refresh,
        &reporter,
    )
    .await;
    let summary = reporter.finish();
    landed?;
    printer.line(&summary.describe(started.elapsed()))?;
    Ok(ExitStatus::failed_if(summary.failed > 0))
}
