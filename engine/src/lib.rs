//! Colo's placement and accounting engine: an `EstateSnapshot` in, a `Plan` out.
//!
//! Pure: no Kubernetes client, no async, no clock reads, no I/O. The operator keeps a
//! snapshot current; this crate decides on it.
