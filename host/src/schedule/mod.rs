//! Per-tenant flow schedules: how often each flow runs (`--every 15m` or a
//! five-field cron expression evaluated in the tenant's time zone), whether it
//! is paused, and when it is next due. The scheduler that acts on them lives
//! in `scheduler`.

pub mod scheduler;

use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, tenant_key};
use crate::tenant::{ProductMaster, TenantSettings};

pub use scheduler::{FlowRunner, RunFuture, RunOutcome, RunResult, Scheduler, SchedulerLimits, Trigger, TriggerResult};

/// The tree that contains one `ScheduleEntry` per tenant and flow.
pub const SCHEDULES_TREE: &str = "schedules";

/// Every flow that can be scheduled, run on demand through the admin API or
/// run with `leafbridge run`, by the name the CLI, logs and metrics use. It
/// lists `Flow::ALL` in order, which a unit test checks, so the three entry
/// points accept the same flows.
pub const FLOWS: [&str; 11] = [
    "link",
    "orders-import",
    "customers-import",
    "products-export",
    "products-import",
    "products-push",
    "products-pull",
    "orders-push",
    "orders-pull",
    "inventory-push",
    "payments-push",
];

/// The shortest accepted interval; shorter ones would spend the APIs' rate
/// limits on polling.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest accepted interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(31 * 24 * 3600);
/// The largest random delay added to a due time, so tenants that share a
/// cadence do not all call the APIs in the same second.
pub const MAX_JITTER: Duration = Duration::from_secs(30);

/// Errors of schedule parsing and storage.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown flow {0:?}; expected one of: {flows}", flows = FLOWS.join(", "))]
    UnknownFlow(String),
    #[error("flow {flow} cannot run for tenant {tenant}: product_master is {master}, so {reason}")]
    ProductMaster { tenant: String, flow: String, master: &'static str, reason: &'static str },
    #[error("invalid interval {value:?}: {reason}")]
    Interval { value: String, reason: String },
    #[error("invalid cron expression {value:?}: {reason}")]
    Cron { value: String, reason: String },
    #[error("tenant {tenant} has no schedule for flow {flow}; add one with `leafbridge schedule set`")]
    NotFound { tenant: String, flow: String },
    #[error("time zone {0:?} of the tenant is unknown")]
    TimeZone(String),
    #[error("the schedule never fires again after {0}")]
    NeverFires(jiff::Timestamp),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for ScheduleError {
    fn from(error: sled::Error) -> Self {
        Self::Store(StoreError::Sled(error))
    }
}

/// Checks that `flow` is a known flow that may run under the tenant's
/// `product_master`: exactly one side creates products.
pub fn check_flow(settings: &TenantSettings, flow: &str) -> Result<(), ScheduleError> {
    if !FLOWS.contains(&flow) {
        return Err(ScheduleError::UnknownFlow(flow.to_owned()));
    }
    let conflict = match (flow, settings.product_master) {
        ("products-export", ProductMaster::LeafLink) => {
            Some(("leaflink", "products are created in LeafLink and imported by products-import"))
        }
        ("products-import", ProductMaster::BusinessCentral) => {
            Some(("business-central", "products are created in Business Central and exported by products-export"))
        }
        _ => None,
    };
    match conflict {
        Some((master, reason)) => Err(ScheduleError::ProductMaster {
            tenant: settings.name.clone(),
            flow: flow.to_owned(),
            master,
            reason,
        }),
        None => Ok(()),
    }
}

/// How often a flow runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cadence {
    /// A fixed interval between the starts of two runs.
    Every { seconds: u64 },
    /// A five-field cron expression (minute hour day-of-month month
    /// day-of-week) in the tenant's time zone.
    Cron { expression: String },
}

