//! What commands print, and how: the `Printer` they print through, and
//! what `land` and `build` say as they go: one line per table as it
//! finishes (stdout), errors in full (stderr), a summary at the end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::storage::warehouse::LockNotice;

/// How a table fared in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Landed,
    Built,
    UpToDate,
    Failed,
    Skipped,
    /// No longer in the project, so no longer served.
    Removed,
}

impl Status {
    /// The status in machine-readable output.
    pub fn key(self) -> &'static str {
        match self {
            Status::Landed => "landed",
            Status::Built => "built",
            Status::UpToDate => "up_to_date",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Removed => "removed",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Status::Landed => "landed",
            Status::Built => "built",
            Status::UpToDate => "up to date",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Removed => "removed",
        }
    }
}

/// Where a command's output goes: the terminal (`cli`), or anything else
/// that shows it (a test's buffer, a server's log). Commands and the run
/// layer print only through it.
pub trait Printer: Send + Sync {
    /// Write `text` to the command's output (stdout), as it is.
    fn out(&self, text: &str) -> Result<()>;
    /// Write `text` to the diagnostics (stderr): warnings and errors.
    fn err(&self, text: &str);
    /// What a run is doing, for a live display; ignored by default.
    fn progress(&self, _event: Progress<'_>) {}

    /// A line of output.
    fn line(&self, text: &str) -> Result<()> {
        self.out(&format!("{text}\n"))
    }

    fn warn(&self, message: &str) {
        self.err(&format!("warning: {message}\n"));
    }

    /// Say what taking the warehouse's lock met.
    fn lock_notice(&self, notice: LockNotice) {
        self.err(&format!("{notice}\n"));
    }
}

/// What a run of `land` or `build` is doing.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// It will land or build this many tables.
    Begin(usize),
    /// A table started.
    Started(&'a str),
    /// A table is done; `counted` is false for one the run did not count
    /// on at the start (a table removed from the project).
    Done { name: &'a str, counted: bool },
    /// The run is over.
    End,
}

/// Reports a run as it goes: one line per table as it finishes, errors in
/// full, the count of each outcome for the summary.
pub struct Reporter {
    printer: Arc<dyn Printer>,
    summary: Mutex<Summary>,
}

impl Reporter {
    pub fn new(printer: Arc<dyn Printer>) -> Reporter {
        Reporter {
            printer,
            summary: Mutex::new(Summary::default()),
        }
    }

    pub fn printer(&self) -> &dyn Printer {
        self.printer.as_ref()
    }

    /// The run will land or build `total` tables.
    pub fn begin(&self, total: usize) {
        self.printer.progress(Progress::Begin(total));
    }

    fn summary(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn started(&self, name: &str) {
        self.printer.progress(Progress::Started(name));
    }

    fn done(&self, status: Status, name: &str) {
        self.summary().add(status);
        let counted = status != Status::Removed;
        self.printer.progress(Progress::Done { name, counted });
    }

    /// A table finished: `built       table      daily_revenue     1,204 rows   0.05s`,
    /// and a note in parentheses after it, if any.
    pub fn finished(
        &self,
        status: Status,
        kind: &str,
        name: &str,
        detail: &str,
        elapsed: Option<Duration>,
        note: Option<&str>,
    ) {
        let mut text = line(status, kind, name, detail, elapsed);
        if let Some(note) = note {
            text = format!("{}  ({note})", text.trim_end());
        }
        // A run's lines are a log: one that cannot be written is not a
        // reason to stop building.
        let _ = self.printer.line(&text);
        self.done(status, name);
    }

    /// A table failed: its line, then the error in full on stderr.
    pub fn failed(&self, kind: &str, name: &str, elapsed: Duration, err: &Error) {
        let text = line(Status::Failed, kind, name, "", Some(elapsed));
        let _ = self.printer.line(&text);
        self.printer.err(&err.to_string());
        self.done(Status::Failed, name);
    }

    /// Data tests ran: count them (passed, warned, failed) for the summary.
    pub fn tested(&self, counts: TestCounts) {
        self.summary().tests.add(counts);
    }

    pub fn warn(&self, message: &str) {
        self.printer.warn(message);
    }

    /// A data test's outcome worth seeing though it does not stop the run
    /// (a warning test's failing rows), as `mart test` prints it.
    pub fn outcome(&self, rendered: &str) {
        self.printer.err(&format!("{}\n", rendered.trim_end()));
    }

    /// End the live display and return the counts.
    pub fn finish(&self) -> Summary {
        self.printer.progress(Progress::End);
        std::mem::take(&mut *self.summary())
    }
}

fn line(status: Status, kind: &str, name: &str, detail: &str, elapsed: Option<Duration>) -> String {
    let time = elapsed
        .map(|d| format!("{:>7.2}s", d.as_secs_f64()))
        .unwrap_or_default();
    format!(
        "{:<10}  {:<11}  {:<28} {:>16} {time}",
        status.word(),
        kind,
        name,
        detail
    )
}

/// `n` with thousands separators: `1,300`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rows(n: u64) -> String {
    match n {
        1 => "1 row".to_string(),
        _ => format!("{} rows", count(n)),
    }
}

/// Counts of a finished run, printed as its last line.
#[derive(Debug, Default)]
pub struct Summary {
    pub landed: usize,
    pub built: usize,
    pub up_to_date: usize,
    pub failed: usize,
    pub skipped: usize,
    pub removed: usize,
    pub tests: TestCounts,
}

/// How the data tests run fared.
#[derive(Debug, Default)]
pub struct TestCounts {
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
}

impl TestCounts {
    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.warned += other.warned;
        self.failed += other.failed;
    }

    /// `24 tests passed, 1 warned, 2 failed` (empty when none ran).
    fn describe(&self) -> Option<String> {
        let total = self.passed + self.warned + self.failed;
        if total == 0 {
            return None;
        }
        let mut out = format!(
            "{} {} passed",
            count(self.passed as u64),
            if total == 1 { "test" } else { "tests" }
        );
        for (n, word) in [(self.warned, "warned"), (self.failed, "failed")] {
            if n > 0 {
                out.push_str(&format!(", {} {word}", count(n as u64)));
            }
        }
        Some(out)
    }
}

impl Summary {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Landed => self.landed += 1,
            Status::Built => self.built += 1,
            Status::UpToDate => self.up_to_date += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Removed => self.removed += 1,
        }
    }

    /// `Done in 0.42s: 3 landed, 9 built, 20 tests passed.`
    pub fn describe(&self, elapsed: Duration) -> String {
        let outcome = if self.failed > 0 {
            "Finished with errors"
        } else {
            "Done"
        };
        let counts = [
            (self.landed, "landed"),
            (self.built, "built"),
            (self.up_to_date, "up to date"),
            (self.failed, "failed"),
            (self.skipped, "skipped"),
            (self.removed, "removed"),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{} {w}", count(*n as u64)))
            .chain(self.tests.describe())
            .collect();
        let parts = if parts.is_empty() {
            "nothing to do".to_string()
        } else {
            parts.join(", ")
        };
        format!("{outcome} in {:.2}s: {parts}.", elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::rows(0), "0 rows");
        assert_eq!(super::rows(1234567), "1,234,567 rows");
        assert_eq!(super::rows(123), "123 rows");
        assert_eq!(super::rows(1), "1 row");
    }
}
