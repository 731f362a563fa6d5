//! `leafbridge link list|accept|reject`: the pairs the `link` flow found but
//! left to a person.
//!
//! A proposal is named `KIND/LEAFLINK_KEY`, e.g. `customer/4021` or `item/ABC-1`.

use anyhow::{Context, bail};
use clap::Subcommand;

use super::Home;
use super::output::{print_json, print_table};
use crate::store::{LinkProposal, ProposalStatus, RecordKind, Store};

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// List a tenant's link proposals; open ones only unless --all.
    ///
    /// Example: leafbridge link list acme --json
    List {
        /// The registered tenant's name.
        tenant: String,
        /// Include accepted and rejected proposals.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pair the LeafLink record with one candidate and mark the proposal
    /// accepted. --candidate takes the BC id or number and may be left out
    /// when there is one candidate.
    ///
    /// Example: leafbridge link accept acme item/ABC-1 --candidate 1000
    Accept {
        /// The registered tenant's name.
        tenant: String,
        /// The proposal as `list` shows it: KIND/LEAFLINK_KEY.
        proposal: String,
        /// BC id or number of the candidate to pair with.
        #[arg(long, value_name = "BC_ID_OR_NUMBER")]
        candidate: Option<String>,
    },
    /// Mark a proposal rejected; `link` leaves the record unpaired.
    ///
    /// Example: leafbridge link reject acme customer/4021
    Reject {
        /// The registered tenant's name.
        tenant: String,
        /// The proposal as `list` shows it: KIND/LEAFLINK_KEY.
        proposal: String,
    },
}

pub fn run(home: &Home, command: LinkCommand) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    match command {
        LinkCommand::List { tenant, all, json } => list(&store, &tenant, all, json),
        LinkCommand::Accept { tenant, proposal, candidate } => accept(&store, &tenant, &proposal, candidate.as_deref()),
        LinkCommand::Reject { tenant, proposal } => reject(&store, &tenant, &proposal),
    }
}

fn list(store: &Store, tenant: &str, all: bool, json: bool) -> anyhow::Result<()> {
    store.tenants()?.require(tenant)?;
    let mut proposals = store.link_proposals(tenant)?;
    if !all {
        proposals.retain(|proposal| proposal.status == ProposalStatus::Open);
    }
    if json {
        return print_json(&proposals);
    }
    if proposals.is_empty() {
        println!("Tenant {tenant} has no {}link proposals.", if all { "" } else { "open " });
        return Ok(());
    }
    let rows: Vec<Vec<String>> = proposals
        .iter()
        .map(|proposal| {
            let candidates: Vec<String> = proposal
                .candidates
                .iter()
                .map(|candidate| {
                    let number = candidate.bc_number.as_deref().unwrap_or(&candidate.bc_id);
                    format!("{number} {:?}", candidate.display_name)
                })
                .collect();
            vec![
                proposal_name(proposal),
                proposal.leaflink_name.clone(),
                format!("{:?}", proposal.status).to_lowercase(),
                candidates.join(", "),
                proposal.reason.clone(),
            ]
        })
        .collect();
    print_table(&["proposal", "LeafLink name", "status", "candidates", "reason"], &rows);
    Ok(())
}

fn accept(store: &Store, tenant: &str, name: &str, candidate: Option<&str>) -> anyhow::Result<()> {
    let proposal = find(store, tenant, name)?;
    let chosen = match (candidate, proposal.candidates.as_slice()) {
        (Some(wanted), candidates) => candidates
            .iter()
            .find(|candidate| candidate.bc_id == wanted || candidate.bc_number.as_deref() == Some(wanted))
            .with_context(|| format!("tenant {tenant}: proposal {name} has no candidate with BC id or number {wanted:?}"))?,
        (None, [only]) => only,
        (None, []) => bail!("tenant {tenant}: proposal {name} has no candidates; reject it instead"),
        (None, several) => {
            bail!("tenant {tenant}: proposal {name} has {} candidates; choose one with --candidate", several.len())
        }
    };
    let xref = store.accept_link_proposal(tenant, &proposal, chosen)?;
    store.flush()?;
    let bc = xref.bc_number.or(xref.bc_id).unwrap_or_default();
    println!("Tenant {tenant}: {name} is linked to BC {} {bc}.", proposal.kind.as_str());
    Ok(())
}

fn reject(store: &Store, tenant: &str, name: &str) -> anyhow::Result<()> {
    let proposal = find(store, tenant, name)?;
    store.decide_link_proposal(tenant, proposal.kind, &proposal.leaflink_key, ProposalStatus::Rejected)?;
    store.flush()?;
    println!("Tenant {tenant}: proposal {name} is rejected.");
    Ok(())
}

/// Finds an open proposal by its `KIND/LEAFLINK_KEY` name.
fn find(store: &Store, tenant: &str, name: &str) -> anyhow::Result<LinkProposal> {
    store.tenants()?.require(tenant)?;
    let (kind, key) = name
        .split_once('/')
        .with_context(|| format!("invalid proposal {name:?}; expected KIND/LEAFLINK_KEY such as item/ABC-1"))?;
    let kind = <RecordKind as clap::ValueEnum>::from_str(kind, false)
        .map_err(|_| anyhow::anyhow!("invalid proposal {name:?}: unknown kind {kind:?}"))?;
    let proposal = store
        .link_proposal(tenant, kind, key)?
        .with_context(|| format!("tenant {tenant}: link proposal {name} not found; `leafbridge link list {tenant}` shows them"))?;
    if proposal.status != ProposalStatus::Open {
        bail!("tenant {tenant}: proposal {name} is already {:?}", proposal.status);
    }
    Ok(proposal)
}

fn proposal_name(proposal: &LinkProposal) -> String {
    format!("{}/{}", proposal.kind.as_str(), proposal.leaflink_key)
}