impl Cadence {
    /// Parses an interval such as `15m`, `2h` or `1h30m`.
    pub fn every(text: &str) -> Result<Self, ScheduleError> {
        let invalid = |reason: String| ScheduleError::Interval { value: text.to_owned(), reason };
        let duration = jiff::SignedDuration::from_str(text.trim()).map_err(|_| {
            invalid("expected a number with a unit, such as 15m, 2h or 24h".to_owned())
        })?;
        let duration = Duration::try_from(duration).map_err(|_| invalid("the interval must be positive".to_owned()))?;
        if duration < MIN_INTERVAL || duration > MAX_INTERVAL {
            return Err(invalid("the interval must be between 1 minute and 31 days".to_owned()));
        }
        Ok(Cadence::Every { seconds: duration.as_secs() })
    }

    /// Parses a standard five-field cron expression. Day-of-week must be `*`
    /// or names (`MON-FRI`): the cron library numbers Sunday 1 where crontab
    /// numbers it 0, so a number there would silently mean another day.
    pub fn cron(text: &str) -> Result<Self, ScheduleError> {
        let expression = text.split_whitespace().collect::<Vec<_>>().join(" ");
        parse_cron(&expression)?;
        Ok(Cadence::Cron { expression })
    }

    /// Computes the first due time strictly after `after`, in the tenant's time zone.
    pub fn next_after(&self, time_zone: &str, after: jiff::Timestamp) -> Result<jiff::Timestamp, ScheduleError> {
        match self {
            Cadence::Every { seconds } => {
                let step = jiff::SignedDuration::from_secs(i64::try_from(*seconds).unwrap_or(i64::MAX));
                after.checked_add(step).map_err(|_| ScheduleError::NeverFires(after))
            }
            Cadence::Cron { expression } => {
                let schedule = parse_cron(expression)?;
                let zone = jiff::tz::TimeZone::get(time_zone).map_err(|_| ScheduleError::TimeZone(time_zone.to_owned()))?;
                schedule
                    .after(after.to_zoned(zone))
                    .next()
                    .map(|zoned| zoned.timestamp())
                    .ok_or(ScheduleError::NeverFires(after))
            }
        }
    }

    /// Returns the nominal gap between runs, used to size the jitter.
    fn nominal_interval(&self) -> Duration {
        match self {
            Cadence::Every { seconds } => Duration::from_secs(*seconds),
            Cadence::Cron { .. } => MIN_INTERVAL,
        }
    }
}

impl std::fmt::Display for Cadence {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cadence::Every { seconds } => {
                let span = jiff::SignedDuration::from_secs(i64::try_from(*seconds).unwrap_or(i64::MAX));
                write!(formatter, "every {span:#}")
            }
            Cadence::Cron { expression } => write!(formatter, "cron {expression}"),
        }
    }
}

fn parse_cron(expression: &str) -> Result<jiff_cron::Schedule, ScheduleError> {
    let invalid = |reason: &str| ScheduleError::Cron { value: expression.to_owned(), reason: reason.to_owned() };
    let fields: Vec<&str> = expression.split(' ').collect();
    if fields.len() != 5 {
        return Err(invalid("expected five fields: minute hour day-of-month month day-of-week"));
    }
    if fields[4].bytes().any(|byte| byte.is_ascii_digit()) {
        return Err(invalid("write day-of-week as names (MON-FRI, SUN) or *, not numbers"));
    }
    // jiff-cron expects a leading seconds field. Its error text repeats that
    // longer expression with a caret line and reads "less than 59" for a
    // limit that includes 59, so only its last line is kept, reworded.
    jiff_cron::Schedule::from_str(&format!("0 {expression}")).map_err(|error| {
        let text = error.to_string();
        let reason = text.lines().last().unwrap_or_default().replace("must be less than ", "must be at most ");
        invalid(&reason)
    })
}

