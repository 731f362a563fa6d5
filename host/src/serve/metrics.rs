//! Counters of `leafbridge serve`, rendered in the Prometheus text exposition
//! format (version 0.0.4) at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default)]
struct RunTotals {
    succeeded: u64,
    failed: u64,
    seconds_sum: f64,
}

/// Process-wide counters; labels are tenant names and flow names, both from
/// closed sets the store validates.
#[derive(Debug, Default)]
pub struct Metrics {
    runs_in_progress: AtomicI64,
    runs: Mutex<BTreeMap<(String, String), RunTotals>>,
    /// Records of finished runs by tenant, flow and outcome.
    records: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    webhooks: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn run_started(&self) {
        self.runs_in_progress.fetch_add(1, Ordering::SeqCst);
    }

    pub fn run_finished(&self, tenant: &str, flow: &str, succeeded: bool, elapsed: Duration) {
        self.runs_in_progress.fetch_sub(1, Ordering::SeqCst);
        let mut runs = self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let totals = runs.entry((tenant.to_owned(), flow.to_owned())).or_default();
        if succeeded {
            totals.succeeded += 1;
        } else {
            totals.failed += 1;
        }
        totals.seconds_sum += elapsed.as_secs_f64();
    }

    /// Adds a finished run's record counts (read, written, skipped, failed).
    pub fn records(&self, tenant: &str, flow: &str, outcome: &crate::schedule::RunOutcome) {
        let mut records = self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let counts = [("read", outcome.read), ("written", outcome.written), ("skipped", outcome.skipped), ("failed", outcome.failed)];
        for (name, count) in counts {
            *records.entry((tenant.to_owned(), flow.to_owned(), name)).or_default() += count;
        }
    }

    /// Counts one webhook request by source (`leaflink`, `business-central`)
    /// and outcome (`accepted`, `rejected`, `invalid`, `handshake`).
    pub fn webhook(&self, source: &'static str, outcome: &'static str) {
        let mut webhooks = self.webhooks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *webhooks.entry((source, outcome)).or_default() += 1;
    }

    /// Returns the number of finished runs of a tenant and flow, by success.
    pub fn run_count(&self, tenant: &str, flow: &str, succeeded: bool) -> u64 {
        let runs = self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        runs.get(&(tenant.to_owned(), flow.to_owned()))
            .map(|totals| if succeeded { totals.succeeded } else { totals.failed })
            .unwrap_or(0)
    }

    /// Renders every metric; `tenants` is the number of registered tenants.
    pub fn render(&self, tenants: usize) -> String {
        let mut text = String::new();

        let _ = writeln!(text, "# HELP leafbridge_tenants Registered tenants.");
        let _ = writeln!(text, "# TYPE leafbridge_tenants gauge");
        let _ = writeln!(text, "leafbridge_tenants {tenants}");

        let _ = writeln!(text, "# HELP leafbridge_runs_in_progress Flow runs currently executing.");
        let _ = writeln!(text, "# TYPE leafbridge_runs_in_progress gauge");
        let _ = writeln!(text, "leafbridge_runs_in_progress {}", self.runs_in_progress.load(Ordering::SeqCst));

        let runs = self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(text, "# HELP leafbridge_runs_total Finished flow runs by outcome.");
        let _ = writeln!(text, "# TYPE leafbridge_runs_total counter");
        for ((tenant, flow), totals) in runs.iter() {
            let (tenant, flow) = (escape(tenant), escape(flow));
            let _ = writeln!(text, "leafbridge_runs_total{{tenant=\"{tenant}\",flow=\"{flow}\",outcome=\"succeeded\"}} {}", totals.succeeded);
            let _ = writeln!(text, "leafbridge_runs_total{{tenant=\"{tenant}\",flow=\"{flow}\",outcome=\"failed\"}} {}", totals.failed);
        }
        let _ = writeln!(text, "# HELP leafbridge_run_seconds_total Time spent in finished flow runs.");
        let _ = writeln!(text, "# TYPE leafbridge_run_seconds_total counter");
        for ((tenant, flow), totals) in runs.iter() {
            let _ = writeln!(
                text,
                "leafbridge_run_seconds_total{{tenant=\"{}\",flow=\"{}\"}} {:.3}",
                escape(tenant),
                escape(flow),
                totals.seconds_sum
            );
        }
        drop(runs);

        let records = self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(text, "# HELP leafbridge_records_total Records of finished flow runs, by outcome.");
        let _ = writeln!(text, "# TYPE leafbridge_records_total counter");
        for ((tenant, flow, outcome), count) in records.iter() {
            let (tenant, flow) = (escape(tenant), escape(flow));
            let _ = writeln!(text, "leafbridge_records_total{{tenant=\"{tenant}\",flow=\"{flow}\",outcome=\"{outcome}\"}} {count}");
        }
        drop(records);

        let webhooks = self.webhooks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(text, "# HELP leafbridge_webhooks_total Webhook requests received, by source and outcome.");
        let _ = writeln!(text, "# TYPE leafbridge_webhooks_total counter");
        for ((source, outcome), count) in webhooks.iter() {
            let _ = writeln!(text, "leafbridge_webhooks_total{{source=\"{source}\",outcome=\"{outcome}\"}} {count}");
        }
        drop(webhooks);

        render_api_requests(&mut text);
        render_plugin_calls(&mut text);
        text
    }
}

/// Renders the process-wide API request and 429 counts that the http
/// capability keeps, by API and tenant.
fn render_api_requests(text: &mut String) {
    let totals = crate::capabilities::http::api_totals_snapshot();
    let _ = writeln!(text, "# HELP leafbridge_api_requests_total HTTP requests sent to an API, retries included.");
    let _ = writeln!(text, "# TYPE leafbridge_api_requests_total counter");
    for (tenant, api, requests, _) in &totals {
        let _ = writeln!(text, "leafbridge_api_requests_total{{api=\"{api}\",tenant=\"{}\"}} {requests}", escape(tenant));
    }
    let _ = writeln!(text, "# HELP leafbridge_api_throttled_total 429 Too Many Requests responses received from an API.");
    let _ = writeln!(text, "# TYPE leafbridge_api_throttled_total counter");
    for (tenant, api, _, throttled) in &totals {
        let _ = writeln!(text, "leafbridge_api_throttled_total{{api=\"{api}\",tenant=\"{}\"}} {throttled}", escape(tenant));
    }
}

/// Renders the process-wide time spent in plugin export calls, by plugin kind.
fn render_plugin_calls(text: &mut String) {
    let _ = writeln!(text, "# HELP leafbridge_plugin_call_seconds Time spent in plugin export calls.");
    let _ = writeln!(text, "# TYPE leafbridge_plugin_call_seconds summary");
    for (kind, seconds, calls) in crate::runtime::call_time::snapshot() {
        let _ = writeln!(text, "leafbridge_plugin_call_seconds_sum{{kind=\"{kind}\"}} {seconds:.6}");
        let _ = writeln!(text, "leafbridge_plugin_call_seconds_count{{kind=\"{kind}\"}} {calls}");
    }
}

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
