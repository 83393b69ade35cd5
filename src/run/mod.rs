//! Running the project: opening a workspace, landing sources, planning and
//! building models in order, testing them, and what tells which work can
//! be skipped.

mod appended;
mod artifacts;
pub mod audit;
pub mod build;
mod fingerprint;
mod incremental;
pub mod land;
pub mod lineage;
mod model;
mod plan;
pub mod preview;
mod registry;
pub mod report;
mod schedule;
pub mod workspace;
