//! Admin notification digests: after a run, one message per tenant that lists
//! the records that failed and the conflicts and link proposals waiting for a
//! person, instead of one message per record.
//!
//! A `notify` setting that is an `http(s)` URL receives the digest as a JSON
//! POST. An email address cannot be served because leafbridge has no mail
//! transport, so the digest is logged as not delivered and never dropped
//! silently.

use std::time::Duration;

use serde::Serialize;

use crate::store::{Conflict, DeadLetter, LinkProposal, ProposalStatus, Store, StoreError};

/// The time a webhook has to accept a digest.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The failed records, conflicts and open proposals one run left for a person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Digest {
    pub tenant: String,
    pub flow: String,
    pub run_id: String,
    /// Dead letters this run created or attempted again.
    pub failed: Vec<DeadLetter>,
    /// Conflicts this run detected.
    pub conflicts: Vec<Conflict>,
    /// Every open link proposal of the tenant.
    pub open_link_proposals: Vec<LinkProposal>,
}

impl Digest {
    /// Returns true when nothing waits for a person.
    pub fn is_empty(&self) -> bool {
        self.failed.is_empty() && self.conflicts.is_empty() && self.open_link_proposals.is_empty()
    }
}

/// The result of delivering a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The tenant has no `notify` setting, or nothing waits for a person.
    Nothing,
    /// The webhook accepted the digest with this status.
    Webhook(u16),
    /// The digest was logged as not delivered, with the reason.
    NotDelivered(String),
}

/// Collects what the run `run_id` of `flow` left for a person. A dead letter
/// counts when it is new or changed since `before`, the tenant's dead letters
/// when the run started. A conflict counts when it was detected at or after
/// `started`, and a proposal counts while it is open.
pub fn collect(
    store: &Store,
    tenant: &str,
    flow: &str,
    run_id: &str,
    started: jiff::Timestamp,
    before: &[DeadLetter],
) -> Result<Digest, StoreError> {
    let failed = store
        .dead_letters(tenant)?
        .into_iter()
        .filter(|letter| letter.flow == flow && !before.contains(letter))
        .collect();
    let conflicts =
        store.conflicts(tenant)?.into_iter().filter(|conflict| conflict.flow == flow && conflict.detected >= started).collect();
    let open_link_proposals =
        store.link_proposals(tenant)?.into_iter().filter(|proposal| proposal.status == ProposalStatus::Open).collect();
    Ok(Digest { tenant: tenant.to_owned(), flow: flow.to_owned(), run_id: run_id.to_owned(), failed, conflicts, open_link_proposals })
}

/// Sends `digest` to the tenant's `notify` target, once. Errors are logged
/// and returned as `NotDelivered`, because a failed notification must not fail
/// the run it reports on.
pub async fn deliver(notify: Option<&str>, digest: &Digest) -> Delivery {
    let Some(target) = notify.map(str::trim).filter(|target| !target.is_empty()) else {
        return Delivery::Nothing;
    };
    if digest.is_empty() {
        return Delivery::Nothing;
    }
    let span = tracing::info_span!("notify", tenant = %digest.tenant, flow = %digest.flow, run_id = %digest.run_id);
    let _entered = span.enter();

    if !(target.starts_with("https://") || target.starts_with("http://")) {
        let reason = "not delivered: no mail transport configured".to_owned();
        tracing::warn!(
            failed = digest.failed.len(),
            conflicts = digest.conflicts.len(),
            open_link_proposals = digest.open_link_proposals.len(),
            "admin digest {reason}"
        );
        return Delivery::NotDelivered(reason);
    }

    let client = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => return not_delivered(format!("cannot build the HTTP client: {error}")),
    };
    match client.post(target).json(digest).send().await {
        Ok(response) if response.status().is_success() => {
            tracing::info!(status = response.status().as_u16(), "admin digest delivered");
            Delivery::Webhook(response.status().as_u16())
        }
        Ok(response) => not_delivered(format!("the webhook returned HTTP {}", response.status().as_u16())),
        // The error text can contain the URL; the URL is a setting, not a secret.
        Err(error) => not_delivered(format!("the webhook request failed: {error}")),
    }
}

fn not_delivered(reason: String) -> Delivery {
    tracing::warn!(reason = %reason, "admin digest not delivered");
    Delivery::NotDelivered(reason)
}

/// A scheduler runner that sends the admin digest after each run of the
/// runner it wraps.
pub struct NotifyingRunner<R> {
    inner: std::sync::Arc<R>,
    store: Store,
}

impl<R: crate::schedule::FlowRunner> NotifyingRunner<R> {
    pub fn new(inner: R, store: Store) -> Self {
        Self { inner: std::sync::Arc::new(inner), store }
    }
}

impl<R: crate::schedule::FlowRunner> crate::schedule::FlowRunner for NotifyingRunner<R> {
    fn run(&self, tenant: &str, flow: &str, trigger: crate::schedule::Trigger) -> crate::schedule::RunFuture {
        let inner = self.inner.clone();
        let store = self.store.clone();
        let (tenant, flow) = (tenant.to_owned(), flow.to_owned());
        Box::pin(async move {
            let watch = RunWatch::start(&store, &tenant, &flow);
            let result = inner.run(&tenant, &flow, trigger).await;
            watch.finish(&store).await;
            result
        })
    }
}

/// The state of a tenant when a run starts, to tell afterwards what the run
/// added.
#[derive(Debug, Clone)]
pub struct RunWatch {
    tenant: String,
    flow: String,
    started: jiff::Timestamp,
    dead_letters: Vec<DeadLetter>,
}

impl RunWatch {
    /// Records the start time and the tenant's dead letters. A store error
    /// leaves the snapshot empty, so every dead letter of the flow is reported.
    pub fn start(store: &Store, tenant: &str, flow: &str) -> Self {
        let dead_letters = store.dead_letters(tenant).unwrap_or_else(|error| {
            tracing::warn!(tenant, flow, %error, "cannot read the dead letters before the run");
            Vec::new()
        });
        Self { tenant: tenant.to_owned(), flow: flow.to_owned(), started: jiff::Timestamp::now(), dead_letters }
    }

    /// Collects and delivers the digest of the latest run of the flow. A store
    /// error is logged and returned as `NotDelivered`, because the run itself
    /// already finished.
    pub async fn finish(&self, store: &Store) -> Delivery {
        let (tenant, flow) = (self.tenant.as_str(), self.flow.as_str());
        let settings = store.tenants().map_err(crate::store::tenants::TenantError::from).and_then(|tenants| tenants.get(tenant));
        let notify = match settings {
            Ok(Some(settings)) => settings.notify,
            Ok(None) => return Delivery::Nothing,
            Err(error) => return not_delivered(format!("tenant {tenant}: cannot read the settings: {error}")),
        };
        let run_id = match store.runs(tenant) {
            Ok(runs) => runs.into_iter().rev().find(|run| run.flow == flow).map(|run| run.id).unwrap_or_default(),
            Err(error) => return not_delivered(format!("tenant {tenant}: cannot read the runs: {error}")),
        };
        match collect(store, tenant, flow, &run_id, self.started, &self.dead_letters) {
            Ok(digest) => deliver(notify.as_deref(), &digest).await,
            Err(error) => not_delivered(format!("tenant {tenant}, flow {flow}: cannot collect the digest: {error}")),
        }
    }
}