/// One flow's schedule for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    pub tenant: String,
    pub flow: String,
    pub cadence: Cadence,
    pub paused: bool,
    /// When the scheduler next starts the flow. A time in the past means the
    /// flow is due now because the host ran late or was down, and it runs once.
    pub next_due: jiff::Timestamp,
    pub last_started: Option<jiff::Timestamp>,
}

/// The schedules of every tenant.
#[derive(Debug, Clone)]
pub struct Schedules {
    tree: sled::Tree,
}

impl Store {
    /// Opens the schedule table of this store.
    pub fn schedules(&self) -> Result<Schedules, StoreError> {
        Ok(Schedules { tree: self.tree(SCHEDULES_TREE)? })
    }
}

impl Schedules {
    /// Sets (or replaces) the cadence of a flow and computes its next due time.
    /// A replaced schedule keeps its paused state.
    pub fn set(
        &self,
        settings: &TenantSettings,
        flow: &str,
        cadence: Cadence,
        now: jiff::Timestamp,
    ) -> Result<ScheduleEntry, ScheduleError> {
        check_flow(settings, flow)?;
        let previous = self.get(&settings.name, flow)?;
        let next_due = next_due_with_jitter(&cadence, &settings.time_zone, now)?;
        let entry = ScheduleEntry {
            tenant: settings.name.clone(),
            flow: flow.to_owned(),
            cadence,
            paused: previous.as_ref().is_some_and(|entry| entry.paused),
            next_due,
            last_started: previous.and_then(|entry| entry.last_started),
        };
        self.put(&entry)?;
        Ok(entry)
    }

    /// Lists the schedules of one tenant, or of all tenants.
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<ScheduleEntry>, ScheduleError> {
        let entries = match tenant {
            Some(tenant) => self.tree.scan_prefix(tenant_key(tenant, "")),
            None => self.tree.iter(),
        };
        let mut schedules = Vec::new();
        for entry in entries {
            let (key, value) = entry?;
            schedules.push(decode(&key, &value)?);
        }
        Ok(schedules)
    }

    pub fn get(&self, tenant: &str, flow: &str) -> Result<Option<ScheduleEntry>, ScheduleError> {
        let key = tenant_key(tenant, flow);
        match self.tree.get(&key)? {
            Some(value) => Ok(Some(decode(&key, &value)?)),
            None => Ok(None),
        }
    }

    /// Pauses or resumes a flow. Resuming computes a fresh due time from
    /// `now`, so a long pause does not release a burst of missed runs.
    pub fn set_paused(
        &self,
        settings: &TenantSettings,
        flow: &str,
        paused: bool,
        now: jiff::Timestamp,
    ) -> Result<ScheduleEntry, ScheduleError> {
        let mut entry = self
            .get(&settings.name, flow)?
            .ok_or_else(|| ScheduleError::NotFound { tenant: settings.name.clone(), flow: flow.to_owned() })?;
        if entry.paused && !paused {
            entry.next_due = next_due_with_jitter(&entry.cadence, &settings.time_zone, now)?;
        }
        entry.paused = paused;
        self.put(&entry)?;
        Ok(entry)
    }

    /// Records that a scheduled run started at `started` and moves the due
    /// time to the first slot after it. However many slots were missed while
    /// the host was down, the next due time is in the future, so they
    /// collapse into the one run that is starting now.
    pub fn mark_started(
        &self,
        settings: &TenantSettings,
        flow: &str,
        started: jiff::Timestamp,
    ) -> Result<Option<ScheduleEntry>, ScheduleError> {
        let Some(mut entry) = self.get(&settings.name, flow)? else {
            return Ok(None);
        };
        entry.last_started = Some(started);
        entry.next_due = next_due_with_jitter(&entry.cadence, &settings.time_zone, started)?;
        self.put(&entry)?;
        Ok(Some(entry))
    }

    /// Entries that are not paused and due at `now`.
    pub fn due(&self, now: jiff::Timestamp) -> Result<Vec<ScheduleEntry>, ScheduleError> {
        Ok(self.list(None)?.into_iter().filter(|entry| !entry.paused && entry.next_due <= now).collect())
    }

