use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mart::run(mart::cli::Cli::parse())
}
