//! `mart restore NAME`: serve again a table, source or view that a build
//! removed because the project no longer declared it.

use crate::base::error::{Error, Result};
use crate::cmd::ExitStatus;
use crate::run::report::Printer;
use crate::storage::warehouse::{KEEP_REMOVED, Warehouse};

pub fn run(
    warehouse: &Warehouse,
    name: &str,
    wait: bool,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let _lock = warehouse.lock("restore", wait, &|n| printer.lock_notice(n))?;
    let name = name.to_ascii_lowercase();
    match warehouse.restore(&name)? {
        Some(kind) => {
            printer.line(&format!("restored {kind} {name}"))?;
            printer.line(
                "note: the next `mart build` removes it again unless the project declares it (put its YAML and SQL back) or runs with --keep-removed",
            )?;
            Ok(ExitStatus::Success)
        }
        None => Err(Error::usage(format!(
            "nothing named `{name}` was removed in the last {} days",
            KEEP_REMOVED.as_secs() / 86_400
        ))
        .help("a source is restored as `raw.<name>`; what was removed longer ago is deleted")),
    }
}
