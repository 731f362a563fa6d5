//! The scheduler inside `leafbridge serve`: starts due flows, on-demand runs
//! and webhook-triggered runs, so that two runs of one tenant and flow never
//! overlap and concurrent runs stay under a per-tenant and an overall bound.
//!
//! A trigger that arrives while the same tenant and flow is running is
//! coalesced: the running flow is followed by exactly one more run, however
//! many triggers came in, so a burst of webhooks costs one extra run.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tracing::{Instrument, error, info, info_span, warn};

use crate::serve::metrics::Metrics;
use crate::store::Store;

/// The cause of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Schedule,
    OnDemand,
    Webhook,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::OnDemand => "on-demand",
            Trigger::Webhook => "webhook",
        }
    }
}

/// Record counts of one finished run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    /// The id of the run's record in the store, when the runner keeps one.
    pub run_id: Option<String>,
    pub read: u64,
    pub written: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// The result of one run as a client waiting for it receives it.
pub type RunResult = Result<RunOutcome, String>;

/// The future of one flow run; the error is a readable reason.
pub type RunFuture = Pin<Box<dyn Future<Output = Result<RunOutcome, String>> + Send>>;

/// Runs one flow for one tenant. `leafbridge serve` plugs in the flow engine;
/// tests plug in a recorder.
pub trait FlowRunner: Send + Sync + 'static {
    fn run(&self, tenant: &str, flow: &str, trigger: Trigger) -> RunFuture;
}

/// Bounds on concurrent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerLimits {
    /// Runs in progress across all tenants.
    pub max_concurrent_runs: usize,
    /// Runs in progress for one tenant. Independently of this bound, `trigger`
    /// keeps each flow of a tenant to one run at a time.
    pub max_concurrent_runs_per_tenant: usize,
}

impl Default for SchedulerLimits {
    /// Eight runs overall and two per tenant. Runs mostly wait on the two
    /// APIs, whose rate limits are per tenant, so a third run of one tenant
    /// would mostly queue behind the first two anyway.
    fn default() -> Self {
        Self { max_concurrent_runs: 8, max_concurrent_runs_per_tenant: 2 }
    }
}

/// The result of `trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerResult {
    /// A run was started (it may still wait for a free slot).
    Started,
    /// The flow is already running; one more run follows it.
    Queued,
    /// The scheduler is shutting down and starts nothing new.
    ShuttingDown,
}

#[derive(Debug, Default)]
struct ActiveRun {
    /// A trigger that arrived during the run; it starts one more run after it.
    rerun: Option<Trigger>,
    /// Clients waiting for the result of the run in progress.
    waiting: Vec<oneshot::Sender<RunResult>>,
    /// Clients waiting for the result of the queued run.
    waiting_for_rerun: Vec<oneshot::Sender<RunResult>>,
}

struct Inner {
    runner: Arc<dyn FlowRunner>,
    limits: SchedulerLimits,
    overall: Arc<Semaphore>,
    per_tenant: Mutex<HashMap<String, Arc<Semaphore>>>,
    active: Mutex<HashMap<(String, String), ActiveRun>>,
    in_flight: AtomicUsize,
    idle: Notify,
    shutting_down: AtomicBool,
    metrics: Arc<Metrics>,
}

