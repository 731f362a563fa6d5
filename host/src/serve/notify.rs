//! Admin notification digests: after a run, one message per tenant that lists
//! the records that failed and the conflicts and link proposals waiting for a
//! person, instead of one message per record.
//!
//! A `notify` setting that is an `http(s)` URL receives the digest as a JSON
//! POST. An email address receives it as a plain-text message through the
//! SMTP server in `LEAFBRIDGE_SMTP_URL`. Without that server the digest is
//! logged as not delivered and goes into the next digest, never dropped
//! silently.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

use crate::store::records::{NOTIFIED_TREE, compound_key};
use crate::store::{Conflict, DeadLetter, LinkProposal, ProposalStatus, RunOutcome, Store, StoreError};

/// The time a webhook or an SMTP server has to accept a digest.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable with the SMTP server for email digests, e.g.
/// `smtps://user:password@mail.example.com` (see [`Mailer::new`]). It is read
/// from the environment, not a flag, because it carries a password.
pub const SMTP_URL_ENV: &str = "LEAFBRIDGE_SMTP_URL";
/// The environment variable with the sender address of email digests.
pub const SMTP_FROM_ENV: &str = "LEAFBRIDGE_SMTP_FROM";

/// The mail settings cannot be used. No message contains the password.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("{SMTP_URL_ENV} is not an SMTP URL ({0}); use smtps://user:password@host[:port] or smtp://host:port?tls=required")]
    Url(&'static str),
    #[error("{SMTP_FROM_ENV} must be set to the sender address when {SMTP_URL_ENV} is set")]
    MissingFrom,
    #[error("{SMTP_FROM_ENV} is not an email address: {0}")]
    From(String),
}

/// An SMTP server and the sender address of email digests.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port` of the server, for log lines; never the credentials.
    server: String,
}

impl Mailer {
    /// Builds a mailer from an SMTP URL as lettre reads it: `smtps://` for
    /// TLS from the start, `smtp://...?tls=required` for STARTTLS, and plain
    /// `smtp://` only for a relay on the same host.
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailerError> {
        let parsed = url::Url::parse(url).map_err(|_| MailerError::Url("not a URL"))?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            return Err(MailerError::Url("the scheme must be smtp or smtps"));
        }
        let host = parsed.host_str().ok_or(MailerError::Url("no host"))?;
        let server = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailerError::Url("lettre rejected it"))?
            .timeout(Some(WEBHOOK_TIMEOUT))
            .build();
        let from = from.parse::<Mailbox>().map_err(|error| MailerError::From(error.to_string()))?;
        Ok(Mailer { transport, from, server })
    }

    /// Reads [`SMTP_URL_ENV`] and [`SMTP_FROM_ENV`]; `None` when no SMTP URL
    /// is set.
    pub fn from_env() -> Result<Option<Arc<Mailer>>, MailerError> {
        let Some(url) = std::env::var(SMTP_URL_ENV).ok().filter(|url| !url.trim().is_empty()) else {
            return Ok(None);
        };
        let from = std::env::var(SMTP_FROM_ENV).ok().filter(|from| !from.trim().is_empty()).ok_or(MailerError::MissingFrom)?;
        Mailer::new(url.trim(), from.trim()).map(|mailer| Some(Arc::new(mailer)))
    }

    async fn send(&self, to: &str, digest: &Digest) -> Delivery {
        let to = match to.parse::<Mailbox>() {
            Ok(to) => to,
            Err(error) => return not_delivered(format!("the notify address {to:?} is not an email address: {error}")),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(digest.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(digest.text());
        let message = match message {
            Ok(message) => message,
            Err(error) => return not_delivered(format!("cannot build the email: {error}")),
        };
        match self.transport.send(message).await {
            Ok(response) => {
                tracing::info!(server = %self.server, code = %response.code(), "admin digest delivered by email");
                Delivery::Email
            }
            Err(error) => not_delivered(format!("the SMTP server {} did not accept the email: {error}", self.server)),
        }
    }
}

/// The failed records, conflicts and open proposals one run left for a person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Digest {
    pub tenant: String,
    pub flow: String,
    pub run_id: String,
    /// The reason the run stopped before it finished, when it did (a rejected
    /// credential, a store error).
    pub stopped: Option<String>,
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
        self.stopped.is_none() && self.failed.is_empty() && self.conflicts.is_empty() && self.open_link_proposals.is_empty()
    }

    /// Returns the subject line of the email digest.
    pub fn subject(&self) -> String {
        if self.stopped.is_some() {
            return format!("leafbridge: tenant {}, flow {}: the run stopped", self.tenant, self.flow);
        }
        format!(
            "leafbridge: tenant {}, flow {}: {} failed, {} conflicts, {} link proposals",
            self.tenant,
            self.flow,
            self.failed.len(),
            self.conflicts.len(),
            self.open_link_proposals.len()
        )
    }

    /// Returns the body of the email digest: one line per item and the
    /// commands that act on them.
    pub fn text(&self) -> String {
        let tenant = &self.tenant;
        let mut text = format!("Run {} of flow {} for tenant {tenant} left work for a person.\n", self.run_id, self.flow);
        if let Some(reason) = &self.stopped {
            let _ = writeln!(text, "\nThe run stopped before it finished: {reason}");
        }
        if !self.failed.is_empty() {
            let _ = writeln!(text, "\nFailed records (see `leafbridge dead-letters list {tenant}`):");
            for letter in &self.failed {
                let _ = writeln!(
                    text,
                    "- {}: {} (attempt {}, next retry {})",
                    letter.record,
                    letter.reason,
                    letter.attempts,
                    letter.next_retry.strftime("%Y-%m-%d %H:%M UTC")
                );
            }
        }
        if !self.conflicts.is_empty() {
            let _ = writeln!(text, "\nConflicts (see `leafbridge conflicts {tenant}`):");
            for conflict in &self.conflicts {
                let _ = writeln!(
                    text,
                    "- {} {}: kept {} (LeafLink {}, BC {}): {}",
                    conflict.record,
                    conflict.field.as_deref().unwrap_or("-"),
                    conflict.winner,
                    conflict.leaflink_value.as_deref().unwrap_or("-"),
                    conflict.business_central_value.as_deref().unwrap_or("-"),
                    conflict.reason
                );
            }
        }
        if !self.open_link_proposals.is_empty() {
            let _ = writeln!(text, "\nLink proposals waiting for a decision (see `leafbridge link list {tenant}`):");
            for proposal in &self.open_link_proposals {
                let _ = writeln!(
                    text,
                    "- {} {} ({}): {}",
                    proposal.kind.as_str(),
                    proposal.leaflink_key,
                    proposal.leaflink_name,
                    proposal.reason
                );
            }
        }
        text
    }
}

