use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of the output goes
    // away (`mart query ... | head`) instead of panicking on a closed pipe.
    // Tables are published atomically, so stopping mid-build is safe.
    // SAFETY: setting a signal's disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // A write past a file-size limit (`ulimit -f`) then fails with an
        // error that names the table, instead of killing the process.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    mart::run(mart::cli::Cli::parse())
}
