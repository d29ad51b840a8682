//! Helpers every room may use to talk to Kubernetes: names and keys, member clients, the
//! Prometheus client, status and conditions, Events, shared watches. Nothing here decides.

pub mod access;
pub mod apply;
pub mod digest;
pub mod events;
pub mod fence;
pub mod guard;
pub mod keys;
pub mod labels;
pub mod ledger;
pub mod members;
pub mod nodes;
pub mod plain;
pub mod prom;
pub mod reviews;
pub mod status;
pub mod watch;
