//! `mart query`'s interactive prompt, with line editing and history.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use crate::cmd::query::{self, Format};
use crate::engine::Engine;
use crate::run::report::Printer;

/// The interactive prompt: statements end with `;`; `\q` quits, `\d` lists tables.
pub async fn repl(engine: &Engine, format: Format, printer: &dyn Printer) {
    use rustyline::error::ReadlineError;
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        eprintln!("error: cannot start the interactive prompt");
        return;
    };
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mart_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "mart query: SQL over raw.* and the models. End statements with `;`, \\d lists tables, \\q quits."
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "mart> "
        } else {
            "  ... "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
                    break;
                }
                let statement = if buffer.is_empty() && trimmed == "\\d" {
                    query::LIST_TABLES.to_string()
                } else {
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if !trimmed.ends_with(';') {
                        continue;
                    }
                    std::mem::take(&mut buffer)
                };
                let _ = editor.add_history_entry(if trimmed == "\\d" {
                    trimmed
                } else {
                    statement.trim()
                });
                let origin = Path::new("<query>");
                if let Err(e) = query::run(
                    engine,
                    &statement,
                    origin,
                    query::To::Printer(format),
                    printer,
                )
                .await
                {
                    eprint!("{e}");
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
}
