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
    // A panic is a bug in mart or a library it uses, never the user's doing:
    // after the usual report (where, and the backtrace if asked), say so.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!(
            "error: internal error (the panic above): a bug in mart or in DataFusion, not in your project\n\
             help: please report it with the command and the SQL or YAML it ran on; \
             tables are published whole, so the warehouse holds no partial table"
        );
    }));
    let cli = mart::cli::args::Cli::parse();
    // Planning recurses over the query's tree: room beyond a main thread's
    // 8 MiB, so that what `mart::sql` lets through (1,000 deep) plans with a
    // wide margin. The memory is only reserved, not used.
    std::thread::Builder::new()
        .name("main".into())
        .stack_size(64 << 20)
        .spawn(move || mart::cli::run(cli))
        .map(|thread| thread.join().unwrap_or(ExitCode::from(101)))
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start: {e}");
            ExitCode::from(1)
        })
}
