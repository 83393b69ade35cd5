//! The commands: each takes plain options, prints through a printer and
//! returns an outcome.

pub mod docs;
pub mod graph;
pub mod ls;
pub mod query;
pub mod restore;
