//! The warehouse on disk, and how a table is replaced atomically.
//!
//! ```text
//! warehouse/
//!   raw/<source>  -> ../_mart/data/raw/<source>/<version>    (a symlink)
//!   mart/<model>  -> ../_mart/data/mart/<model>/<version>
//!   _mart/data/<zone>/<name>/<version>/   Parquet files (hive folders if partitioned)
//!                                         and _mart.json, the record of that version
//!   _mart/tmp/                            versions being written
//! ```
//!
//! A new version is written under `_mart/tmp/`, flushed to disk, moved into
//! `_mart/data/`, and published by renaming a new symlink over the old one: a
//! rename is atomic, so a reader that opens `warehouse/mart/<model>/` sees
//! the old version or the new one, never a mix. The record is inside the
//! version it describes, so it can never disagree with the data. The
//! previous version is kept until the next publish, for readers still on
//! it, and any older one a reader holds a lease on (`lease`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use datafusion::arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::fs::{walk, write_json};
use crate::base::time::{now_ms, rfc3339};
use crate::storage::lease;

const RECORD: &str = "_mart.json";

/// How long what the project no longer declares is kept under
/// `_mart/removed/`, for `mart restore`.
pub const KEEP_REMOVED: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The two kinds of tables a warehouse holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Raw,
    Mart,
}

impl Zone {
    fn dir(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Mart => "mart",
        }
    }
}

/// One input file of a landed source, as it was when landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub modified_ns: u128,
    /// A hash of the content, for files small enough to hash cheaply: a
    /// file rewritten with the same bytes (or touched) is not landed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// What a version holds; stored as `_mart.json` beside its Parquet files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    /// The table's columns, partition columns included.
    pub schema: Schema,
    #[serde(default)]
    pub partition_by: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub written_at_ms: u128,
    /// For landed sources: the files landed.
    #[serde(default)]
    pub inputs: Vec<InputFile>,
    #[serde(flatten)]
    pub meta: Meta,
}

/// What decided a version's contents and what it was built from: what a
/// build compares to tell what it may skip or must redo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// What decided this version's contents (see `fingerprint`).
    #[serde(default)]
    pub fingerprint: String,
    /// For a model: the fingerprint of the SQL and settings it was built
    /// with (an incremental model whose definition changed is rebuilt whole).
    #[serde(default)]
    pub definition: String,
    /// For a source: the fingerprint of the last landing that was whole;
    /// this version is that one plus `appends` landings of appended rows.
    /// The same for an incremental model: its last whole build, and the
    /// incremental builds since.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub appends: u64,
    /// For a model: every source it reads, directly or not, as it was when
    /// the model was built, and for an incremental model every model too
    /// (their definitions); absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<BTreeMap<String, Origin>>,
    /// For a source read incrementally from a database: the largest value
    /// of its cursor column landed, as text; the next landing reads from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The fingerprint of the data tests this version passed ("": none ran).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tested: String,
    /// For a table model: the files it read, to tell the rows appended
    /// to them since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Reads>,
}

/// What a table model was built from, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reads {
    /// The fingerprint of its optimized query plan.
    pub plan: String,
    /// Every table it read, and that table's files.
    pub tables: BTreeMap<String, Vec<StoredFile>>,
    /// The table whose appended rows its stored aggregation state
    /// (`STATE`, beside its files) can take in, if it stores one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_for: Option<String>,
}

/// The file of a version holding its aggregation's partial state: a
/// Parquet file that readers of the table do not list.
pub const STATE: &str = "_mart.state";

/// A Parquet file of a version as a build read it. Files are never changed
/// once written, and a later version hard-links the files it keeps: the
/// same inode, size and time are the same rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub path: PathBuf,
    pub inode: u64,
    pub size: u64,
    /// u64 (to the year 2554): a record's fields are read through serde's
    /// `flatten`, which has no u128.
    pub modified_ns: u64,
}

