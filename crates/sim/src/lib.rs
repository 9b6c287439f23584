//! A simulated Dynamo deployment: a router in front of continuous-batching vLLM-like workers,
//! served over HTTP as an OpenAI-compatible endpoint, or run in virtual time.
//!
//! Shares no wire types with the load generator on purpose, so a misreading of the OpenAI stream
//! format is not mirrored on both sides.
