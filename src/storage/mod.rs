//! The warehouse on disk: versions of tables, published atomically, and
//! the lock that lets one writer in at a time. It prints nothing.

pub mod warehouse;