impl StoredFile {
    pub fn of(path: &Path) -> Option<StoredFile> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(StoredFile {
            path: path.to_path_buf(),
            inode: meta.ino(),
            size: meta.len(),
            modified_ns: modified.as_nanos() as u64,
        })
    }

    /// The same file, wherever it is linked.
    pub fn same(&self, other: &StoredFile) -> bool {
        (self.inode, self.size, self.modified_ns) == (other.inode, other.size, other.modified_ns)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a model was built from, for one table it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A source, or an incremental model: its last whole landing (build),
    /// and the landings of appended rows (incremental builds) since.
    Source { base: String, appends: u64 },
    /// A model: the fingerprint of its SQL and settings.
    Model { definition: String },
}

impl Origin {
    /// Whether `later` is this source (or incremental model) with rows
    /// added since: the same whole landing, as many additions or more.
    pub fn extended_by(&self, later: &Origin) -> bool {
        matches!(
            (self, later),
            (Origin::Source { base: a, appends: x }, Origin::Source { base: b, appends: y })
                if a == b && y >= x
        )
    }
}

impl Meta {
    /// The record of a version that is this one plus added rows: its
    /// whole landing (or build) stays this one's, with one more addition.
    pub fn added_to(&self, next: Meta) -> Meta {
        let Origin::Source { base, appends } = self.source_origin() else {
            unreachable!("a source origin")
        };
        Meta {
            base,
            appends: appends + 1,
            ..next
        }
    }

    /// A source version's origin (or an incremental model's): its last
    /// whole landing or build, and the additions since.
    pub fn source_origin(&self) -> Origin {
        let base = match self.base.is_empty() {
            true => self.fingerprint.clone(),
            false => self.base.clone(),
        };
        Origin::Source {
            base,
            appends: self.appends,
        }
    }
}

/// A published view or ephemeral model: the SQL it is planned from,
/// stored as `_mart/views/<name>.json`. Readers plan this SQL, not the
/// file being edited.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewRecord {
    pub name: String,
    pub materialized: String,
    pub sql: String,
    pub schema: Schema,
    pub written_at_ms: u128,
    #[serde(flatten)]
    pub meta: Meta,
}

/// A file written aside; removed when dropped.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What taking the lock has to say, for the caller to show.
#[derive(Debug, Clone, Copy)]
pub enum LockNotice<'a> {
    /// Another run, described, holds the lock: waiting for it.
    Waiting(&'a str),
    /// The last holder, described, stopped before its end.
    Interrupted(&'a str),
}

impl std::fmt::Display for LockNotice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockNotice::Waiting(holder) => {
                write!(f, "waiting for {holder} to finish writing the warehouse...")
            }
            LockNotice::Interrupted(run) => write!(
                f,
                "note: {run} was interrupted; what it left unfinished is cleaned up"
            ),
        }
    }
}

/// The right to write a warehouse: one `land` or `build` at a time. It is
/// an advisory lock (`flock`) on `_mart/lock`, which the kernel releases
/// when the process ends, however it ends: a killed run never leaves the
/// warehouse locked. The file says who holds it, for those who wait.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Emptied on a clean exit: a lock file still naming a holder after
        // its process is gone tells the next run it was interrupted.
        let _ = self.file.set_len(0);
        // SAFETY: flock on a descriptor this struct owns.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A published version of a table.
#[derive(Debug, Clone)]
pub struct Version {
    /// The version's folder (the real one, not the symlink).
    pub dir: PathBuf,
    pub record: Record,
}

/// A version being written: its folder, not yet visible to readers.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    zone: Zone,
    name: String,
    id: String,
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    pub root: PathBuf,
}

impl Staging {
    pub fn zone(&self) -> Zone {
        self.zone
    }
}

impl Warehouse {
    pub fn new(root: PathBuf) -> Self {
        Warehouse { root }
    }

