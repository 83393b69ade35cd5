//! Snapshots of the warehouse as published: a session over one version of
//! every table, taken again when a build publishes. A query holds the
//! snapshot it started on to the end (it sees one version of each table,
//! never a mix), and the snapshot holds a lease on those versions, so that
//! later publishes do not prune them under it.

use std::sync::{Arc, Mutex};

use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::{DfSessionService, QueryHook};

use crate::base::error::{Error, Result};
use crate::engine::{Engine, table_ref};
use crate::run::report::Printer;
use crate::serve::cache::Cache;
use crate::serve::catalog;
use crate::serve::comments::Descriptions;
use crate::serve::functions;
use crate::serve::savepoints::Savepoints;
use crate::serve::sessions::Sessions;
use crate::storage::lease::{self, Leases};
use crate::storage::warehouse::{Version, Warehouse, Zone};

/// One published state of the warehouse, as a session.
pub struct Snapshot {
    pub engine: Engine,
    /// The datafusion-postgres service over `engine`.
    pub service: Arc<DfSessionService>,
    /// What was published when it was taken (`Warehouse::stamp`).
    pub stamp: String,
    /// Tables served: raw ones as `raw.name`.
    pub tables: Vec<String>,
    /// The versions it reads.
    versions: Vec<(Zone, Version)>,
    leases: Arc<Leases>,
    lease: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.leases.release(self.lease);
    }
}

/// The current snapshot, taken again when the warehouse changed.
pub struct Snapshots {
    warehouse: Arc<Warehouse>,
    descriptions: Arc<Descriptions>,
    sessions: Arc<Sessions>,
    /// A session with the server's settings and memory pool, for siblings.
    base: Engine,
    leases: Arc<Leases>,
    cache: Cache,
    printer: Arc<dyn Printer>,
    current: Mutex<Arc<Snapshot>>,
    /// One refresh at a time; queries meanwhile wait for it.
    refreshing: tokio::sync::Mutex<()>,
}

impl Snapshots {
    /// The snapshot of what is published now; `cache` bytes of its tables
    /// are then decoded into memory in the background.
    pub async fn open(
        warehouse: Arc<Warehouse>,
        base: Engine,
        descriptions: Descriptions,
        sessions: Arc<Sessions>,
        cache: usize,
        printer: Arc<dyn Printer>,
    ) -> Result<Arc<Snapshots>> {
        let leases = Arc::new(Leases::new(&warehouse.root));
        let descriptions = Arc::new(descriptions);
        let cache = Cache::new(cache, &base);
        let first =
            Arc::new(take(&warehouse, &base, &leases, &descriptions, &sessions, &cache).await?);
        let snapshots = Arc::new(Snapshots {
            warehouse,
            descriptions,
            sessions,
            base,
            leases,
            cache,
            printer,
            current: Mutex::new(first.clone()),
            refreshing: tokio::sync::Mutex::new(()),
        });
        snapshots.clone().fill(first);
        Ok(snapshots)
    }

    /// The snapshot taken last, without looking at the warehouse.
    pub fn last(&self) -> Arc<Snapshot> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The snapshot of what is published now: the current one, or a new
    /// one if a build published since it was taken.
    pub async fn now(self: &Arc<Self>) -> Result<Arc<Snapshot>> {
        let latest = self.last();
        if latest.stamp == self.warehouse.stamp() {
            return Ok(latest);
        }
        let _one = self.refreshing.lock().await;
        let latest = self.last();
        if latest.stamp == self.warehouse.stamp() {
            return Ok(latest); // another query took it meanwhile
        }
        let fresh = self.retake().await?;
        self.clone().fill(fresh.clone());
        Ok(fresh)
    }

