//! Dead letters: records a flow could not process, with the reason in words
//! and when to try again. A later success of the same record removes it.

use serde::{Deserialize, Serialize};

use super::records::{DEAD_LETTERS_TREE, compound_key, get_json, put_json, scan_json};
use super::{Store, StoreError};

/// First retry delay; each further attempt doubles it, up to `MAX_RETRY_DELAY`.
const FIRST_RETRY_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);
const MAX_RETRY_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub flow: String,
    /// The record's key, e.g. "order 6f1c..." or "sku ABC-1".
    pub record: String,
    pub reason: String,
    pub attempts: u32,
    pub first_failed: jiff::Timestamp,
    pub next_retry: jiff::Timestamp,
    /// Whether the last failure may pass on a rerun without any change (a
    /// timeout, a 5xx). Flows retry such records on every run; the others
    /// wait for `next_retry`. Dead letters stored before this field existed
    /// read as not transient.
    #[serde(default)]
    pub transient: bool,
}

impl Store {
    /// Adds a dead letter for a failure a rerun alone will not fix, or, when
    /// the record already has one, counts another attempt and pushes the next
    /// retry back.
    pub fn record_dead_letter(&self, tenant: &str, flow: &str, record: &str, reason: &str) -> Result<DeadLetter, StoreError> {
        self.record_failure(tenant, flow, record, reason, false)
    }

    /// `record_dead_letter` with whether the failure is `transient`.
    pub fn record_failure(
        &self,
        tenant: &str,
        flow: &str,
        record: &str,
        reason: &str,
        transient: bool,
    ) -> Result<DeadLetter, StoreError> {
        let tree = self.tree(DEAD_LETTERS_TREE)?;
        let key = compound_key(tenant, &[flow, record]);
        let now = jiff::Timestamp::now();
        let previous: Option<DeadLetter> = get_json(&tree, &key)?;
        let attempts = previous.as_ref().map_or(1, |letter| letter.attempts.saturating_add(1));
        let delay = FIRST_RETRY_DELAY
            .checked_mul(1i32 << (attempts - 1).min(10))
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY);
        let letter = DeadLetter {
            flow: flow.to_owned(),
            record: record.to_owned(),
            reason: reason.to_owned(),
            attempts,
            first_failed: previous.map_or(now, |letter| letter.first_failed),
            next_retry: now.checked_add(delay).unwrap_or(now),
            transient,
        };
        put_json(&tree, &key, &letter)?;
        Ok(letter)
    }

    /// Removes the dead letter of a record, if any; flows call it when the
    /// record succeeds. Returns whether there was one.
    pub fn clear_dead_letter(&self, tenant: &str, flow: &str, record: &str) -> Result<bool, StoreError> {
        let tree = self.tree(DEAD_LETTERS_TREE)?;
        Ok(tree.remove(compound_key(tenant, &[flow, record]))?.is_some())
    }

    pub fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let tree = self.tree(DEAD_LETTERS_TREE)?;
        scan_json(&tree, &compound_key(tenant, &[""]))
    }
}
