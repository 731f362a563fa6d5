//! Link proposals: pairs `link` found but would not make on its own (several
//! candidates, or one that disagrees on a second field). A person accepts or
//! rejects each one.

use serde::{Deserialize, Serialize};

use super::records::{LINK_PROPOSALS_TREE, compound_key, get_json, put_json, scan_json};
use super::xref::RecordKind;
use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalStatus {
    Open,
    Accepted,
    Rejected,
}

/// One BC record that might be the LeafLink record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub bc_id: String,
    pub bc_number: Option<String>,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkProposal {
    pub kind: RecordKind,
    pub leaflink_key: String,
    pub leaflink_name: String,
    pub candidates: Vec<Candidate>,
    /// Why the pair was not linked automatically.
    pub reason: String,
    pub status: ProposalStatus,
}

impl Store {
    /// Returns the proposal for one LeafLink record if it is still open,
    /// waiting for a person.
    pub fn open_link_proposal(&self, tenant: &str, kind: RecordKind, leaflink_key: &str) -> Result<Option<LinkProposal>, StoreError> {
        let tree = self.tree(LINK_PROPOSALS_TREE)?;
        let proposal: Option<LinkProposal> = get_json(&tree, &compound_key(tenant, &[kind.as_str(), leaflink_key]))?;
        Ok(proposal.filter(|proposal| proposal.status == ProposalStatus::Open))
    }

    /// Records a proposal unless a person already decided on it.
    pub fn propose_link(&self, tenant: &str, proposal: &LinkProposal) -> Result<(), StoreError> {
        let tree = self.tree(LINK_PROPOSALS_TREE)?;
        let key = compound_key(tenant, &[proposal.kind.as_str(), &proposal.leaflink_key]);
        let existing: Option<LinkProposal> = get_json(&tree, &key)?;
        if existing.is_some_and(|existing| existing.status != ProposalStatus::Open) {
            return Ok(());
        }
        put_json(&tree, &key, proposal)
    }

    pub fn link_proposals(&self, tenant: &str) -> Result<Vec<LinkProposal>, StoreError> {
        let tree = self.tree(LINK_PROPOSALS_TREE)?;
        scan_json(&tree, &compound_key(tenant, &[""]))
    }

    /// Sets the status of one proposal; returns it, or none when there is none.
    pub fn decide_link_proposal(
        &self,
        tenant: &str,
        kind: RecordKind,
        leaflink_key: &str,
        status: ProposalStatus,
    ) -> Result<Option<LinkProposal>, StoreError> {
        let tree = self.tree(LINK_PROPOSALS_TREE)?;
        let key = compound_key(tenant, &[kind.as_str(), leaflink_key]);
        let Some(mut proposal): Option<LinkProposal> = get_json(&tree, &key)? else {
            return Ok(None);
        };
        proposal.status = status;
        put_json(&tree, &key, &proposal)?;
        Ok(Some(proposal))
    }
}
