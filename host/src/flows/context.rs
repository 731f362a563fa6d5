//! The state of one flow run: the tenant, the store, the plugins, the counts
//! and the run-scoped lookup cache, with the helpers every flow uses to record
//! successes, dead letters and conflicts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ports::{ApiError, Plugins};
use crate::capabilities::CredentialRejection;
use crate::runtime::bindings::types::{LlCustomer, LlProduct};
use super::{Flow, FlowError};
use crate::store::{Conflict, OpenRun, RunCounts, RunOutcome, RunRecord, Store, StoreError};
use crate::tenant::TenantSettings;

/// Requests sent so far to (LeafLink, Business Central), read before and
/// after a run to count that run's requests.
pub type RequestCounter = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// Returns the credential rejection of the run's tenant context, if an API
/// rejected a credential. See `SyncContext::with_credential_check`.
pub type CredentialCheck = Arc<dyn Fn() -> Option<CredentialRejection> + Send + Sync>;

/// Receives a run's counts each time its flow reads a page or a record, so
/// the caller can show progress. It runs on the flow's task, so it must be
/// quick.
pub type ProgressSink = Arc<dyn Fn(Flow, &RunCounts) + Send + Sync>;

/// What one run did, as printed by `leafbridge run` and the demo.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub tenant: String,
    pub flow: Flow,
    pub run_id: String,
    #[serde(flatten)]
    pub counts: RunCounts,
    pub outcome: RunOutcome,
    pub reason: Option<String>,
    pub millis: u64,
    /// Wall time of each timed step of the run, in milliseconds, summed over
    /// its pages; only `orders-import` times its steps.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub phase_millis: BTreeMap<&'static str, u64>,
}

/// Lookups made during one run, so each customer and item is resolved once.
#[derive(Debug, Default)]
pub struct RunCache {
    /// LeafLink customer id -> BC customer (id, number).
    pub customers: HashMap<i64, (Option<String>, String)>,
    /// SKU -> BC item number.
    pub items: HashMap<String, String>,
    /// LeafLink product id -> (SKU, name), for order lines that name only
    /// their product.
    pub products: HashMap<i64, (String, String)>,
    /// LeafLink customers read ahead by a crawl of the whole customer list,
    /// by id; each is removed when its order page uses it.
    pub leaflink_customers: HashMap<i64, LlCustomer>,
    /// LeafLink products read ahead by a crawl of the whole catalog, by SKU;
    /// each is removed when item creation uses it, so no product is read
    /// twice.
    pub leaflink_products: HashMap<String, LlProduct>,
    /// The size of the order crawl, set by `orders-import` from its first
    /// page; it decides whether reading a whole list is cheaper than reading
    /// by id page after page.
    pub crawl: Option<CrawlSize>,
    /// Whether the item cross-references were read into `products` in this
    /// run.
    pub products_from_store: bool,
    /// Whether the product catalog was read (or found too large to read) in
    /// this run.
    pub products_read_ahead: bool,
    /// Whether the customer list was read (or found too large to read) in
    /// this run.
    pub customers_read_ahead: bool,
}

/// The expected size of an order crawl, estimated from its first page.
#[derive(Debug, Clone, Copy)]
pub struct CrawlSize {
    /// Orders the list reports in total (`count`).
    pub orders: u64,
    /// Order lines expected in total: `orders` times the first page's mean.
    pub lines: u64,
}

pub struct SyncContext<'a, P: Plugins> {
    pub tenant: &'a TenantSettings,
    pub store: &'a Store,
    pub leaflink: &'a P::LeafLink,
    pub business_central: &'a P::BusinessCentral,
    pub mapping: &'a P::Mapping,
    pub overrides: &'a P::Overrides,
    pub flow: Flow,
    pub run_id: String,
    pub counts: RunCounts,
    pub cache: RunCache,
    /// Records that failed in a way a rerun may fix; the run is then not done.
    pub(crate) transient_failures: u64,
    /// Wall time spent in each timed step of this run.
    pub(crate) phases: BTreeMap<&'static str, Duration>,
    request_counter: Option<RequestCounter>,
    requests_at_start: (u64, u64),
    progress: Option<ProgressSink>,
    credential_check: Option<CredentialCheck>,
    /// When the run began, and when its progress was last saved to the store.
    started: jiff::Timestamp,
    progress_saved: Instant,
}

