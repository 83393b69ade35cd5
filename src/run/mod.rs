//! Running the project: landing sources, building models in order, testing
//! them, and what tells which work can be skipped.

pub mod artifacts;
pub mod build;
pub mod fingerprint;
pub mod incremental;
pub mod land;
pub mod lineage;
pub mod report;
