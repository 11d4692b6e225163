//! hopdb: an embedded dataset-and-model database for migration barriers (Em) of mobile ions
//! in solids. See `docs/ARCHITECTURE.md` for the map of modules and the data flow.

pub mod element;
pub mod input;
pub mod structure;
pub mod bvse;
pub mod mlip;
pub mod record;
pub mod query;
pub mod store;
pub mod import;
pub mod export;
pub mod table;
pub mod stats;
pub mod synthetic;
pub mod bench;
pub mod features;
pub mod split;
pub mod scenario;
pub mod metrics;
pub mod model;
pub mod workflow;
pub mod optimade;
pub mod report;
pub mod paper_bench;
pub mod progress;

/// The version of hopdb that wrote a record or a store (from Cargo.toml).
pub const HOPDB_VERSION: &str = env!("CARGO_PKG_VERSION");
