//! `mart build --watch`, `mart test --watch`: run once, then again after
//! each save to the project's YAML, SQL or source files, until Ctrl-C.
//!
//! Each run loads the project again and is an ordinary build (or test):
//! the fingerprints decide what a change rebuilds, and the warehouse's
//! lock is taken by the build and released when it ends, so readers and
//! other writers only ever wait for a build, never for the watcher.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::base::error::{Error, Result};
use crate::cmd::{self, ExitStatus, ListFormat};
use crate::run::build::BuildOptions;
use crate::run::report::Printer;
use crate::run::workspace::{Dirs, Workspace};
use crate::spec::project::Read;
use crate::spec::select::Selector;

/// Saves closer together than this make one run: the write, rename and
/// chmod of one editor's save, or "save all".
const QUIET: Duration = Duration::from_millis(60);

/// What runs on each change.
pub enum Job {
    Build(BuildOptions),
    Test(Selector, ListFormat),
}

impl Job {
    async fn run(&self, ws: &Workspace, printer: &Arc<dyn Printer>) -> Result<ExitStatus> {
        match self {
            Job::Build(options) => cmd::build::run(ws, options, printer).await,
            Job::Test(selector, format) => cmd::test::run(ws, selector, *format, printer).await,
        }
    }

    /// The job for the runs after the first: a full refresh is done once.
    fn again(self) -> Job {
        match self {
            Job::Build(options) => Job::Build(BuildOptions {
                full_refresh: false,
                ..options
            }),
            test => test,
        }
    }
}

/// Run `job` over the workspace `open` loads, then again after each change,
/// until Ctrl-C. A project that does not load, or a run that fails, is
/// reported and the watch goes on. Ctrl-C while waiting ends it with
/// success; during a run, with failure (what the run published stays).
pub async fn run(
    dirs: &Dirs,
    open: impl Fn() -> Result<Workspace>,
    mut job: Job,
    printer: &Arc<dyn Printer>,
) -> Result<ExitStatus> {
    let (tx, mut rx) = unbounded_channel();
    let watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|e| Error::failed(format!("cannot watch files: {e}")))?;
    let mut watched = Watched::new(dirs, watcher)?;
    // One stream for the whole watch: a Ctrl-C between two waits is kept
    // for the next, not lost.
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| Error::failed(format!("cannot listen for Ctrl-C: {e}")))?;
    loop {
        let ws = open();
        // Watched before the run: a save during it makes one more run.
        watched.update(ws.as_ref().ok())?;
        let ran = match ws {
            Ok(ws) => tokio::select! {
                ran = job.run(&ws, printer) => ran,
                _ = interrupt.recv() => {
                    printer.err("interrupted: what the run published stays published\n");
                    return Ok(ExitStatus::Failure);
                }
            },
            Err(e) => Err(e),
        };
        if let Err(e) = ran {
            printer.err(&e.to_string());
        }
        job = job.again();
        printer.err(&format!("watching {}: Ctrl-C stops\n", watched.describe()));
        let changed = tokio::select! {
            changed = watched.next_change(&mut rx) => changed?,
            _ = interrupt.recv() => return Ok(ExitStatus::Success),
        };
        printer.err(&format!("\nchanged: {}\n", watched.shown(&changed)));
    }
}

/// The folders watched, and which of their files matter.
struct Watched {
    watcher: RecommendedWatcher,
    project: PathBuf,
    marts: PathBuf,
    sql: PathBuf,
    warehouse: PathBuf,
    /// What is watched now.
    roots: BTreeSet<(PathBuf, bool)>,
}

