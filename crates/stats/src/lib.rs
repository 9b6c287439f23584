//! Statistics over per-request records: the one percentile definition, AIPerf's metric
//! definitions, the AIPerf-compatible JSON export, and confidence intervals.
//!
//! Pure: no IO, no async, no HTTP. Input is `&[RequestRecord]`; output is plain data.