/// Starts flow runs under the overlap and concurrency rules. Cloning shares
/// the same scheduler.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl Scheduler {
    pub fn new(runner: Arc<dyn FlowRunner>, limits: SchedulerLimits, metrics: Arc<Metrics>) -> Self {
        let limits = SchedulerLimits {
            max_concurrent_runs: limits.max_concurrent_runs.max(1),
            max_concurrent_runs_per_tenant: limits.max_concurrent_runs_per_tenant.max(1),
        };
        Self {
            inner: Arc::new(Inner {
                runner,
                limits,
                overall: Arc::new(Semaphore::new(limits.max_concurrent_runs)),
                per_tenant: Mutex::new(HashMap::new()),
                active: Mutex::new(HashMap::new()),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                shutting_down: AtomicBool::new(false),
                metrics,
            }),
        }
    }

    /// Starts a run of `flow` for `tenant`, or queues one more run after the
    /// one in progress.
    pub fn trigger(&self, tenant: &str, flow: &str, trigger: Trigger) -> TriggerResult {
        self.start(tenant, flow, trigger, None)
    }

    /// `trigger`, and a receiver of the result of the run that starts for it:
    /// the run started now, or the queued one. The receiver reports a closed
    /// channel when serve shuts down before the queued run starts.
    pub fn trigger_and_wait(&self, tenant: &str, flow: &str, trigger: Trigger) -> (TriggerResult, oneshot::Receiver<RunResult>) {
        let (sender, receiver) = oneshot::channel();
        (self.start(tenant, flow, trigger, Some(sender)), receiver)
    }

    fn start(&self, tenant: &str, flow: &str, trigger: Trigger, waiter: Option<oneshot::Sender<RunResult>>) -> TriggerResult {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return TriggerResult::ShuttingDown;
        }
        let key = (tenant.to_owned(), flow.to_owned());
        {
            let mut active = lock(&self.inner.active);
            if let Some(run) = active.get_mut(&key) {
                run.rerun.get_or_insert(trigger);
                run.waiting_for_rerun.extend(waiter);
                return TriggerResult::Queued;
            }
            active.insert(key.clone(), ActiveRun { waiting: waiter.into_iter().collect(), ..ActiveRun::default() });
        }
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(run_until_settled(self.inner.clone(), key, trigger));
        TriggerResult::Started
    }

    /// Reports whether `flow` of `tenant` is running or waiting for a slot.
    pub fn is_active(&self, tenant: &str, flow: &str) -> bool {
        lock(&self.inner.active).contains_key(&(tenant.to_owned(), flow.to_owned()))
    }

    /// Starts every due, unpaused schedule once and moves its due time past
    /// `now`. Returns how many were triggered.
    pub fn start_due(&self, store: &Store, now: jiff::Timestamp) -> Result<usize, super::ScheduleError> {
        let schedules = store.schedules()?;
        let tenants = store.tenants()?;
        let mut triggered = 0;
        for entry in schedules.due(now)? {
            let settings = match tenants.get(&entry.tenant) {
                Ok(Some(settings)) => settings,
                Ok(None) => continue,
                Err(error) => {
                    error!(tenant = %entry.tenant, flow = %entry.flow, %error, "cannot read the tenant of a due schedule");
                    continue;
                }
            };
            // Moving the due time first means a slow or failing run is never
            // started twice for one slot.
            schedules.mark_started(&settings, &entry.flow, now)?;
            if self.trigger(&entry.tenant, &entry.flow, Trigger::Schedule) != TriggerResult::ShuttingDown {
                triggered += 1;
            }
        }
        Ok(triggered)
    }

    /// Checks the schedules every `tick` until `shutdown` turns true.
    pub async fn run_schedules(&self, store: Store, tick: Duration, mut shutdown: watch::Receiver<bool>) {
        info!(tick_ms = tick.as_millis() as u64, "scheduler started");
        loop {
            if let Err(error) = self.start_due(&store, jiff::Timestamp::now()) {
                error!(%error, "cannot start due schedules; retrying at the next tick");
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        info!("scheduler stopped");
    }

    /// Stops accepting triggers and waits up to `timeout` for runs in
    /// progress to finish. Returns how many were still running at the end.
    pub async fn shutdown(&self, timeout: Duration) -> usize {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.idle.notified();
            let in_flight = self.inner.in_flight.load(Ordering::SeqCst);
            if in_flight == 0 {
                return 0;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || tokio::time::timeout(remaining, notified).await.is_err() {
                let left = self.inner.in_flight.load(Ordering::SeqCst);
                warn!(runs = left, "shutdown timed out with runs still in progress");
                return left;
            }
        }
    }

    pub fn limits(&self) -> SchedulerLimits {
        self.inner.limits
    }
}

/// Runs the flow, then any run queued meanwhile, then releases the flow.
async fn run_until_settled(inner: Arc<Inner>, key: (String, String), first: Trigger) {
    let (tenant, flow) = &key;
    let mut trigger = first;
    loop {
        let result = run_once(&inner, tenant, flow, trigger).await;

        let (waiting, settled) = {
            let mut active = lock(&inner.active);
            let Some(run) = active.get_mut(&key) else { break };
            let waiting = std::mem::take(&mut run.waiting);
            match run.rerun.take() {
                Some(queued) if !inner.shutting_down.load(Ordering::SeqCst) => {
                    trigger = queued;
                    run.waiting = std::mem::take(&mut run.waiting_for_rerun);
                    (waiting, false)
                }
                _ => {
                    // Waiters of a queued run that will not start see their
                    // channel close.
                    active.remove(&key);
                    (waiting, true)
                }
            }
        };
        for waiter in waiting {
            let _ = waiter.send(result.clone());
        }
        if settled {
            break;
        }
    }
    if inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
        inner.idle.notify_waiters();
    }
}

async fn run_once(inner: &Arc<Inner>, tenant: &str, flow: &str, trigger: Trigger) -> RunResult {
    let tenant_slots = {
        let mut per_tenant = lock(&inner.per_tenant);
        per_tenant
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(inner.limits.max_concurrent_runs_per_tenant)))
            .clone()
    };
    // The tenant slot is taken before the overall one, so a tenant at its
    // own bound does not hold overall slots other tenants could use.
    let not_started = || Err("serve stopped before the run could start".to_owned());
    let Ok(_tenant_permit) = tenant_slots.acquire_owned().await else { return not_started() };
    let Ok(_overall_permit) = inner.overall.clone().acquire_owned().await else { return not_started() };

    // The flow's own span carries the run id that its run record keeps, so
    // this span names none.
    let span = info_span!("flow_run", tenant = %tenant, flow = %flow, trigger = trigger.as_str());
    let started = Instant::now();
    inner.metrics.run_started();

    // The run is its own task so a panic in a flow fails that run only.
    let run = tokio::spawn(inner.runner.run(tenant, flow, trigger).instrument(span.clone()));
    let result = match run.await {
        Ok(result) => result,
        Err(join_error) => Err(format!("the run panicked or was cancelled: {join_error}")),
    };
    let elapsed = started.elapsed();

    let _entered = span.enter();
    match &result {
        Ok(outcome) => info!(
            run_id = outcome.run_id.as_deref().unwrap_or("none"),
            read = outcome.read,
            written = outcome.written,
            skipped = outcome.skipped,
            failed = outcome.failed,
            elapsed_ms = elapsed.as_millis() as u64,
            "flow run finished"
        ),
        Err(reason) => error!(reason = %reason, elapsed_ms = elapsed.as_millis() as u64, "flow run failed"),
    }
    inner.metrics.run_finished(tenant, flow, result.is_ok(), elapsed);
    if let Ok(outcome) = &result {
        inner.metrics.records(tenant, flow, outcome);
    }
    result
}

/// Locks a mutex whose data stays consistent even if a holder panicked,
/// because every critical section here is a single map operation.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
