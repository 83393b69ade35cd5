//! The command line: the only layer that knows clap and the terminal. It
//! parses flags ([`args`]), resolves settings once ([`settings`]), opens the
//! workspace, runs the command, prints through the [`terminal`] and turns
//! the outcome into an exit status.

pub mod args;
mod completions;
mod repl;
pub mod settings;
pub mod terminal;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::base::error::{Error, Result};
use crate::cmd::watch::Job;
use crate::cmd::{self, ExitStatus};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use crate::spec::project::Config;
use args::{Cli, Command, QueryArgs};
use terminal::Terminal;

/// Run a parsed command line to its exit status: 0 when all went well, 1
/// when something it ran failed, 2 for bad flags, project or query.
pub fn run(cli: Cli) -> ExitCode {
    let live = !matches!(&cli.command, Command::Build(args) if args.quiet);
    let terminal = Arc::new(Terminal::new(live));
    let printer: Arc<dyn Printer> = terminal;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Room for recursion over deep plans: a main thread's usual 8 MiB
        // (tokio's default of 2 MiB overflowed on 3,000 chained `+`).
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.err(&Error::failed(format!("cannot start the runtime: {e}")).to_string());
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(&cli, &printer)) {
        Ok(ExitStatus::Success) => ExitCode::SUCCESS,
        Ok(ExitStatus::Failure) => ExitCode::from(1),
        Err(err) => {
            printer.err(&err.to_string());
            err.exit_code()
        }
    }
}

async fn dispatch(cli: &Cli, printer: &Arc<dyn Printer>) -> Result<ExitStatus> {
    let global = &cli.global;
    let dirs = settings::dirs(global);
    let engine = |config: &Config| settings::engine(global, config);
    let open = || Workspace::open(&dirs, engine);
    match &cli.command {
        Command::Land {
            names,
            no_wait,
            full_refresh,
        } => {
            // Landing does not need the models' dependencies.
            let (ws, _) = Workspace::open_lenient(&dirs, engine)?;
            cmd::land::run(&ws, names, !no_wait, *full_refresh, printer).await
        }
        Command::Build(args) if args.watch => {
            let job = Job::Build(settings::build(args));
            cmd::watch::run(&dirs, open, job, printer).await
        }
        Command::Build(args) => cmd::build::run(&open()?, &settings::build(args), printer).await,
        Command::Test(args) => {
            let (selector, format) = (args.selection.selector(), args.format.into());
            match args.watch {
                true => cmd::watch::run(&dirs, open, Job::Test(selector, format), printer).await,
                false => cmd::test::run(&open()?, &selector, format, printer).await,
            }
        }
        Command::Ls(args) => {
            let (selector, format) = (args.selection.selector(), args.format.into());
            match args.resource_type {
                args::Resource::Model => {
                    cmd::ls::run(&open()?, &selector, format, printer.as_ref())
                }
                args::Resource::Test => {
                    cmd::ls::tests(&open()?, &selector, format, printer.as_ref())
                }
            }
        }
        Command::Graph(args) => {
            let (selector, format) = (args.selection.selector(), args.format.into());
            cmd::graph::run(&open()?, &selector, format, printer.as_ref())
        }
        Command::Lineage(args) => {
            let format = args.format.into();
            let (column, downstream) = (&args.column, args.downstream);
            cmd::lineage::run(&open()?, column, downstream, format, printer.as_ref()).await
        }
        Command::Docs(args) => {
            cmd::docs::run(&open()?, args.output.as_deref(), printer.as_ref()).await
        }
        Command::Query(args) => {
            let (ws, dag_error) = Workspace::open_lenient(&dirs, engine)?;
            query(&ws, dag_error, args, printer.as_ref()).await
        }
        Command::Show { model, limit, sql } => {
            cmd::show::run(&open()?, model, *limit, *sql, printer.as_ref()).await
        }
        Command::Serve(args) => {
            let (ws, dag_error) = Workspace::open_lenient(&dirs, engine)?;
            if let Some(e) = dag_error {
                printer.warn(&format!("views may be missing: {}", e.message));
            }
            let options = settings::serve(
                args,
                &ws.project.config,
                settings::engine(global, &ws.project.config).memory_limit,
            )?;
            cmd::serve::run(&ws, options, printer).await
        }
        Command::Completions { shell } => {
            printer.out(&completions::script(*shell))?;
            Ok(ExitStatus::Success)
        }
        Command::Schema => {
            printer.out(&crate::spec::project::json_schema())?;
            Ok(ExitStatus::Success)
        }
        Command::Init { dir } => {
            let dir = dir.clone().unwrap_or_else(|| dirs.project.clone());
            cmd::init::run(&dir, printer.as_ref())
        }
        Command::Restore { name, no_wait } => {
            let warehouse = crate::storage::warehouse::Warehouse::new(dirs.warehouse.clone());
            cmd::restore::run(&warehouse, name, !no_wait, printer.as_ref())
        }
    }
}

/// `mart query`: the SQL from the argument, a file, standard input, or
/// an interactive prompt on a terminal.
async fn query(
    ws: &Workspace,
    dag_error: Option<Error>,
    args: &QueryArgs,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    if let Some(e) = dag_error {
        printer.warn(&format!(
            "views and ephemeral models are not available: {}",
            e.message
        ));
    }
    let engine = ws.reader().await?;
    let format: Option<cmd::query::Format> = args.format.map(Into::into);
    let shown = format.unwrap_or(cmd::query::Format::Table);
    let (text, origin) = match (&args.sql, &args.file) {
        (Some(sql), _) => (sql.clone(), PathBuf::from("<query>")),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
            (text, file.clone())
        }
        (None, None) if std::io::stdin().is_terminal() => {
            if args.output.is_some() {
                return Err(Error::usage(
                    "-o needs the SQL as an argument, with -f, or on standard input",
                ));
            }
            repl::repl(&engine, shown, printer).await;
            return Ok(ExitStatus::Success);
        }
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::failed(format!("cannot read standard input: {e}")))?;
            (cmd::query::prompt_commands(&text), PathBuf::from("<stdin>"))
        }
    };
    let output = args.output.as_deref();
    let to = match output {
        Some(path) => cmd::query::To::File(path, format),
        None => cmd::query::To::Printer(shown),
    };
    cmd::query::run(&engine, &text, &origin, to, printer).await?;
    Ok(ExitStatus::Success)
}
