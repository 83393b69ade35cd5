//! The warehouse on disk: versions of tables, published atomically, and
//! the lock that lets one writer in at a time, and the leases of readers that
//! outlive a publish. It prints nothing.

pub mod lease;
pub mod warehouse;
