//! What every layer uses: the error type, suggestions, sizes, times, names
//! and file helpers.

pub mod error;
pub mod fs;
pub mod names;
pub mod size;
pub mod suggest;
pub mod time;
