//! Files: reading the project's, walking folders, writing in one rename.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::base::error::{Error, Result};

/// The largest YAML or SQL file read: anything bigger is data, not a project.
const MAX_FILE: u64 = 16 << 20;

/// Read a project file (`shown` as the user knows it): UTF-8, and not huge.
pub fn read_text(path: &Path, shown: &Path) -> Result<String> {
    let err = |what: String| Error::usage(format!("cannot read `{}`: {what}", shown.display()));
    let meta = fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        // A pipe would block the read, a device like /dev/zero never end it.
        return Err(err("it is not a regular file".into()));
    }
    let size = meta.len();
    if size > MAX_FILE {
        return Err(err(format!(
            "it is {} MiB, and project files are at most {} MiB",
            size >> 20,
            MAX_FILE >> 20
        ))
        .help("keep data out of marts/ and sql/: declare it as a source"));
    }
    fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            err("it is not UTF-8 text".into()).help("save the file as UTF-8")
        }
        _ => err(e.to_string()),
    })
}

/// Show `rel` (relative to the project) the way the user can open it.
pub fn display_path(root: &Path, rel: &Path) -> PathBuf {
    if root == Path::new(".") || root.as_os_str().is_empty() {
        rel.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Call `f` on every file under `dir`, recursively, in no particular order.
/// Links to folders are followed, but one leading back to a folder it is
/// in is an error (it would list the same files without end).
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<()> {
    let real = fs::canonicalize(dir).map_err(|e| Error::io("read folder", dir, e))?;
    walk_in(dir, &mut vec![real], f)
}

fn walk_in(dir: &Path, ancestors: &mut Vec<PathBuf>, f: &mut dyn FnMut(&Path)) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("read folder", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read folder", dir, e))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io("read", &path, e))?;
        if ty.is_dir() {
            let real = ancestors.last().map(|p| p.join(entry.file_name()));
            ancestors.extend(real);
            walk_in(&path, ancestors, f)?;
            ancestors.pop();
        } else if ty.is_symlink() && path.is_dir() {
            let real = fs::canonicalize(&path).map_err(|e| Error::io("read folder", &path, e))?;
            if ancestors.iter().any(|a| a.starts_with(&real)) {
                return Err(Error::usage(format!(
                    "the folder link `{}` leads back to `{}`, a folder it is in, so its files would be listed without end",
                    path.strip_prefix(".").unwrap_or(&path).display(),
                    real.display()
                ))
                .help("remove the link, or point it at a folder outside the one it is in"));
            }
            ancestors.push(real);
            walk_in(&path, ancestors, f)?;
            ancestors.pop();
        } else {
            f(&path);
        }
    }
    Ok(())
}

/// Replace `path` with `bytes` in one rename, creating its folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", crate::base::time::stamp()));
    fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("write", path, e))
}

/// Replace `path` with `value` as JSON, in one rename.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| Error::failed(e.to_string()))?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// The total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
