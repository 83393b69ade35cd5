//! What `land` and `build` print as they go: one line per table as it
//! finishes (stdout), errors in full (stderr), a summary at the end, and on
//! a terminal a live progress bar naming the tables in flight.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::base::error::Error;

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

/// Prints a run as it goes. On a terminal (and unless `--quiet` or
/// `NO_COLOR`), a bar under the lines shows the count done and the tables in
/// flight; otherwise, plain lines only, for logs.
pub struct Reporter {
    bar: Option<ProgressBar>,
    state: Mutex<(Summary, Vec<String>)>,
}

impl Reporter {
    pub fn new(total: usize, live: bool) -> Reporter {
        let live =
            live && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let bar = live.then(|| {
            let bar = ProgressBar::new(total as u64);
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed:>4}  {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Reporter {
            bar,
            state: Mutex::new((Summary::default(), Vec::new())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Summary, Vec<String>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Print above the bar, if there is one.
    fn print(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn set_in_flight(&self, names: &[String]) {
        if let Some(bar) = &self.bar {
            let message = if names.is_empty() {
                String::new()
            } else {
                format!("running: {}", names.join(", "))
            };
            bar.set_message(message);
        }
    }

    pub fn started(&self, name: &str) {
        let mut state = self.state();
        state.1.push(name.to_string());
        self.set_in_flight(&state.1);
    }

    fn done(&self, status: Status, name: &str) {
        let mut state = self.state();
        state.0.add(status);
        state.1.retain(|n| n != name);
        self.set_in_flight(&state.1);
        if let Some(bar) = &self.bar {
            if status == Status::Removed {
                bar.inc_length(1); // not among the tables the run counted on
            }
            bar.inc(1);
        }
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
        self.print(|| println!("{text}"));
        self.done(status, name);
    }

    /// A table failed: its line, then the error in full on stderr.
    pub fn failed(&self, kind: &str, name: &str, elapsed: Duration, err: &Error) {
        let text = line(Status::Failed, kind, name, "", Some(elapsed));
        self.print(|| {
            println!("{text}");
            eprint!("{err}");
        });
        self.done(Status::Failed, name);
    }

    /// Data tests ran: count them (passed, warned, failed) for the summary.
    pub fn tested(&self, (passed, warned, failed): (usize, usize, usize)) {
        let tests = &mut self.state().0.tests;
        tests.passed += passed;
        tests.warned += warned;
        tests.failed += failed;
    }

    pub fn warn(&self, message: &str) {
        self.print(|| eprintln!("warning: {message}"));
    }

    /// Clear the bar and return the counts.
    pub fn finish(&self) -> Summary {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        std::mem::take(&mut self.state().0)
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

pub fn rows(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n == 1 {
        format!("{out} row")
    } else {
        format!("{out} rows")
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
    /// `24 tests passed, 1 warned, 2 failed` (empty when none ran).
    fn describe(&self) -> Option<String> {
        let total = self.passed + self.warned + self.failed;
        if total == 0 {
            return None;
        }
        let mut out = format!(
            "{} {} passed",
            self.passed,
            if total == 1 { "test" } else { "tests" }
        );
        for (n, word) in [(self.warned, "warned"), (self.failed, "failed")] {
            if n > 0 {
                out.push_str(&format!(", {n} {word}"));
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

    pub fn print(&self, elapsed: Duration) {
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
            .map(|(n, w)| format!("{n} {w}"))
            .chain(self.tests.describe())
            .collect();
        let parts = if parts.is_empty() {
            "nothing to do".to_string()
        } else {
            parts.join(", ")
        };
        println!("{outcome} in {:.2}s: {parts}.", elapsed.as_secs_f64());
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
