//! Changes a person makes to the sync state from the CLI or the admin API:
//! making a dead letter due now, and accepting or rejecting a link proposal.

use super::records::{DEAD_LETTERS_TREE, compound_key, get_json, put_json};
use super::xref::RecordKind;
use super::{Candidate, CrossReference, DeadLetter, LinkProposal, ProposalStatus, Store, StoreError};

impl Store {
    /// Reads the dead letter of one record, if any.
    pub fn dead_letter(&self, tenant: &str, flow: &str, record: &str) -> Result<Option<DeadLetter>, StoreError> {
        let tree = self.tree(DEAD_LETTERS_TREE)?;
        get_json(&tree, &compound_key(tenant, &[flow, record]))
    }

    /// Sets a dead letter's next retry to now, so the next run of its flow
    /// retries the record. Returns the updated letter, or none when the record
    /// has no dead letter.
    pub fn make_dead_letter_due(&self, tenant: &str, flow: &str, record: &str) -> Result<Option<DeadLetter>, StoreError> {
        let tree = self.tree(DEAD_LETTERS_TREE)?;
        let key = compound_key(tenant, &[flow, record]);
        let Some(mut letter): Option<DeadLetter> = get_json(&tree, &key)? else {
            return Ok(None);
        };
        letter.next_retry = jiff::Timestamp::now();
        put_json(&tree, &key, &letter)?;
        Ok(Some(letter))
    }

    /// Finds the link proposal of one LeafLink record, if any.
    pub fn link_proposal(&self, tenant: &str, kind: RecordKind, leaflink_key: &str) -> Result<Option<LinkProposal>, StoreError> {
        Ok(self
            .link_proposals(tenant)?
            .into_iter()
            .find(|proposal| proposal.kind == kind && proposal.leaflink_key == leaflink_key))
    }

    /// Accepts a proposal: pairs the LeafLink record with `candidate` and
    /// marks the proposal accepted.
    ///
    /// NOTE: the new cross-reference has no stored field values, so the first
    /// sync of the pair reads both sides as changed and settles each field by
    /// its owner, as it does for a pair the `link` flow makes.
    pub fn accept_link_proposal(
        &self,
        tenant: &str,
        proposal: &LinkProposal,
        candidate: &Candidate,
    ) -> Result<CrossReference, StoreError> {
        let xref = CrossReference {
            leaflink_key: proposal.leaflink_key.clone(),
            bc_id: Some(candidate.bc_id.clone()).filter(|id| !id.is_empty()),
            bc_number: candidate.bc_number.clone(),
            origin: "linked".to_owned(),
            ..CrossReference::default()
        };
        self.put_xref(tenant, proposal.kind, &xref)?;
        self.decide_link_proposal(tenant, proposal.kind, &proposal.leaflink_key, ProposalStatus::Accepted)?;
        Ok(xref)
    }
}
