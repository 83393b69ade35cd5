//! Leases: the versions a long-lived reader (`mart serve`) is still
//! reading, which publishing must not prune.
//!
//! ```text
//! warehouse/_mart/leases/<pid>.json   the version folders process <pid> reads
//! warehouse/_mart/leases/.lock        shared by readers taking a lease,
//!                                     exclusive while a publish prunes
//! ```
//!
//! A reader reads the tables' links and writes its lease under the shared
//! lock; a publish reads the leases and deletes old versions under the
//! exclusive one. So either the lease is written before the publish looks
//! (and protects its versions), or the reader read the links after the
//! publish relinked them (and reads versions the publish keeps).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::base::error::{Error, Result};
use crate::base::fs::write_atomic;

fn dir(root: &Path) -> PathBuf {
    root.join("_mart").join("leases")
}

/// A `flock` held until dropped.
pub struct Flock {
    _file: File,
}

/// Take the leases' lock, shared (a reader taking a lease) or exclusive
/// (a publish pruning). Blocks: both sides hold it for milliseconds.
pub fn flock(root: &Path, exclusive: bool) -> Result<Flock> {
    let dir = dir(root);
    fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let mode = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on a descriptor owned by `file`, alive as long as the guard.
    if unsafe { libc::flock(file.as_raw_fd(), mode) } != 0 {
        return Err(Error::io("lock", &path, std::io::Error::last_os_error()));
    }
    Ok(Flock { _file: file })
}

/// The version folders leased by live processes. Leases of processes that
/// are gone are removed.
pub fn leased(root: &Path) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for entry in fs::read_dir(dir(root)).into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(pid) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        let held: Vec<PathBuf> = serde_json::from_str(&text).unwrap_or_default();
        dirs.extend(held);
    }
    dirs
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This process's leases: each holder (a snapshot of the warehouse) leases
/// a set of version folders until it releases them; the file lists their
/// union.
pub struct Leases {
    root: PathBuf,
    held: Mutex<(u64, BTreeMap<u64, Vec<PathBuf>>)>,
}

impl Leases {
    pub fn new(root: &Path) -> Leases {
        Leases {
            root: root.to_path_buf(),
            held: Mutex::new((0, BTreeMap::new())),
        }
    }

    fn file(&self) -> PathBuf {
        dir(&self.root).join(format!("{}.json", std::process::id()))
    }

    /// Lease `dirs`; call under `flock(root, false)`. Returns the lease's id.
    pub fn hold(&self, dirs: Vec<PathBuf>) -> Result<u64> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 += 1;
        let id = held.0;
        held.1.insert(id, dirs);
        self.write(&held.1)?;
        Ok(id)
    }

    /// Give a lease back: its versions may be pruned from now on.
    pub fn release(&self, id: u64) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.1.remove(&id);
        // If it cannot be written, the versions stay leased until it can.
        let _ = self.write(&held.1);
    }

    fn write(&self, held: &BTreeMap<u64, Vec<PathBuf>>) -> Result<()> {
        let all: BTreeSet<&PathBuf> = held.values().flatten().collect();
        let text = serde_json::to_string(&all).map_err(|e| Error::failed(e.to_string()))?;
        write_atomic(&self.file(), text.as_bytes())
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.file());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_listed_while_held_and_gone_when_released_or_dead() {
        let dir = tempfile::tempdir().expect("temp dir");
        let leases = Leases::new(dir.path());
        let a = leases.hold(vec![PathBuf::from("/v/1")]).expect("hold");
        let b = leases.hold(vec![PathBuf::from("/v/2")]).expect("hold");
        assert_eq!(leased(dir.path()).len(), 2);
        leases.release(a);
        assert_eq!(
            leased(dir.path()).into_iter().collect::<Vec<_>>(),
            vec![PathBuf::from("/v/2")]
        );
        leases.release(b);
        assert!(leased(dir.path()).is_empty());
        // A lease left by a process that is gone counts for nothing.
        let stale = super::dir(dir.path()).join("999999999.json");
        fs::write(&stale, r#"["/v/3"]"#).expect("write");
        assert!(leased(dir.path()).is_empty());
        assert!(!stale.exists());
    }
}
