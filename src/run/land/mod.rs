//! Landing: raw files (CSV, newline-delimited JSON, Parquet) and database
//! tables become Parquet tables under `warehouse/raw/<source>/`, readable in
//! SQL as `raw.<source>`, each landed again only when what it reads changed.

mod database;
mod files;

use std::time::Instant;

use crate::base::error::{Kind, Result};
use crate::engine::Engine;
use crate::run::report::{self, Reporter, Status};
use crate::spec::project::{Project, Read, Source};
use crate::storage::warehouse::{Meta, Version, Warehouse};

/// Land `sources`, each unless it is up to date, leaving them registered in
/// `engine`; the caller holds the warehouse's lock. Every input file is
/// looked for before anything is written: a source that matches no file is
/// a bad project. `full_refresh` lands database sources whole, not by their
/// cursor. Returns, for each source, how it fared and the record of the
/// version now registered.
pub async fn land_sources(
    engine: &Engine,
    project: &Project,
    warehouse: &Warehouse,
    sources: &[&Source],
    full_refresh: bool,
    reporter: &Reporter,
) -> Result<Vec<Landed>> {
    let inputs: Vec<_> = sources
        .iter()
        .map(|s| match &s.read {
            Read::Files(_) => files::resolve_inputs(project, s),
            Read::Database(_) => Ok(Vec::new()),
        })
        .collect::<Result<_>>()?;
    warehouse.clean_up()?;
    let mut out = Vec::with_capacity(sources.len());
    for (source, files) in sources.iter().zip(inputs) {
        let name = format!("raw.{}", source.name);
        reporter.started(&name);
        let started = Instant::now();
        let fresh = match &source.read {
            Read::Files(_) => files::land(engine, project, warehouse, source, files).await,
            Read::Database(db) => {
                database::land(engine, warehouse, source, db, full_refresh, reporter).await
            }
        };
        match fresh {
            Ok(Fresh {
                status,
                version,
                appended,
            }) => {
                let elapsed = (status == Status::Landed).then(|| started.elapsed());
                let mut detail = report::rows(version.record.rows);
                if let Some(n) = appended {
                    detail.push_str(&format!(" ({} appended)", report::count(n)));
                }
                reporter.finished(status, "source", &name, &detail, elapsed, None);
                out.push(Landed {
                    status,
                    meta: Some(version.record.meta),
                });
            }
            // A bad declaration in the project stops the run (exit 2).
            Err(err) if err.kind == Kind::Usage => return Err(err),
            Err(err) => {
                reporter.failed("source", &name, started.elapsed(), &err);
                out.push(Landed {
                    status: Status::Failed,
                    meta: None,
                });
            }
        }
    }
    Ok(out)
}

/// How landing a source went, and the record of the version now
/// registered (`None` when it failed).
pub struct Landed {
    pub status: Status,
    pub meta: Option<Meta>,
}

/// A source's version after landing it: how it fared, the version now
/// published, and the rows appended when only appended rows were landed.
struct Fresh {
    status: Status,
    version: Version,
    appended: Option<u64>,
}

impl Fresh {
    fn new(status: Status, version: Version, appended: Option<u64>) -> Fresh {
        Fresh {
            status,
            version,
            appended,
        }
    }
}
