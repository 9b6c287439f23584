//! Reports people look at: the self-contained HTML report and run comparison.
//!
//! Pure: reads plain data, writes strings. No network, no async.
