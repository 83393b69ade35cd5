//! Running the project: opening a workspace, landing sources, planning and
//! building models in order, testing them, and what tells which work can
//! be skipped.

pub mod artifacts;
pub mod audit;
pub mod build;
pub mod fingerprint;
pub mod incremental;
pub mod land;
pub mod lineage;
pub mod model;
pub mod plan;
pub mod registry;
pub mod report;
pub mod schedule;
pub mod workspace;