impl Watched {
    fn new(dirs: &Dirs, watcher: RecommendedWatcher) -> Result<Watched> {
        let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io("find", p, e));
        let project = absolute(&dirs.project)?;
        Ok(Watched {
            watcher,
            marts: project.join("marts"),
            sql: project.join("sql"),
            warehouse: absolute(&dirs.warehouse)?,
            project,
            roots: BTreeSet::new(),
        })
    }

    /// Watch `marts/`, `sql/` and the folders of the sources' files (of
    /// `ws`, when the project loaded), and nothing else.
    fn update(&mut self, ws: Option<&Workspace>) -> Result<()> {
        let mut roots = BTreeSet::from([(self.marts.clone(), true), (self.sql.clone(), true)]);
        for source in ws.iter().flat_map(|ws| &ws.project.sources) {
            if let Read::Files(files) = &source.read {
                roots.insert(source_root(&self.project.join(&files.path)));
            }
        }
        roots.retain(|(path, _)| path.exists());
        for (path, _) in self.roots.difference(&roots) {
            let _ = self.watcher.unwatch(path); // gone with its folder, perhaps
        }
        for (path, recursive) in roots.difference(&self.roots) {
            let mode = match recursive {
                true => RecursiveMode::Recursive,
                false => RecursiveMode::NonRecursive,
            };
            self.watcher
                .watch(path, mode)
                .map_err(|e| Error::failed(format!("cannot watch {}: {e}", path.display())))?;
        }
        self.roots = roots;
        Ok(())
    }

    /// Wait for a change that matters, then for a quiet moment: the files
    /// changed, in the order first seen.
    async fn next_change(
        &self,
        rx: &mut UnboundedReceiver<notify::Result<Event>>,
    ) -> Result<Vec<PathBuf>> {
        let mut changed: Vec<PathBuf> = Vec::new();
        loop {
            let event = match changed.is_empty() {
                true => rx.recv().await,
                false => match tokio::time::timeout(QUIET, rx.recv()).await {
                    Ok(event) => event,
                    Err(_) => return Ok(changed),
                },
            };
            let Some(event) = event else {
                return Err(Error::failed("the file watcher stopped"));
            };
            let event = event.map_err(|e| Error::failed(format!("watching files: {e}")))?;
            if matches!(event.kind, EventKind::Access(_)) {
                continue;
            }
            for path in event.paths {
                if self.matters(&path) && !changed.contains(&path) {
                    changed.push(path);
                }
            }
        }
    }

    /// Whether a change to `path` can change what a run does: YAML under
    /// `marts/`, SQL under `sql/`, any file of a source's folder; never an
    /// editor's swap or backup file, nor the warehouse.
    fn matters(&self, path: &Path) -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let scratch = name.starts_with('.')
            || name.ends_with('~')
            || [".swp", ".swx", ".tmp"].iter().any(|e| name.ends_with(e))
            || name.chars().all(|c| c.is_ascii_digit()); // vim's write test, 4913
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if scratch || path.starts_with(&self.warehouse) {
            false
        } else if path.starts_with(&self.marts) {
            matches!(extension, "yml" | "yaml")
        } else if path.starts_with(&self.sql) {
            extension == "sql"
        } else {
            self.roots.iter().any(|(root, _)| path.starts_with(root))
        }
    }

    /// The folders watched, relative to the project: `data/, marts/, sql/`.
    fn describe(&self) -> String {
        let folders: Vec<String> = (self.roots.iter())
            .map(|(p, _)| format!("{}/", self.relative(p)))
            .collect();
        folders.join(", ")
    }

    /// `paths`, relative to the project where they are in it.
    fn shown(&self, paths: &[PathBuf]) -> String {
        let shown: Vec<String> = paths.iter().map(|p| self.relative(p)).collect();
        shown.join(", ")
    }

    fn relative(&self, path: &Path) -> String {
        match path.strip_prefix(&self.project) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// The folder to watch for a source's `path`, and whether below it: a
/// glob's folder before its first pattern, a folder, or a file's folder.
fn source_root(path: &Path) -> (PathBuf, bool) {
    let glob = |c: &std::path::Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    if path.components().any(|c| glob(&c)) {
        let fixed: PathBuf = path.components().take_while(|c| !glob(c)).collect();
        return (fixed, true);
    }
    match path.is_dir() {
        true => (path.to_path_buf(), true),
        false => (path.parent().unwrap_or(path).to_path_buf(), false),
    }
}
