//! What every layer uses: the error type, suggestions, sizes, times and
//! file helpers.

pub mod error;
