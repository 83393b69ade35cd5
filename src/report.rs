//! The lines `land` and `build` print as they go, one per table, and the
//! summary at the end. Errors go to stderr in full; these lines to stdout.

use std::time::Duration;

/// How a table fared in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Landed,
    Built,
    UpToDate,
    Failed,
    Skipped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Landed => "landed",
            Status::Built => "built",
            Status::UpToDate => "up to date",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        }
    }
}

/// Print one finished table: `built       table      daily_revenue     1,204 rows   0.05s`.
pub fn line(status: Status, kind: &str, name: &str, detail: &str, elapsed: Option<Duration>) {
    let time = elapsed
        .map(|d| format!("{:>7.2}s", d.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{:<10}  {:<9}  {:<28} {:>16} {time}",
        status.word(),
        kind,
        name,
        detail
    );
}

pub fn rows(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
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
}

impl Summary {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Landed => self.landed += 1,
            Status::Built => self.built += 1,
            Status::UpToDate => self.up_to_date += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
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
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
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
