//! The terminal: output on stdout, diagnostics on stderr, and during `land`
//! and `build` on a terminal (unless `--quiet` or `NO_COLOR`) a live bar
//! under the lines with the count done and the tables in flight.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::base::error::{Error, Result};
use crate::run::report::{Printer, Progress};

pub struct Terminal {
    /// Whether a run may show the bar.
    live: bool,
    bar: Mutex<Option<ProgressBar>>,
    in_flight: Mutex<Vec<String>>,
}

impl Terminal {
    /// `live`: a run may show the bar, if stdout is a terminal and
    /// `NO_COLOR` is not set.
    pub fn new(live: bool) -> Terminal {
        let live =
            live && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Terminal {
            live,
            bar: Mutex::new(None),
            in_flight: Mutex::new(Vec::new()),
        }
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Write above the bar, if there is one.
    fn print<T>(&self, f: impl FnOnce() -> T) -> T {
        match self.bar() {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn set_in_flight(&self, bar: &ProgressBar, change: impl FnOnce(&mut Vec<String>)) {
        let mut names = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut names);
        let message = match names.is_empty() {
            true => String::new(),
            false => format!("running: {}", names.join(", ")),
        };
        bar.set_message(message);
    }
}

impl Printer for Terminal {
    fn out(&self, text: &str) -> Result<()> {
        self.print(|| std::io::stdout().lock().write_all(text.as_bytes()))
            .map_err(|e| Error::failed(format!("cannot write the output: {e}")))
    }

    fn err(&self, text: &str) {
        self.print(|| {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        });
    }

    fn progress(&self, event: Progress<'_>) {
        match event {
            Progress::Begin(total) if self.live => {
                let bar = ProgressBar::new(total as u64);
                let style =
                    ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed:>4}  {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.enable_steady_tick(Duration::from_millis(100));
                *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
            }
            Progress::Begin(_) => {}
            Progress::Started(name) => {
                if let Some(bar) = self.bar() {
                    self.set_in_flight(&bar, |names| names.push(name.to_string()));
                }
            }
            Progress::Done { name, counted } => {
                if let Some(bar) = self.bar() {
                    self.set_in_flight(&bar, |names| names.retain(|n| n != name));
                    if !counted {
                        bar.inc_length(1);
                    }
                    bar.inc(1);
                }
            }
            Progress::End => {
                if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