    fn link(&self, zone: Zone, name: &str) -> PathBuf {
        self.root.join(zone.dir()).join(name)
    }

    fn versions(&self, zone: Zone, name: &str) -> PathBuf {
        self.root
            .join("_mart")
            .join("data")
            .join(zone.dir())
            .join(name)
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("_mart").join("tmp")
    }

    /// The published version of a table, if there is one.
    pub fn current(&self, zone: Zone, name: &str) -> Result<Option<Version>> {
        let link = self.link(zone, name);
        let Ok(dir) = fs::canonicalize(&link) else {
            return Ok(None);
        };
        let path = dir.join(RECORD);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        // A schema of structs nests three JSON levels a level: a source of
        // 60 nested objects passed serde_json's limit of 128. What is written
        // here was landed or planned, so its depth is bounded.
        let mut reader = serde_json::Deserializer::from_str(&text);
        reader.disable_recursion_limit();
        let record = serde::Deserialize::deserialize(&mut reader).map_err(|e| {
            Error::failed(format!("the record `{}` is corrupt: {e}", path.display()))
        })?;
        Ok(Some(Version { dir, record }))
    }

    /// The names of the tables published in a zone, sorted.
    pub fn list(&self, zone: Zone) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join(zone.dir()))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Every published table, raw and built, at its current version.
    pub fn tables(&self) -> Result<Vec<(Zone, Version)>> {
        let mut tables = Vec::new();
        for zone in [Zone::Raw, Zone::Mart] {
            for name in self.list(zone) {
                if let Some(version) = self.current(zone, &name)? {
                    tables.push((zone, version));
                }
            }
        }
        Ok(tables)
    }

    /// What is published, in a line that changes with every publish: the
    /// tables' links and the views' records. Cheap (a read of each link),
    /// for readers that check before each query whether to look again.
    pub fn stamp(&self) -> String {
        let mut stamp = String::new();
        for zone in [Zone::Raw, Zone::Mart] {
            for name in self.list(zone) {
                let target = fs::read_link(self.link(zone, &name)).unwrap_or_default();
                stamp.push_str(&format!("{name}>{}\n", target.display()));
            }
        }
        for name in self.views() {
            let modified = fs::metadata(self.view_path(&name))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            stamp.push_str(&format!("{name}@{modified}\n"));
        }
        stamp
    }

    fn view_path(&self, name: &str) -> PathBuf {
        self.root
            .join("_mart")
            .join("views")
            .join(format!("{name}.json"))
    }

    /// The published definition of a view or ephemeral model, if any.
    pub fn view(&self, name: &str) -> Option<ViewRecord> {
        let text = fs::read_to_string(self.view_path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The names of the published views and ephemeral models, sorted.
    pub fn views(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join("_mart").join("views"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Publish a view's definition in one rename. A table of the same name
    /// (the model was one before) stops being served.
    pub fn publish_view(&self, record: &ViewRecord) -> Result<()> {
        write_json(&self.view_path(&record.name), record)?;
        if self.link(Zone::Mart, &record.name).is_symlink() {
            self.remove(Zone::Mart, &record.name)?;
        }
        Ok(())
    }

    /// Record that `version` passed the data tests of fingerprint `tested`:
    /// its record is replaced in one rename, its data untouched.
    pub fn set_tested(&self, version: &mut Version, tested: &str) -> Result<()> {
        version.record.meta.tested = tested.to_string();
        write_json(&version.dir.join(RECORD), &version.record)
    }

    /// The same for a published view.
    pub fn set_view_tested(&self, view: &mut ViewRecord, tested: &str) -> Result<()> {
        view.meta.tested = tested.to_string();
        write_json(&self.view_path(&view.name), view)
    }

    fn removed(&self) -> PathBuf {
        self.root.join("_mart").join("removed")
    }

    /// Stop serving a table or view: its link (or definition) goes, its
    /// versions are moved under `_mart/removed/`, whence `restore` brings
    /// them back. Returns whether there was anything to remove.
    pub fn remove(&self, zone: Zone, name: &str) -> Result<bool> {
        let stamp = now_ms();
        let into = self.removed().join(zone.dir());
        fs::create_dir_all(&into).map_err(|e| Error::io("create", &into, e))?;
        let versions = self.versions(zone, name);
        if versions.is_dir() {
            let to = into.join(format!("{name}.{stamp}"));
            fs::rename(&versions, &to).map_err(|e| Error::io("move", &versions, e))?;
        }
        let link = self.link(zone, name);
        let had = link.is_symlink();
        if had {
            fs::remove_file(&link).map_err(|e| Error::io("remove", &link, e))?;
        }
        Ok(had)
    }

    /// Stop serving a published view or ephemeral model (see `remove`).
    pub fn remove_view(&self, name: &str) -> Result<bool> {
        let path = self.view_path(name);
        if !path.is_file() {
            return Ok(false);
        }
        let into = self.removed().join("views");
        fs::create_dir_all(&into).map_err(|e| Error::io("create", &into, e))?;
        let to = into.join(format!("{name}.{}.json", now_ms()));
        fs::rename(&path, &to).map_err(|e| Error::io("move", &path, e))?;
        Ok(true)
    }

    /// Serve again the table or view `name` removed last (`raw.<name>` for
    /// a source). Returns what was restored: `table`, `source` or `view`.
    pub fn restore(&self, name: &str) -> Result<Option<&'static str>> {
        let (zone, name) = match name.strip_prefix("raw.") {
            Some(source) => (Zone::Raw, source),
            None => (Zone::Mart, name),
        };
        let newest = |dir: PathBuf, suffix: &str| {
            let prefix = format!("{name}.");
            let mut found: Vec<(u128, PathBuf)> = fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let file = e.file_name().into_string().ok()?;
                    let stamp = file.strip_prefix(&prefix)?.strip_suffix(suffix)?;
                    Some((stamp.parse().ok()?, e.path()))
                })
                .collect();
            found.sort();
            found.pop()
        };
        let table = newest(self.removed().join(zone.dir()), "");
        let view = match zone {
            Zone::Mart => newest(self.removed().join("views"), ".json"),
            Zone::Raw => None,
        };
        match (table, view) {
            (Some((t, dir)), v) if v.as_ref().is_none_or(|(s, _)| *s < t) => {
                let versions = self.versions(zone, name);
                if versions.exists() || self.link(zone, name).is_symlink() {
                    return Err(Error::usage(format!(
                        "`{name}` is served now: there is nothing to restore over it"
                    )));
                }
                let mut ids: Vec<String> = fs::read_dir(&dir)
                    .map_err(|e| Error::io("read", &dir, e))?
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                ids.sort();
                let Some(id) = ids.pop() else {
                    return Ok(None);
                };
                fs::create_dir_all(versions.parent().unwrap_or(Path::new(".")))
                    .map_err(|e| Error::io("create", &versions, e))?;
                fs::rename(&dir, &versions).map_err(|e| Error::io("move", &dir, e))?;
                self.relink(zone, name, &id)?;
                Ok(Some(match zone {
                    Zone::Raw => "source",
                    Zone::Mart => "table",
                }))
            }
            (_, Some((_, file))) => {
                let path = self.view_path(name);
                if path.exists() {
                    return Err(Error::usage(format!(
                        "`{name}` is served now: there is nothing to restore over it"
                    )));
                }
                fs::rename(&file, &path).map_err(|e| Error::io("move", &file, e))?;
                Ok(Some("view"))
            }
            _ => Ok(None),
        }
    }

    /// Delete what was removed more than `keep` ago.
    pub fn prune_removed(&self, keep: std::time::Duration) {
        let cutoff = now_ms().saturating_sub(keep.as_millis());
        for kind in ["raw", "mart", "views"] {
            let dir = self.removed().join(kind);
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                let stamp = file.trim_end_matches(".json").rsplit('.').next();
                if stamp
                    .and_then(|s| s.parse::<u128>().ok())
                    .is_some_and(|s| s < cutoff)
                {
                    let path = entry.path();
                    let _ = match path.is_dir() {
                        true => fs::remove_dir_all(&path),
                        false => fs::remove_file(&path),
                    };
                }
            }
        }
    }

    /// Take the writer lock for `command`. If another run holds it: wait
    /// for it (telling `notice`), or with `wait` false fail at once.
    pub fn lock(&self, command: &str, wait: bool, notice: &dyn Fn(LockNotice)) -> Result<Lock> {
        let dir = self.root.join("_mart");
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let path = dir.join("lock");
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let fd = file.as_raw_fd();
        // SAFETY: flock on a descriptor owned by `file`, alive throughout.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::io("lock", &path, err));
            }
            let holder = holder(&path);
            if !wait {
                return Err(Error::failed(format!(
                    "the warehouse `{}` is being written by {holder}",
                    self.root.display()
                ))
                .help("try again when it is done, or leave out --no-wait to wait for it"));
            }
            notice(LockNotice::Waiting(&holder));
            // SAFETY: as above; this call blocks until the holder is done.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                return Err(Error::io("lock", &path, std::io::Error::last_os_error()));
            }
        }
        let previous = fs::read_to_string(&path).unwrap_or_default();
        if !previous.trim().is_empty() {
            notice(LockNotice::Interrupted(&describe(&previous)));
        }
        let started = now_ms();
        let line = format!("{}\n{command}\n{started}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.write_all(line.as_bytes()))
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(Lock { file })
    }

    /// Remove what interrupted runs left: versions being written under
    /// `_mart/tmp/`, and new symlinks not yet renamed into place.
    pub fn clean_up(&self) -> Result<()> {
        let tmp = self.tmp();
        for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io("clean up", &path, e))?;
        }
        for zone in [Zone::Raw, Zone::Mart] {
            let dir = self.root.join(zone.dir());
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                if is_link && entry.file_name().to_string_lossy().starts_with('.') {
                    let path = entry.path();
                    fs::remove_file(&path).map_err(|e| Error::io("clean up", &path, e))?;
                }
            }
        }
        Ok(())
    }

    /// A file of `name`'s to write aside while its new version is staged;
    /// removed when dropped (and by `clean_up` after a crash).
    pub fn scratch(&self, name: &str) -> Result<Scratch> {
        let tmp = self.tmp();
        fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let id = crate::base::time::stamp();
        Ok(Scratch(tmp.join(format!(".scratch.{name}.{id}"))))
    }

    /// Start writing a new version of `name`.
    pub fn stage(&self, zone: Zone, name: &str) -> Result<Staging> {
        let id = crate::base::time::stamp();
        let dir = self.tmp().join(format!("{}.{name}.{id}", zone.dir()));
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(Staging {
            dir,
            zone,
            name: name.to_string(),
            id,
        })
    }

    /// Publish a completely written version: flush it, move it into place
    /// and switch the table's symlink to it in one rename.
    pub fn publish(&self, staging: Staging, record: &Record) -> Result<Version> {
        let Staging {
            dir,
            zone,
            name,
            id,
        } = staging;
        let json = serde_json::to_vec_pretty(record).map_err(|e| Error::failed(e.to_string()))?;
        let record_path = dir.join(RECORD);
        fs::write(&record_path, json).map_err(|e| Error::io("write", &record_path, e))?;
        sync_tree(&dir)?;

        let versions = self.versions(zone, &name);
        fs::create_dir_all(&versions).map_err(|e| Error::io("create", &versions, e))?;
        let target = versions.join(&id);
        fs::rename(&dir, &target).map_err(|e| Error::io("move into place", &target, e))?;
        sync_dir(&versions)?;

        self.relink(zone, &name, &id)?;
        if zone == Zone::Mart {
            // A view of the same name (the model was one before) is no longer served.
            self.remove_view(&name)?;
        }
        self.prune(zone, &name, &id);
        Ok(Version {
            dir: target,
            record: record.clone(),
        })
    }

    /// Point the table's link at version `id`, in one rename.
    fn relink(&self, zone: Zone, name: &str, id: &str) -> Result<()> {
        let zone_dir = self.root.join(zone.dir());
        fs::create_dir_all(&zone_dir).map_err(|e| Error::io("create", &zone_dir, e))?;
        let link = zone_dir.join(name);
        if let Ok(meta) = fs::symlink_metadata(&link)
            && !meta.file_type().is_symlink()
        {
            return Err(Error::failed(format!(
                "`{}` is not managed by mart (it is not a link to a version)",
                link.display()
            ))
            .help("move it out of the warehouse, then build again"));
        }
        // Relative, so that the warehouse can be moved or mounted elsewhere.
        let relative = Path::new("..")
            .join("_mart")
            .join("data")
            .join(zone.dir())
            .join(name)
            .join(id);
        let new_link = zone_dir.join(format!(".{name}.{id}"));
        std::os::unix::fs::symlink(&relative, &new_link)
            .map_err(|e| Error::io("create", &new_link, e))?;
        fs::rename(&new_link, &link).map_err(|e| Error::io("publish", &link, e))?;
        sync_dir(&zone_dir)
    }

    /// Delete the versions of `name` older than the current and the
    /// previous one, but those a reader leases.
    fn prune(&self, zone: Zone, name: &str, current: &str) {
        let Ok(_lock) = lease::flock(&self.root, true) else {
            return; // pruning can wait for the next publish
        };
        let leased = lease::leased(&self.root);
        // Leases name versions by their real path, as `current` finds them.
        let dir = self.versions(zone, name);
        let dir = fs::canonicalize(&dir).unwrap_or(dir);
        let mut ids: Vec<String> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| id != current)
            .collect();
        ids.sort();
        ids.pop(); // the newest older version stays for readers still on it
        for id in ids {
            let path = dir.join(id);
            if !leased.contains(&path) {
                let _ = fs::remove_dir_all(path);
            }
        }
    }
}

