//! The commands: each takes an opened workspace and plain options, prints
//! through a `Printer` and returns how it ended.

pub mod build;
pub mod docs;
pub mod graph;
pub mod init;
pub mod land;
pub mod lineage;
pub mod ls;
pub mod query;
pub mod restore;
pub mod serve;
pub mod show;
pub mod test;
pub mod watch;

/// How a command ended, when it ran to its end (errors that stop it are
/// returned as errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// Something it ran failed: a table, a test.
    Failure,
}

impl ExitStatus {
    pub fn failed_if(failed: bool) -> ExitStatus {
        match failed {
            true => ExitStatus::Failure,
            false => ExitStatus::Success,
        }
    }
}

/// The output formats of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Text,
    Json,
}

/// Pretty JSON, for the `--format json` of listings.
fn json(value: &impl serde::Serialize) -> crate::base::error::Result<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| crate::base::error::Error::failed(e.to_string()))
}
