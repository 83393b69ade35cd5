//! The README's quick start, run as written: each command of its console
//! blocks in order, from a fresh folder, its output compared line by line
//! with the one shown (times aside). A `sql file=PATH` block is saved while
//! the `--watch` command that follows it runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestProject, path_with_mart, repo_root};
use crate::watch::Watch;

enum Block {
    /// Commands, each with the output shown for it.
    Console(Vec<(String, Vec<String>)>),
    /// A file saved, by its path in the project.
    File(String, String),
}

/// The blocks of the README's quick start, in order.
fn quick_start() -> Vec<Block> {
    let readme = fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme.find("\n## Quick start\n").expect("a quick start");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        if info == "console" {
            let mut commands: Vec<(String, Vec<String>)> = Vec::new();
            for l in body {
                match (l.strip_prefix("$ "), commands.last_mut()) {
                    (Some(command), _) => commands.push((command.to_string(), Vec::new())),
                    (None, Some((_, output))) => output.push(l.to_string()),
                    (None, None) => panic!("output before a command: {l}"),
                }
            }
            blocks.push(Block::Console(commands));
        } else if let Some(path) = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
        {
            blocks.push(Block::File(path.to_string(), body.join("\n") + "\n"));
        }
    }
    blocks
}

/// A line as compared: times (`0.01s`) as `T`, no trailing spaces.
fn normal(lines: &[String]) -> Vec<String> {
    let time = regex::Regex::new(r"\b\d+\.\d+s\b").unwrap();
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| time.replace_all(l, "T").trim_end().to_string())
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// `command` (a shell line starting with `mart`) run in `dir`, stdout and
/// stderr together.
fn shell(dir: &Path, command: &str) -> Vec<String> {
    let output = Command::new("sh")
        .args(["-c", &format!("{command} 2>&1")])
        .current_dir(dir)
        .env("PATH", path_with_mart())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "`{command}` failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_quick_start_runs_as_written() {
    let p = TestProject::empty();
    let mut dir: PathBuf = p.path().to_path_buf();
    let mut saves: Vec<(String, String)> = Vec::new();
    let mut ran = 0;
    for block in quick_start() {
        let commands = match block {
            Block::File(path, text) => {
                saves.push((path, text));
                continue;
            }
            Block::Console(commands) => commands,
        };
        for (command, shown) in commands {
            ran += 1;
            if let Some(to) = command.strip_prefix("cd ") {
                dir = dir.join(to);
                continue;
            }
            let output = match command.strip_prefix("mart ") {
                Some(args) if args.contains("--watch") => {
                    let args: Vec<&str> = args.split_whitespace().collect();
                    let mut w = Watch::start(&dir, &args);
                    let mut text = w.run();
                    for (path, content) in saves.drain(..) {
                        fs::write(dir.join(path), content).unwrap();
                    }
                    text += &w.run();
                    assert_eq!(w.stop(), 0);
                    text.lines().map(String::from).collect()
                }
                _ => shell(&dir, &command),
            };
            assert_eq!(normal(&output), normal(&shown), "the output of `{command}`");
        }
    }
    assert!(saves.is_empty(), "a file block no watch saw");
    assert!(ran >= 6, "{ran} commands");
}
