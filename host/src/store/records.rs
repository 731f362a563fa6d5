//! Typed access to the per-tenant sync state: cross-references, cursors, runs,
//! conflicts, dead letters and link proposals, each in its own sled tree.
//!
//! Values are JSON so that `leafbridge` commands and the admin API can show
//! them without a schema migration; keys are `tenant NUL kind NUL id` so a
//! prefix scan lists one tenant's records of one kind.

use std::collections::BTreeMap;

use serde::{Serialize, de::DeserializeOwned};

use super::{Store, StoreError, tenant_key};

pub(crate) const XREF_TREE: &str = "xref";
/// Reverse index of `xref`: BC id -> LeafLink id, per tenant and kind.
pub(crate) const XREF_BC_TREE: &str = "xref_bc";
pub(crate) const CURSORS_TREE: &str = "cursors";
pub(crate) const RUNS_TREE: &str = "runs";
/// Runs that began and have no run record yet (see `Store::run_progress`).
pub(crate) const OPEN_RUNS_TREE: &str = "open_runs";
pub(crate) const CONFLICTS_TREE: &str = "conflicts";
pub(crate) const DEAD_LETTERS_TREE: &str = "dead_letters";
pub(crate) const LINK_PROPOSALS_TREE: &str = "link_proposals";
/// Dead letters, conflicts and proposals an admin digest already reported.
pub(crate) const NOTIFIED_TREE: &str = "notified";

/// Reads and decodes one JSON value.
pub(crate) fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    let Some(bytes) = tree.get(key)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: error.to_string(),
    })
}

/// Encodes and writes one JSON value.
pub(crate) fn put_json<T: Serialize>(tree: &sled::Tree, key: &[u8], value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: error.to_string(),
    })?;
    tree.insert(key, bytes)?;
    Ok(())
}

/// Decodes every value under `prefix`, in key order.
pub(crate) fn scan_json<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
    let mut values = Vec::new();
    for entry in tree.scan_prefix(prefix) {
        let (key, bytes) = entry?;
        let value = serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
            key: String::from_utf8_lossy(&key).replace('\0', "/"),
            reason: error.to_string(),
        })?;
        values.push(value);
    }
    Ok(values)
}

/// `tenant NUL part NUL part ...`
pub(crate) fn compound_key(tenant: &str, parts: &[&str]) -> Vec<u8> {
    tenant_key(tenant, &parts.join("\0"))
}

/// Field values keyed by field name, as compared for echoes and conflicts.
pub type FieldValues = BTreeMap<String, String>;

impl Store {
    /// Removes every sync record of `tenant` (cross-references, cursors, runs,
    /// conflicts, dead letters, proposals). Tenant settings and secrets stay.
    pub fn clear_sync_state(&self, tenant: &str) -> Result<(), StoreError> {
        let prefix = tenant_key(tenant, "");
        for name in
            [XREF_TREE, XREF_BC_TREE, CURSORS_TREE, RUNS_TREE, OPEN_RUNS_TREE, CONFLICTS_TREE, DEAD_LETTERS_TREE, LINK_PROPOSALS_TREE, NOTIFIED_TREE]
        {
            let tree = self.tree(name)?;
            for key in tree.scan_prefix(&prefix).keys() {
                tree.remove(key?)?;
            }
        }
        Ok(())
    }
}
