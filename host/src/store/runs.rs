//! Run history: one record per flow run with its counts and outcome.

use serde::{Deserialize, Serialize};

use super::records::{RUNS_TREE, compound_key, put_json, scan_json};
use super::{Store, StoreError};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Records read from the source side.
    pub read: u64,
    /// Records created or updated on the target side.
    pub written: u64,
    /// Records that needed nothing (unchanged, echoes, already present).
    pub skipped: u64,
    /// Records sent to dead letters.
    pub failed: u64,
    /// Customers and items created or updated for the flow's own records and
    /// not counted in `written` (orders-import creates an order's new
    /// customer and items before the order).
    #[serde(default)]
    pub related_written: u64,
    pub requests_leaflink: u64,
    pub requests_business_central: u64,
}

impl RunCounts {
    pub fn add(&mut self, other: &RunCounts) {
        self.read += other.read;
        self.written += other.written;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.related_written += other.related_written;
        self.requests_leaflink += other.requests_leaflink;
        self.requests_business_central += other.requests_business_central;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Every record was processed; failures, if any, are in dead letters.
    Done,
    /// Every record was read, but some failed in a way a rerun may fix
    /// (network, remote 5xx, timeouts); their dead letters name them.
    Incomplete,
    /// The run stopped early; the cursor marks where the next run resumes.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub tenant: String,
    pub flow: String,
    pub started: jiff::Timestamp,
    pub finished: jiff::Timestamp,
    pub counts: RunCounts,
    pub outcome: RunOutcome,
    /// Why the run stopped, for `Stopped`.
    pub reason: Option<String>,
}

impl Store {
    pub fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let tree = self.tree(RUNS_TREE)?;
        // Keys sort by start time, so a scan lists runs oldest first.
        let started = run.started.as_microsecond().to_string();
        put_json(&tree, &compound_key(&run.tenant, &[&format!("{started:0>20}"), &run.id]), run)
    }

    pub fn runs(&self, tenant: &str) -> Result<Vec<RunRecord>, StoreError> {
        let tree = self.tree(RUNS_TREE)?;
        scan_json(&tree, &compound_key(tenant, &[""]))
    }
}
