//! `mart restore NAME`: serve again a table, source or view that a build
//! removed because the project no longer declared it.

use std::process::ExitCode;

use crate::run::build::KEEP_REMOVED;
use crate::cli::Global;
use crate::base::error::{Error, Result};
use crate::storage::warehouse::Warehouse;

pub fn run(global: &Global, name: &str, wait: bool) -> Result<ExitCode> {
    let warehouse = Warehouse::new(global.warehouse_dir());
    let _lock = warehouse.lock("restore", wait)?;
    let name = name.to_ascii_lowercase();
    match warehouse.restore(&name)? {
        Some(kind) => {
            println!("restored {kind} {name}");
            println!(
                "note: the next `mart build` removes it again unless the project declares it (put its YAML and SQL back) or runs with --keep-removed"
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Err(Error::usage(format!(
            "nothing named `{name}` was removed in the last {} days",
            KEEP_REMOVED.as_secs() / 86_400
        ))
        .help("a source is restored as `raw.<name>`; what was removed longer ago is deleted")),
    }
}