/// The result of delivering a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The tenant has no `notify` setting, or nothing waits for a person.
    Nothing,
    /// The webhook accepted the digest with this status.
    Webhook(u16),
    /// The SMTP server accepted the email.
    Email,
    /// The digest was logged as not delivered, with the reason.
    NotDelivered(String),
}

/// Collects what the latest run of `flow` left for a person and no digest
/// reported yet: why the run stopped, if it did, the flow's dead letters and
/// conflicts, and the tenant's open link proposals. A dead letter that fails
/// again on retry stays the same notice, because it keeps its first failure
/// time. A run that stops for the same reason as the one before is not
/// reported again until a run of the flow finishes.
pub fn collect(store: &Store, tenant: &str, flow: &str) -> Result<Digest, StoreError> {
    let notified = store.tree(NOTIFIED_TREE)?;
    let unreported = |key: Vec<u8>| notified.contains_key(key).map(|seen| !seen);

    let latest = store.runs(tenant)?.into_iter().rev().find(|run| run.flow == flow);
    let run_id = latest.as_ref().map(|run| run.id.clone()).unwrap_or_default();
    let stopped = match latest.filter(|run| run.outcome == RunOutcome::Stopped) {
        Some(run) => {
            let reason = run.reason.unwrap_or_else(|| "no reason was recorded".to_owned());
            if unreported(stopped_key(tenant, flow, &reason))? { Some(reason) } else { None }
        }
        None => {
            for key in notified.scan_prefix(stopped_key(tenant, flow, "")).keys() {
                notified.remove(key?)?;
            }
            None
        }
    };

    let mut failed = Vec::new();
    for letter in store.dead_letters(tenant)?.into_iter().filter(|letter| letter.flow == flow) {
        if unreported(dead_letter_key(tenant, &letter))? {
            failed.push(letter);
        }
    }
    let mut conflicts = Vec::new();
    for conflict in store.conflicts(tenant)?.into_iter().filter(|conflict| conflict.flow == flow) {
        if unreported(conflict_key(tenant, &conflict))? {
            conflicts.push(conflict);
        }
    }
    let mut open_link_proposals = Vec::new();
    for proposal in store.link_proposals(tenant)?.into_iter().filter(|proposal| proposal.status == ProposalStatus::Open) {
        if unreported(proposal_key(tenant, &proposal))? {
            open_link_proposals.push(proposal);
        }
    }
    Ok(Digest { tenant: tenant.to_owned(), flow: flow.to_owned(), run_id, stopped, failed, conflicts, open_link_proposals })
}

