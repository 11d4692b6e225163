//! Progress of long library operations (tuning, cross-validation, corpus generation, training
//! epochs), and notices about what a long operation decided (records left out, timings),
//! reported to whatever sink the application installed: the CLI installs an indicatif progress
//! bar on stderr; library users and tests get no output unless they install a sink.
//!
//! ```
//! let task = hopdb::progress::start("fitting", 10);
//! for _ in 0..10 { task.inc(1); }
//! task.finish();
//! hopdb::progress::notice("left out 3 records");
//! ```

use std::fmt;
use std::sync::{Arc, RwLock};

/// One finished training epoch (graph networks): the step event of a training task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epoch<'a> {
    /// The stage (`pretrain` or `train`).
    pub stage: &'a str,
    /// The epoch just finished (0-based).
    pub epoch: usize,
    /// Epochs of the stage.
    pub epochs: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Mean training loss over the epoch (standardised target).
    pub loss: f64,
    /// Validation MAE after the epoch (eV; NaN without validation hops).
    pub valid_mae: f64,
}

impl fmt::Display for Epoch<'_> {
    /// The training-log line of the epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} epoch {}: lr {:.2e} loss {:.4} valid_mae {:.4}", self.stage, self.epoch, self.lr, self.loss, self.valid_mae)
    }
}

/// Receives progress events. Implementations must be cheap and thread-safe: `inc` is called
/// from worker threads.
pub trait Sink: Send + Sync {
    /// A task with `total` steps (0: unknown) starts.
    fn start(&self, label: &str, total: u64);
    /// `n` more steps are done.
    fn inc(&self, n: u64);
    /// The task ended.
    fn finish(&self);
    /// The running task's status text (e.g. the running loss) changed.
    fn message(&self, _text: &str) {}
    /// A training epoch of the running task finished (sent before its `inc`).
    fn epoch(&self, _epoch: &Epoch) {}
    /// A one-line notice outside any task (what was left out, how long a step took).
    fn notice(&self, _text: &str) {}
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

fn current() -> Option<Arc<dyn Sink>> {
    SINK.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Send a notice to the installed sink (none: nothing happens).
pub fn notice(text: &str) {
    if let Some(s) = current() {
        s.notice(text);
    }
}

/// A running task; reports to the sink that was installed when it started.
pub struct Task {
    sink: Option<Arc<dyn Sink>>,
}

/// Start a task of `total` steps.
pub fn start(label: &str, total: u64) -> Task {
    let sink = current();
    if let Some(s) = &sink {
        s.start(label, total);
    }
    Task { sink }
}

impl Task {
    /// A task that reports nothing (for callers that turned progress off).
    pub fn hidden() -> Task {
        Task { sink: None }
    }

    /// `n` more steps are done.
    pub fn inc(&self, n: u64) {
        if let Some(s) = &self.sink {
            s.inc(n);
        }
    }

    /// Set the status text.
    pub fn message(&self, text: &str) {
        if let Some(s) = &self.sink {
            s.message(text);
        }
    }

    /// Report a finished training epoch.
    pub fn epoch(&self, epoch: &Epoch) {
        if let Some(s) = &self.sink {
            s.epoch(epoch);
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
