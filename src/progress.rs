//! Progress of long library operations (tuning, cross-validation, corpus generation), reported
//! to whatever sink the application installed: the CLI installs an indicatif progress bar on
//! stderr; library users and tests get no output unless they install a sink.
//!
//! ```
//! let task = hopdb::progress::start("fitting", 10);
//! for _ in 0..10 { task.inc(1); }
//! task.finish();
//! ```

use std::sync::{Arc, RwLock};

/// Receives progress events. Implementations must be cheap and thread-safe: `inc` is called
/// from worker threads.
pub trait Sink: Send + Sync {
    /// A task with `total` steps (0: unknown) starts.
    fn start(&self, label: &str, total: u64);
    /// `n` more steps are done.
    fn inc(&self, n: u64);
    /// The task ended.
    fn finish(&self);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

/// Install the process-wide sink (replacing any earlier one).
pub fn install(sink: Arc<dyn Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// Remove the sink.
pub fn uninstall() {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// A running task; reports to the sink that was installed when it started.
pub struct Task {
    sink: Option<Arc<dyn Sink>>,
}

/// Start a task of `total` steps.
pub fn start(label: &str, total: u64) -> Task {
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(s) = &sink {
        s.start(label, total);
    }
    Task { sink }
}

impl Task {
    /// `n` more steps are done.
    pub fn inc(&self, n: u64) {
        if let Some(s) = &self.sink {
            s.inc(n);
        }
    }

    /// End the task (also done on drop).
    pub fn finish(self) {}
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(s) = &self.sink {
            s.finish();
        }
    }
}