/// Records that `digest` reached the admins, so no later digest repeats it.
pub fn mark_reported(store: &Store, digest: &Digest) -> Result<(), StoreError> {
    let notified = store.tree(NOTIFIED_TREE)?;
    let tenant = digest.tenant.as_str();
    let mut batch = sled::Batch::default();
    if let Some(reason) = &digest.stopped {
        batch.insert(stopped_key(tenant, &digest.flow, reason), &[]);
    }
    for letter in &digest.failed {
        batch.insert(dead_letter_key(tenant, letter), &[]);
    }
    for conflict in &digest.conflicts {
        batch.insert(conflict_key(tenant, conflict), &[]);
    }
    for proposal in &digest.open_link_proposals {
        batch.insert(proposal_key(tenant, proposal), &[]);
    }
    notified.apply_batch(batch)?;
    store.flush()
}

fn stopped_key(tenant: &str, flow: &str, reason: &str) -> Vec<u8> {
    compound_key(tenant, &["stopped", flow, reason])
}

fn dead_letter_key(tenant: &str, letter: &DeadLetter) -> Vec<u8> {
    let first_failed = letter.first_failed.as_microsecond().to_string();
    compound_key(tenant, &["dead-letter", &letter.flow, &letter.record, &first_failed])
}

fn conflict_key(tenant: &str, conflict: &Conflict) -> Vec<u8> {
    let detected = conflict.detected.as_microsecond().to_string();
    let field = conflict.field.as_deref().unwrap_or("");
    compound_key(tenant, &["conflict", &conflict.flow, &conflict.record, field, &detected])
}

fn proposal_key(tenant: &str, proposal: &LinkProposal) -> Vec<u8> {
    compound_key(tenant, &["link-proposal", proposal.kind.as_str(), &proposal.leaflink_key])
}

/// Sends `digest` to the tenant's `notify` target, once. Errors are logged
/// and returned as `NotDelivered`, because a failed notification must not fail
/// the run it reports on.
pub async fn deliver(notify: Option<&str>, digest: &Digest, mailer: Option<&Mailer>) -> Delivery {
    let Some(target) = notify.map(str::trim).filter(|target| !target.is_empty()) else {
        return Delivery::Nothing;
    };
    if digest.is_empty() {
        return Delivery::Nothing;
    }
    let span = tracing::info_span!("notify", tenant = %digest.tenant, flow = %digest.flow, run_id = %digest.run_id);
    let _entered = span.enter();

    if !(target.starts_with("https://") || target.starts_with("http://")) {
        if let Some(mailer) = mailer {
            return mailer.send(target, digest).await;
        }
        let reason = format!("not delivered: no mail transport configured (set {SMTP_URL_ENV} and {SMTP_FROM_ENV})");
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
    inner: Arc<R>,
    store: Store,
    mailer: Option<Arc<Mailer>>,
}

impl<R: crate::schedule::FlowRunner> NotifyingRunner<R> {
    pub fn new(inner: R, store: Store, mailer: Option<Arc<Mailer>>) -> Self {
        Self { inner: Arc::new(inner), store, mailer }
    }
}

impl<R: crate::schedule::FlowRunner> crate::schedule::FlowRunner for NotifyingRunner<R> {
    fn run(&self, tenant: &str, flow: &str, trigger: crate::schedule::Trigger) -> crate::schedule::RunFuture {
        let inner = self.inner.clone();
        let store = self.store.clone();
        let mailer = self.mailer.clone();
        let (tenant, flow) = (tenant.to_owned(), flow.to_owned());
        Box::pin(async move {
            let result = inner.run(&tenant, &flow, trigger).await;
            notify_after_run(&store, &tenant, &flow, mailer.as_deref()).await;
            result
        })
    }
}

/// Collects and delivers the digest of the latest run of `flow`, and marks
/// what it reported once it was delivered. A store error is logged and
/// returned as `NotDelivered`, because the run itself already finished. What
/// was not delivered goes into the next digest.
pub async fn notify_after_run(store: &Store, tenant: &str, flow: &str, mailer: Option<&Mailer>) -> Delivery {
    let settings = store.tenants().map_err(crate::store::tenants::TenantError::from).and_then(|tenants| tenants.get(tenant));
    let notify = match settings {
        Ok(Some(settings)) => settings.notify,
        Ok(None) => return Delivery::Nothing,
        Err(error) => return not_delivered(format!("tenant {tenant}: cannot read the settings: {error}")),
    };
    let digest = match collect(store, tenant, flow) {
        Ok(digest) => digest,
        Err(error) => return not_delivered(format!("tenant {tenant}, flow {flow}: cannot collect the digest: {error}")),
    };
    let delivery = deliver(notify.as_deref(), &digest, mailer).await;
    if matches!(delivery, Delivery::Webhook(_) | Delivery::Email)
        && let Err(error) = mark_reported(store, &digest)
    {
        tracing::warn!(tenant, flow, %error, "the digest was delivered but cannot be marked as reported; the next digest repeats it");
    }
    delivery
}