    /// Take a snapshot again and make it the current one.
    async fn retake(&self) -> Result<Arc<Snapshot>> {
        let fresh = Arc::new(
            take(
                &self.warehouse,
                &self.base,
                &self.leases,
                &self.descriptions,
                &self.sessions,
                &self.cache,
            )
            .await?,
        );
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// In the background, decode `snapshot`'s tables into memory, then
    /// serve them from there: a snapshot of the same versions, so what a
    /// query sees does not change, only how fast.
    fn fill(self: Arc<Self>, snapshot: Arc<Snapshot>) {
        tokio::spawn(async move {
            // `snapshot` holds the lease on what is decoded.
            let filled = self.cache.fill(&snapshot.engine, &snapshot.versions).await;
            for (table, why) in &filled.failed {
                self.printer.warn(&format!(
                    "mart serve: {table} is read from its files: {why}"
                ));
            }
            if let Some(line) = filled.line() {
                let _ = self.printer.line(&line);
            }
            if filled.decoded.is_empty() {
                return;
            }
            let _one = self.refreshing.lock().await;
            if self.last().stamp == snapshot.stamp
                && let Err(e) = self.retake().await
            {
                self.printer.warn(&format!("mart serve: {e}"));
            }
        });
    }
}

/// Take a snapshot: lease the current versions, then register them, from
/// memory those that are in `cache`.
async fn take(
    warehouse: &Warehouse,
    base: &Engine,
    leases: &Arc<Leases>,
    descriptions: &Descriptions,
    sessions: &Arc<Sessions>,
    cache: &Cache,
) -> Result<Snapshot> {
    // The stamp before the links: if a publish comes between, the stamp is
    // stale and the next query takes a snapshot again, which costs only time.
    let stamp = warehouse.stamp();
    let (versions, lease) = {
        let _shared = lease::flock(&warehouse.root, false)?;
        let versions = warehouse.tables()?;
        let dirs = versions.iter().map(|(_, v)| v.dir.clone()).collect();
        (versions, leases.hold(dirs)?)
    };
    cache.keep(&versions);
    let engine = base.sibling()?;
    catalog::ordered(&engine.ctx);
    let mut names = Vec::new();
    for (zone, version) in &versions {
        match cache.get(version) {
            Some(table) => engine.register_as(*zone, version, table)?,
            None => engine.register(*zone, version).await?,
        }
        names.push(table_ref(*zone, &version.record.name).to_string());
    }
    register_views(warehouse, &engine, &mut names).await?;
    setup_pg_catalog(&engine.ctx, "datafusion", EmptyContextProvider)
        .map_err(|e| Error::failed(format!("cannot set up pg_catalog: {e}")))?;
    for function in functions::all() {
        engine.ctx.register_udf(function);
    }
    engine.ctx.register_udf(sessions.cancel_function());
    // Without them, `\dt+` has no sizes and clients no comments; the
    // tables are served all the same.
    let oids = catalog::relation_oids(&engine.ctx)
        .await
        .unwrap_or_default();
    let bytes = versions.iter().filter_map(|(zone, version)| {
        let name = table_ref(*zone, &version.record.name);
        let key = (
            name.schema().unwrap_or("public").to_string(),
            name.table().to_string(),
        );
        Some((*oids.get(&key)?, version.record.bytes as i64))
    });
    for function in functions::table_size_udfs(bytes.collect()) {
        engine.ctx.register_udf(function);
    }
    let mut ours = vec![("pg_stat_activity", sessions.activity_table())];
    // Without them, SQLAlchemy's constraint and index queries fail; the
    // tables are served all the same.
    if let Ok(arrays) = catalog::with_arrays(&engine.ctx).await {
        ours.extend(arrays);
    }
    if let Ok(Some(described)) = descriptions.install(&engine.ctx, &oids).await {
        ours.push(("pg_description", described));
    }
    catalog::overlay(&engine.ctx, ours)?;
    names.sort();
    Ok(Snapshot {
        service: Arc::new(DfSessionService::new_with_hooks(
            Arc::new(engine.ctx.clone()),
            hooks(),
        )),
        engine,
        stamp,
        tables: names,
        versions,
        leases: leases.clone(),
        lease,
    })
}

/// Register the published views, each over what is registered before it:
/// a view may read another, so go round until none more can be planned.
async fn register_views(
    warehouse: &Warehouse,
    engine: &Engine,
    names: &mut Vec<String>,
) -> Result<()> {
    let mut pending: Vec<_> = warehouse
        .views()
        .into_iter()
        .filter_map(|name| warehouse.view(&name))
        .collect();
    loop {
        let before = pending.len();
        let mut left = Vec::new();
        for view in pending {
            match engine.plan(&view.sql).await {
                Ok(df) => {
                    engine.register_view(&view.name, df)?;
                    names.push(view.name.clone());
                }
                Err(_) => left.push(view),
            }
        }
        pending = left;
        if pending.is_empty() || pending.len() == before {
            return Ok(()); // what is left reads a table that is not published
        }
    }
}

/// datafusion-postgres' hooks (cursors, SET/SHOW, transactions), after
/// the savepoints it lacks.
fn hooks() -> Vec<Arc<dyn QueryHook>> {
    vec![
        Arc::new(Savepoints),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ]
}
