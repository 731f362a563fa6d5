//! The open work and the last runs of one tenant, as `leafbridge status` and
//! the admin API's status endpoint report them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{OpenRun, ProposalStatus, RunRecord, Store, StoreError};

/// The state of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub dead_letters: usize,
    pub conflicts: usize,
    pub open_link_proposals: usize,
    /// The latest run of each flow that ran, by flow name.
    pub last_runs: BTreeMap<String, RunRecord>,
    /// Runs in progress with their counts as last saved. Only a process
    /// that runs flows while others read its store (`serve`) shows any.
    #[serde(default)]
    pub running: Vec<OpenRun>,
}

/// Collects the counts and last runs of `tenant` from the store.
pub fn tenant_status(store: &Store, tenant: &str) -> Result<TenantStatus, StoreError> {
    let mut last_runs = BTreeMap::new();
    // Runs are stored oldest first, so the last one per flow wins.
    for run in store.runs(tenant)? {
        last_runs.insert(run.flow.clone(), run);
    }
    let open_link_proposals =
        store.link_proposals(tenant)?.iter().filter(|proposal| proposal.status == ProposalStatus::Open).count();
    Ok(TenantStatus {
        tenant: tenant.to_owned(),
        dead_letters: store.dead_letters(tenant)?.len(),
        conflicts: store.conflicts(tenant)?.len(),
        open_link_proposals,
        last_runs,
        running: store.open_runs(tenant)?,
    })
}