/// How often a run saves its counts while it reads, for the record of a run
/// whose process is killed.
const PROGRESS_SAVE_INTERVAL: Duration = Duration::from_secs(1);

impl<'a, P: Plugins> SyncContext<'a, P> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: &'a TenantSettings,
        store: &'a Store,
        leaflink: &'a P::LeafLink,
        business_central: &'a P::BusinessCentral,
        mapping: &'a P::Mapping,
        overrides: &'a P::Overrides,
        flow: Flow,
    ) -> Self {
        Self {
            tenant,
            store,
            leaflink,
            business_central,
            mapping,
            overrides,
            flow,
            run_id: uuid::Uuid::new_v4().to_string(),
            counts: RunCounts::default(),
            cache: RunCache::default(),
            transient_failures: 0,
            phases: BTreeMap::new(),
            request_counter: None,
            requests_at_start: (0, 0),
            progress: None,
            credential_check: None,
            started: jiff::Timestamp::now(),
            progress_saved: Instant::now(),
        }
    }

    /// Starts the run's clock and marks the run as in progress in the store,
    /// so that a process killed during it still leaves a run record
    /// (`RunOutcome::Interrupted`). The mark is flushed before the flow starts.
    pub(crate) fn begin(&mut self) -> Result<(), FlowError> {
        self.started = jiff::Timestamp::now();
        self.flush_store()
    }

    /// Saves the run's counts and writes everything stored so far to disk.
    /// Flows call it before a remote write that depends on what they just
    /// stored, so an interrupted run's record has the counts up to there.
    pub(crate) fn flush_store(&mut self) -> Result<(), FlowError> {
        self.save_progress().and_then(|()| self.store.flush()).map_err(|error| self.store_error(error))
    }

    /// Returns the requests sent to (LeafLink, Business Central) since the
    /// run began, when the context has a request counter.
    fn requests_since_start(&self) -> Option<(u64, u64)> {
        let counter = self.request_counter.as_ref()?;
        let (leaflink, business_central) = counter();
        Some((leaflink.saturating_sub(self.requests_at_start.0), business_central.saturating_sub(self.requests_at_start.1)))
    }

    fn save_progress(&mut self) -> Result<(), StoreError> {
        self.progress_saved = Instant::now();
        let mut counts = self.counts.clone();
        if let Some((leaflink, business_central)) = self.requests_since_start() {
            counts.requests_leaflink = leaflink;
            counts.requests_business_central = business_central;
        }
        self.store.run_progress(&OpenRun {
            id: self.run_id.clone(),
            tenant: self.tenant.name.clone(),
            flow: self.flow.name().to_owned(),
            started: self.started,
            updated: jiff::Timestamp::now(),
            counts,
        })
    }

    /// Stops the run as soon as `check` reports a credential rejection: a
    /// record that fails after one is not a dead letter, the cursor stays,
    /// and the run ends with the rejection as its reason.
    pub fn with_credential_check(mut self, check: CredentialCheck) -> Self {
        self.credential_check = Some(check);
        self
    }

    /// Returns the error that stops the run when an API rejected a
    /// credential.
    fn credential_error(&self) -> Option<FlowError> {
        let rejection = (self.credential_check.as_ref()?)()?;
        Some(FlowError::Credentials { tenant: self.tenant.name.clone(), flow: self.flow, rejection })
    }

    /// Moves the flow's cursor to `newest`, unless an API rejected a
    /// credential during the run: records it could not read or write would
    /// then be behind the cursor.
    pub(crate) fn advance_cursor(&self, newest: jiff::Timestamp) -> Result<(), FlowError> {
        if let Some(error) = self.credential_error() {
            return Err(error);
        }
        self.store.advance_cursor(&self.tenant.name, self.flow.name(), newest).map_err(|error| self.store_error(error))
    }

    /// Counts this run's requests from `counter` (usually the tenant
    /// context's API counters).
    pub fn with_request_counter(mut self, counter: RequestCounter) -> Self {
        self.requests_at_start = counter();
        self.request_counter = Some(counter);
        self
    }

    /// Sends the run's counts to `sink` after each page or record read.
    pub fn with_progress(mut self, sink: Option<ProgressSink>) -> Self {
        self.progress = sink;
        self
    }

    /// Counts `records` read from the source side and reports the new counts
    /// to the progress sink.
    pub(crate) fn count_read(&mut self, records: u64) {
        self.counts.read += records;
        if let Some(sink) = &self.progress {
            sink(self.flow, &self.counts);
        }
        if self.progress_saved.elapsed() >= PROGRESS_SAVE_INTERVAL {
            // The flow's next store write reports a broken store, and a lost
            // progress mark only makes an interrupted run's counts older.
            if let Err(error) = self.save_progress() {
                tracing::warn!(%error, "could not save the run's progress");
            }
        }
    }

    /// Starts another flow with the same plugins and a fresh count; the
    /// lookup cache carries over.
    pub fn restart(&mut self, flow: Flow) {
        self.flow = flow;
        self.run_id = uuid::Uuid::new_v4().to_string();
        self.counts = RunCounts::default();
        self.transient_failures = 0;
        self.phases.clear();
        if let Some(counter) = &self.request_counter {
            self.requests_at_start = counter();
        }
    }

    /// Counts a customer or item written by the shared resolve steps. In
    /// orders-import it was written for an order and is counted apart from
    /// the orders. In other flows it is the run's own record.
    pub(crate) fn count_resolved_written(&mut self) {
        if self.flow == Flow::OrdersImport {
            self.counts.related_written += 1;
        } else {
            self.counts.written += 1;
        }
    }

    /// Counts a customer or item that needed no write, except in
    /// orders-import, whose `skipped` counts orders.
    pub(crate) fn count_resolved_skipped(&mut self) {
        if self.flow != Flow::OrdersImport {
            self.counts.skipped += 1;
        }
    }

    /// Adds the time since `started` to the step `phase`.
    pub(crate) fn add_phase_time(&mut self, phase: &'static str, started: Instant) {
        *self.phases.entry(phase).or_default() += started.elapsed();
    }

    pub fn tenant_name(&self) -> &str {
        &self.tenant.name
    }

    /// Attaches tenant and flow to a store error.
    pub(crate) fn store_error(&self, source: StoreError) -> FlowError {
        FlowError::Store { tenant: self.tenant.name.clone(), flow: self.flow, source }
    }

    /// Attaches tenant and flow to a failed call the run depends on. After a
    /// credential rejection the rejection is the error, since it is why the
    /// call failed.
    pub(crate) fn api_error(&self, what: impl Into<String>, source: ApiError) -> FlowError {
        if let Some(error) = self.credential_error() {
            return error;
        }
        FlowError::Api { tenant: self.tenant.name.clone(), flow: self.flow, what: what.into(), source }
    }

    /// Records a failed record as a dead letter and counts it. After a
    /// credential rejection it records nothing and returns the error that
    /// stops the run, because the record itself was not at fault.
    pub(crate) fn fail(&mut self, record: &str, reason: &str, transient: bool) -> Result<(), FlowError> {
        if let Some(error) = self.credential_error() {
            return Err(error);
        }
        tracing::warn!(
            target: "leafbridge::dead_letter",
            tenant = %self.tenant.name,
            flow = self.flow.name(),
            run_id = %self.run_id,
            record,
            reason,
            transient,
            "record failed; sent to dead letters"
        );
        // In orders-import a failed customer or item also fails each order
        // that needs it, and `failed` counts only the orders.
        if self.flow != Flow::OrdersImport || record.starts_with("order ") {
            self.counts.failed += 1;
        }
        if transient {
            self.transient_failures += 1;
        }
        let flow = self.flow.name();
        self.store
            .record_failure(&self.tenant.name, flow, record, reason, transient)
            .map_err(|error| self.store_error(error))?;
        Ok(())
    }

    /// `fail` for a plugin error.
    pub(crate) fn fail_api(&mut self, record: &str, error: &ApiError) -> Result<(), FlowError> {
        self.fail(record, &error.to_string(), error.is_transient())
    }

    /// Clears the dead letter of a record that now succeeded, or that the
    /// flow found already done (for example created by another flow).
    pub(crate) fn succeeded(&self, record: &str) -> Result<(), FlowError> {
        let removed = self
            .store
            .clear_dead_letter(&self.tenant.name, self.flow.name(), record)
            .map_err(|error| self.store_error(error))?;
        if removed {
            tracing::info!(
                target: "leafbridge::dead_letter",
                tenant = %self.tenant.name,
                flow = self.flow.name(),
                run_id = %self.run_id,
                record,
                "record done; its dead letter is removed"
            );
        }
        Ok(())
    }

    pub(crate) fn conflict(&self, conflict: Conflict) -> Result<(), FlowError> {
        tracing::info!(record = %conflict.record, field = ?conflict.field, winner = %conflict.winner, "conflict recorded");
        self.store
            .record_conflict(&self.tenant.name, &conflict)
            .map_err(|error| self.store_error(error))
    }

    /// Writes the run record and turns the result into a report; a run that
    /// stopped is a report with outcome `Stopped`, and only a failure to write
    /// the run record is an error. A credential rejection stops the run even
    /// when the flow itself finished, because some requests were not sent.
    pub(crate) fn finish(&mut self, result: Result<(), FlowError>) -> Result<FlowReport, FlowError> {
        let started = self.started;
        let result = match (result, self.credential_error()) {
            (Err(FlowError::Store { tenant, flow, source }), _) => Err(FlowError::Store { tenant, flow, source }),
            (_, Some(error)) => Err(error),
            (result, None) => result,
        };
        if let Some((leaflink, business_central)) = self.requests_since_start() {
            self.counts.requests_leaflink = leaflink;
            self.counts.requests_business_central = business_central;
        }
        let (outcome, reason) = match &result {
            Ok(()) if self.transient_failures == 0 => (RunOutcome::Done, None),
            Ok(()) => (
                RunOutcome::Incomplete,
                Some(format!("{} records failed in a way a rerun may fix; see dead letters", self.transient_failures)),
            ),
            Err(error) => (RunOutcome::Stopped, Some(error.to_string())),
        };
        let finished = jiff::Timestamp::now();
        let run = RunRecord {
            id: self.run_id.clone(),
            tenant: self.tenant.name.clone(),
            flow: self.flow.name().to_owned(),
            started,
            finished,
            counts: self.counts.clone(),
            outcome,
            reason: reason.clone(),
        };
        self.store.record_run(&run).map_err(|error| self.store_error(error))?;
        let millis = u64::try_from(finished.duration_since(started).as_millis()).unwrap_or(0);
        let counts = &self.counts;
        match &result {
            Ok(()) => tracing::info!(
                target: "leafbridge::run_outcome",
                read = counts.read,
                written = counts.written,
                skipped = counts.skipped,
                failed = counts.failed,
                requests_leaflink = counts.requests_leaflink,
                requests_business_central = counts.requests_business_central,
                millis,
                outcome = ?outcome,
                "flow run finished"
            ),
            Err(error) => tracing::error!(
                target: "leafbridge::run_outcome",
                %error,
                read = counts.read,
                written = counts.written,
                "flow run stopped"
            ),
        }
        Ok(FlowReport {
            tenant: self.tenant.name.clone(),
            flow: self.flow,
            run_id: self.run_id.clone(),
            counts: self.counts.clone(),
            outcome,
            reason,
            millis,
            phase_millis: self.phases.iter().map(|(phase, time)| (*phase, u64::try_from(time.as_millis()).unwrap_or(u64::MAX))).collect(),
        })
    }
}
