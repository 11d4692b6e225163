//! The CLI's progress sink: an indicatif bar on stderr (hidden when stderr is not a terminal),
//! with training epochs as lines on stderr when no bar is drawn, and notices on stderr.

use hopdb::progress::{Epoch, Sink};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::RwLock;

/// Renders library progress events as an indicatif bar.
#[derive(Default)]
pub struct BarSink {
    bar: RwLock<Option<ProgressBar>>,
}

impl BarSink {
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(b) = self.bar.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            f(b);
        }
    }
}

impl Sink for BarSink {
    fn start(&self, label: &str, total: u64) {
        let bar = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
        let template = if total > 0 { "{prefix} [{elapsed_precise}] {bar:40} {pos}/{len} (eta {eta}) {msg}" } else { "{spinner} {prefix} [{elapsed_precise}] {msg}" };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.set_prefix(label.to_string());
        *self.bar.write().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn inc(&self, n: u64) {
        self.with_bar(|b| b.inc(n));
    }

    fn finish(&self) {
        if let Some(b) = self.bar.write().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }

    fn message(&self, text: &str) {
        self.with_bar(|b| b.set_message(text.to_string()));
    }

    fn epoch(&self, e: &Epoch) {
        self.with_bar(|b| {
            // Without a terminal the bar is hidden: the epochs go to stderr as log lines.
            if b.is_hidden() {
                eprintln!("{e}");
            }
            b.set_message(format!("loss {:.4} valid {:.3}", e.loss, e.valid_mae));
        });
    }

    fn notice(&self, text: &str) {
        match self.bar.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(b) => b.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}
