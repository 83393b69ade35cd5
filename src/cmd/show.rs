//! `mart show MODEL`: the first rows a build would publish for a model
//! and how many there would be, from its SQL as saved, writing nothing;
//! with `--sql`, the SQL that build would run.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use futures::StreamExt;

use crate::base::error::{Error, Result};
use crate::base::suggest::did_you_mean;
use crate::cmd::ExitStatus;
use crate::run::preview::{self, preview};
use crate::run::report::{self, Printer, count};
use crate::run::workspace::Workspace;

pub async fn run(
    ws: &Workspace,
    name: &str,
    limit: usize,
    sql: bool,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let project = &ws.project;
    let name = name.to_ascii_lowercase();
    let Some(m) = project.model_id(&name) else {
        let help = did_you_mean(&name, project.models.iter().map(|m| m.name.as_str()))
            .unwrap_or_else(|| "`mart ls` lists the models".into());
        return Err(Error::usage(format!("there is no model named `{name}`")).help(help));
    };
    let (df, edited) = preview(ws, m).await?;
    if !edited.is_empty() {
        printer.err(&format!(
            "planned from their SQL, as a build would rebuild them first: {}\n",
            edited.join(", ")
        ));
    }
    if sql {
        printer.line(&preview::sql(ws, m, &edited).await?)?;
        return Ok(ExitStatus::Success);
    }
    // One pass: the first `limit` rows kept, the rest only counted.
    let schema = df.schema().as_arrow().clone();
    let mut stream = df.execute_stream().await?;
    let (mut shown, mut rows) = (Vec::new(), 0usize);
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch?;
        let room = limit.saturating_sub(rows);
        if room > 0 {
            shown.push(batch.slice(0, room.min(batch.num_rows())));
        }
        rows += batch.num_rows();
    }
    let table = pretty_format_batches_with_schema(schema.into(), &shown)
        .map_err(|e| Error::failed(e.to_string()))?;
    let total = report::rows(rows as u64);
    let footer = match rows > limit {
        true => format!("the first {} of {total}", count(limit as u64)),
        false => total,
    };
    printer.line(&format!("{table}\n{footer}"))?;
    Ok(ExitStatus::Success)
}