    /// Deletes a flow's schedule; returns whether there was one.
    pub fn remove(&self, tenant: &str, flow: &str) -> Result<bool, ScheduleError> {
        let removed = self.tree.remove(tenant_key(tenant, flow))?.is_some();
        self.tree.flush()?;
        Ok(removed)
    }

    fn put(&self, entry: &ScheduleEntry) -> Result<(), ScheduleError> {
        let key = tenant_key(&entry.tenant, &entry.flow);
        let value = serde_json::to_vec(entry).map_err(|error| StoreError::Corrupt {
            key: format!("{SCHEDULES_TREE}/{}/{}", entry.tenant, entry.flow),
            reason: error.to_string(),
        })?;
        self.tree.insert(key, value)?;
        self.tree.flush()?;
        Ok(())
    }
}

fn next_due_with_jitter(cadence: &Cadence, time_zone: &str, after: jiff::Timestamp) -> Result<jiff::Timestamp, ScheduleError> {
    let slot = cadence.next_after(time_zone, after)?;
    let bound = (cadence.nominal_interval() / 10).min(MAX_JITTER);
    let jitter_millis = rand::rng().random_range(0..=bound.as_millis().max(1) as i64);
    Ok(slot.checked_add(jiff::SignedDuration::from_millis(jitter_millis)).unwrap_or(slot))
}

fn decode(key: &[u8], value: &[u8]) -> Result<ScheduleEntry, StoreError> {
    serde_json::from_slice(value).map_err(|error| StoreError::Corrupt {
        key: format!("{SCHEDULES_TREE}/{}", String::from_utf8_lossy(key).replace('\0', "/")),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_match_flow_enum() {
        let names: Vec<&str> = crate::flows::Flow::ALL.iter().map(|flow| flow.name()).collect();
        assert_eq!(FLOWS.to_vec(), names);
    }

    #[test]
    fn every_parses_friendly_units() {
        assert_eq!(Cadence::every("15m").unwrap(), Cadence::Every { seconds: 900 });
        assert_eq!(Cadence::every("1h30m").unwrap(), Cadence::Every { seconds: 5400 });
        assert_eq!(Cadence::every("24h").unwrap(), Cadence::Every { seconds: 86_400 });
        assert!(Cadence::every("10s").is_err());
        assert!(Cadence::every("-5m").is_err());
        assert!(Cadence::every("soon").is_err());
    }

    #[test]
    fn every_without_unit_fails() {
        let error = Cadence::every("5").unwrap_err().to_string();
        assert_eq!(error, r#"invalid interval "5": expected a number with a unit, such as 15m, 2h or 24h"#);
    }

    #[test]
    fn cron_rejects_numeric_weekdays() {
        assert!(Cadence::cron("0 */2 * * *").is_ok());
        assert!(Cadence::cron("30 6 * * MON-FRI").is_ok());
        assert!(Cadence::cron("30 6 * * 1-5").is_err());
        assert!(Cadence::cron("0 0 * *").is_err());
    }

    #[test]
    fn cron_error_one_line() {
        let error = Cadence::cron("61 * * * *").unwrap_err().to_string();
        assert_eq!(error, r#"invalid cron expression "61 * * * *": Minutes must be at most 59. ('61' specified.)"#);
    }

    #[test]
    fn cron_uses_tenant_time_zone() {
        let cadence = Cadence::cron("0 6 * * *").unwrap();
        let after: jiff::Timestamp = "2025-01-15T00:00:00Z".parse().unwrap();
        let next = cadence.next_after("America/Los_Angeles", after).unwrap();
        // 06:00 in Los Angeles in January is 14:00 UTC (PST, UTC-8).
        assert_eq!(next, "2025-01-15T14:00:00Z".parse::<jiff::Timestamp>().unwrap());
    }
}
