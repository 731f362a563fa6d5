//! Run history: one record per flow run with its counts and outcome, and a
//! marker for each run in progress, so that a run whose process was killed
//! still leaves a record.

use serde::{Deserialize, Serialize};

use super::records::{OPEN_RUNS_TREE, RUNS_TREE, compound_key, put_json, scan_json};
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
    /// The run was cut off (Ctrl-C, SIGTERM, a kill, a crash, or serve's
    /// drain ended), so it never wrote its own record. `run`, serve or the
    /// next `Store::open` writes it. What the run saved page by page is kept.
    Interrupted,
}

/// A run in progress, as last saved: written when the run begins, updated
/// as it reads, removed when its run record is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRun {
    pub id: String,
    pub tenant: String,
    pub flow: String,
    pub started: jiff::Timestamp,
    /// When the counts were last saved.
    pub updated: jiff::Timestamp,
    pub counts: RunCounts,
}

/// The reason an interrupted run's record gives.
const INTERRUPTED_REASON: &str = "the run ended before it finished (Ctrl-C, a kill, a crash or a shutdown); \
     the counts are those last saved, and the next run resumes from the cursor";

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
        put_json(&self.tree(RUNS_TREE)?, &run_key(&run.tenant, run.started, &run.id), run)?;
        self.tree(OPEN_RUNS_TREE)?.remove(compound_key(&run.tenant, &[&run.id]))?;
        Ok(())
    }

    /// Saves `run` as in progress, when it begins and as it reads. sled 0.34
    /// writes it to disk within half a second (its default flush interval).
    pub fn run_progress(&self, run: &OpenRun) -> Result<(), StoreError> {
        put_json(&self.tree(OPEN_RUNS_TREE)?, &compound_key(&run.tenant, &[&run.id]), run)
    }

    /// Runs of `tenant` in progress, oldest first by start.
    pub fn open_runs(&self, tenant: &str) -> Result<Vec<OpenRun>, StoreError> {
        let mut runs: Vec<OpenRun> = scan_json(&self.tree(OPEN_RUNS_TREE)?, &compound_key(tenant, &[""]))?;
        runs.sort_by_key(|run| run.started);
        Ok(runs)
    }

    /// Turns every run still marked in progress into a run record with
    /// outcome `Interrupted`, and returns how many there were. Callers:
    /// `Store::open` (the store's lock keeps every other process out), `run`
    /// after Ctrl-C, and serve at the end of its drain, where a run that
    /// still finishes replaces the record with its own (same key).
    pub fn record_interrupted_runs(&self) -> Result<usize, StoreError> {
        let open = self.tree(OPEN_RUNS_TREE)?;
        let runs = self.tree(RUNS_TREE)?;
        let mut interrupted = 0;
        for entry in open.iter() {
            let (key, bytes) = entry?;
            // A marker that does not decode is dropped rather than kept
            // forever: it can only describe a run that is over.
            if let Ok(run) = serde_json::from_slice::<OpenRun>(&bytes) {
                let record_key = run_key(&run.tenant, run.started, &run.id);
                // A crash between writing the record and removing the marker
                // leaves both, and then the record is the truth.
                if !runs.contains_key(&record_key)? {
                    let record = RunRecord {
                        id: run.id,
                        tenant: run.tenant,
                        flow: run.flow,
                        started: run.started,
                        finished: run.updated,
                        counts: run.counts,
                        outcome: RunOutcome::Interrupted,
                        reason: Some(INTERRUPTED_REASON.to_owned()),
                    };
                    put_json(&runs, &record_key, &record)?;
                    interrupted += 1;
                }
            }
            open.remove(key)?;
        }
        Ok(interrupted)
    }

    pub fn runs(&self, tenant: &str) -> Result<Vec<RunRecord>, StoreError> {
        let tree = self.tree(RUNS_TREE)?;
        scan_json(&tree, &compound_key(tenant, &[""]))
    }
}

/// Keys sort by start time, so a scan lists a tenant's runs oldest first.
fn run_key(tenant: &str, started: jiff::Timestamp, id: &str) -> Vec<u8> {
    let started = started.as_microsecond().to_string();
    compound_key(tenant, &[&format!("{started:0>20}"), id])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_run(id: &str, read: u64) -> OpenRun {
        let started: jiff::Timestamp = "2026-12-05T10:00:00Z".parse().unwrap();
        OpenRun {
            id: id.to_owned(),
            tenant: "acme".to_owned(),
            flow: "orders-import".to_owned(),
            started,
            updated: started + jiff::SignedDuration::from_secs(30),
            counts: RunCounts { read, ..RunCounts::default() },
        }
    }

    #[test]
    fn unfinished_run_recorded_as_interrupted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap().run_progress(&open_run("killed", 700)).unwrap();

        let store = Store::open(dir.path()).unwrap();
        let runs = store.runs("acme").unwrap();
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0].id, "killed");
        assert_eq!(runs[0].outcome, RunOutcome::Interrupted);
        assert_eq!(runs[0].counts.read, 700);
        assert_eq!(runs[0].finished, open_run("killed", 700).updated);
        assert!(store.tree(OPEN_RUNS_TREE).unwrap().is_empty());
    }

    #[test]
    fn finished_run_keeps_its_record() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let begun = open_run("finished", 5);
            store.run_progress(&begun).unwrap();
            let record = RunRecord {
                id: begun.id.clone(),
                tenant: begun.tenant.clone(),
                flow: begun.flow.clone(),
                started: begun.started,
                finished: begun.updated,
                counts: RunCounts { read: 9, ..RunCounts::default() },
                outcome: RunOutcome::Done,
                reason: None,
            };
            // As if the process died between the record and the marker's removal.
            put_json(&store.tree(RUNS_TREE).unwrap(), &run_key("acme", begun.started, "finished"), &record).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let runs = store.runs("acme").unwrap();
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0].outcome, RunOutcome::Done);
        assert_eq!(runs[0].counts.read, 9);
        assert!(store.tree(OPEN_RUNS_TREE).unwrap().is_empty());
    }
}
