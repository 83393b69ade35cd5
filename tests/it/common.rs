//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A project in a temporary directory.
pub struct TestProject {
    dir: tempfile::TempDir,
}

/// What a run of `mart` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, fragment: &str) -> &Self {
        assert!(
            self.stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, fragment: &str) -> &Self {
        assert!(
            self.stdout.contains(fragment),
            "stdout lacks {fragment:?}:\n{}",
            self.stdout
        );
        self
    }

    /// The status line printed for `name` (e.g. "built  table  base ...").
    #[track_caller]
    pub fn line_for(&self, name: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", self.stdout))
    }

    /// The position of `name`'s status line among the printed lines.
    pub fn position(&self, name: &str) -> usize {
        self.stdout
            .lines()
            .position(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", self.stdout))
    }
}

/// `PATH` with the `mart` under test first, for scripts that call `mart`.
pub fn path_with_mart() -> String {
    let bin = assert_cmd::cargo::cargo_bin("mart");
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", bin.parent().unwrap().display())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl TestProject {
    /// A copy of `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> TestProject {
        let p = TestProject::empty();
        copy_dir(&repo_root().join("tests/fixtures").join(name), p.path());
        p
    }

    /// A copy of the example mart at the repository's root.
    pub fn example() -> TestProject {
        let p = TestProject::empty();
        for dir in ["marts", "sql", "seeds"] {
            copy_dir(&repo_root().join(dir), &p.path().join(dir));
        }
        p
    }

    pub fn empty() -> TestProject {
        TestProject {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn warehouse(&self) -> PathBuf {
        self.path().join("warehouse")
    }

    /// Write a file of the project, creating its folders.
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        self
    }

    /// Run `mart` in the project directory.
    pub fn mart(&self, args: &[&str]) -> Run {
        self.mart_with_stdin(args, "")
    }

    pub fn mart_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.mart_in(args, stdin, &[])
    }

    /// Run `mart` with variables added to the environment.
    pub fn mart_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.mart_in(args, "", env)
    }

    fn mart_in(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        let output = assert_cmd::Command::cargo_bin("mart")
            .unwrap()
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .write_stdin(stdin)
            .output()
            .unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "mart panicked:\n{}",
            run.stderr
        );
        // A stack overflow aborts without a panic.
        assert!(
            output.status.code().is_some(),
            "mart was killed by a signal ({:?}):\n{}",
            output.status,
            run.stderr
        );
        run
    }

    /// `mart query --format csv`, as lines.
    pub fn query_csv(&self, sql: &str) -> Vec<String> {
        let run = self.mart(&["query", "--format", "csv", sql]);
        run.success();
        run.stdout.lines().map(str::to_string).collect()
    }

    /// The rows of `table` in the warehouse at `warehouse` (relative to the
    /// project), as CSV lines, sorted: equal for equal tables.
    pub fn sorted_rows(&self, warehouse: &str, table: &str) -> Vec<String> {
        let run = self.mart(&[
            "--warehouse",
            warehouse,
            "query",
            "--format",
            "csv",
            &format!("select * from {table}"),
        ]);
        run.success();
        let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        lines.sort();
        lines
    }

    /// Every file under the warehouse with its bytes, and every link with its
    /// target: equal snapshots mean an untouched warehouse.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        snapshot_into(&self.warehouse(), &self.warehouse(), &mut out);
        out
    }
}

fn snapshot_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ty = entry.file_type().unwrap();
        if ty.is_symlink() {
            out.insert(
                rel,
                fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes(),
            );
        } else if ty.is_dir() {
            out.insert(rel.clone() + "/", Vec::new());
            snapshot_into(root, &path, out);
        } else {
            out.insert(rel, fs::read(&path).unwrap());
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The Parquet files under `dir` (through the table's symlink), sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Read a Parquet file with the `parquet` crate alone, as an outside tool would.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A small deterministic generator, so that a failing sequence can be replayed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