/// Who holds the lock at `path`, as its file says.
fn holder(path: &Path) -> String {
    describe(&fs::read_to_string(path).unwrap_or_default())
}

/// `` `mart build` (pid 42, since 2026-11-25T14:02:11.000Z) `` from a lock
/// file's lines: pid, command, start in ms.
fn describe(text: &str) -> String {
    let mut lines = text.lines();
    let (pid, command, started) = (lines.next(), lines.next(), lines.next());
    match (pid, command) {
        (Some(pid), Some(command)) => {
            let since = started
                .and_then(|s| s.parse::<u64>().ok())
                .map(|ms| rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(ms)))
                .map(|t| format!(", since {t}"))
                .unwrap_or_default();
            format!("`mart {command}` (pid {pid}{since})")
        }
        _ => "another `mart land` or `mart build`".into(),
    }
}

/// Flush every file and folder under `dir` to disk, so that what is
/// published survives a crash of the machine, not only of the process.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io("read", dir, e))? {
        let path = entry.map_err(|e| Error::io("read", dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("flush", &path, e))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("flush", dir, e))
}

impl Version {
    /// The version's Parquet files: each path, and where it lies in the
    /// version (its partition folders).
    pub fn parquet_files(&self) -> Result<Vec<(PathBuf, PathBuf)>> {
        let mut files = Vec::new();
        walk(&self.dir, &mut |p| {
            if p.extension().is_some_and(|e| e == "parquet") {
                let relative = p.strip_prefix(&self.dir).unwrap_or(p).to_path_buf();
                files.push((p.to_path_buf(), relative));
            }
        })?;
        Ok(files)
    }
}
