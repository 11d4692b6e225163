//! The CLI's progress sink: an indicatif bar on stderr (hidden when stderr is not a terminal).

use hopdb::progress::Sink;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::RwLock;

/// Renders library progress events as an indicatif bar.
#[derive(Default)]
pub struct BarSink {
    bar: RwLock<Option<ProgressBar>>,
}

impl Sink for BarSink {
    fn start(&self, label: &str, total: u64) {
        let bar = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
        let template = if total > 0 { "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})" } else { "{spinner} {msg} [{elapsed_precise}]" };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.set_message(label.to_string());
        *self.bar.write().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn inc(&self, n: u64) {
        if let Some(b) = self.bar.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.write().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}
