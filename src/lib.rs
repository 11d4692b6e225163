//! hopdb: an embedded dataset-and-model database for migration barriers (Em) of mobile ions
//! in solids. See `docs/ARCHITECTURE.md` for the map of modules and the data flow.

pub mod bench;
pub mod bvse;
pub mod element;
pub mod export;
pub mod features;
pub mod import;
pub mod input;
pub mod metrics;
pub mod mlip;
pub mod model;
pub mod optimade;
pub mod paper_bench;
pub mod progress;
pub mod query;
pub mod record;
pub mod report;
pub mod scenario;
pub mod split;
pub mod stats;
pub mod store;
pub mod structure;
pub mod synthetic;
pub mod table;
pub mod workflow;

/// The version of hopdb that wrote a record or a store (from Cargo.toml).
pub const HOPDB_VERSION: &str = env!("CARGO_PKG_VERSION");
