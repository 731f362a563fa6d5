//! Progress of `leafbridge run` on stderr: a spinner with the run's counts
//! when stderr is a terminal, otherwise plain lines that logs and CI keep.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::flows::{Flow, ProgressSink};
use crate::store::RunCounts;

/// Records between two plain lines when a flow reads one record at a time.
/// A flow that reads a page at once gets one line per page.
// NOTE: orders-import counts its whole crawl in one step, so it shows a
// single update before it writes.
const RECORDS_PER_LINE: u64 = 100;

/// The progress display of one `leafbridge run`.
pub struct RunProgress {
    tenant: String,
    bar: Option<ProgressBar>,
    lines: Mutex<LineState>,
}

#[derive(Default)]
struct LineState {
    /// `read` when the sink last ran, to tell a page from a single record.
    last_read: u64,
    /// `read` when the last plain line was printed.
    printed_read: u64,
}

impl RunProgress {
    /// Starts a spinner if stderr is a terminal, else prepares plain lines.
    pub fn start(tenant: &str, flow: Flow) -> Arc<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(format!("tenant {tenant}, flow {flow}"));
            bar.set_message("starting");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Arc::new(Self { tenant: tenant.to_owned(), bar, lines: Mutex::new(LineState::default()) })
    }

    /// Returns the sink the flow reports its counts to.
    pub fn sink(self: &Arc<Self>) -> ProgressSink {
        let progress = self.clone();
        Arc::new(move |flow, counts| progress.update(flow, counts))
    }

    fn update(&self, flow: Flow, counts: &RunCounts) {
        let summary = format!(
            "read {}, written {}, skipped {}, failed {}",
            counts.read, counts.written, counts.skipped, counts.failed
        );
        if let Some(bar) = &self.bar {
            bar.set_message(summary);
            return;
        }

        let mut lines = self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A later flow of the same run starts its counts from zero again.
        if counts.read < lines.last_read {
            *lines = LineState::default();
        }
        let is_page = counts.read - lines.last_read > 1;
        lines.last_read = counts.read;
        if is_page || counts.read - lines.printed_read >= RECORDS_PER_LINE {
            lines.printed_read = counts.read;
            eprintln!("progress: tenant {}, flow {flow}: {summary}", self.tenant);
        }
    }

    /// Removes the spinner so the report prints on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
