//! Conflicts: a field both sides changed since the last sync, or a decision a
//! flow leaves to a person (an order deleted in BC before shipping, an
//! ambiguous customer match).

use serde::{Deserialize, Serialize};

use super::records::{CONFLICTS_TREE, compound_key, get_json, put_json, scan_json};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub flow: String,
    /// The record, e.g. "sku ABC-1" or "order 6f1c...".
    pub record: String,
    /// The field both sides changed; none for a decision about a whole record.
    pub field: Option<String>,
    /// The side whose value was kept: "leaflink", "business-central" or "none".
    pub winner: String,
    pub leaflink_value: Option<String>,
    pub business_central_value: Option<String>,
    pub reason: String,
    pub detected: jiff::Timestamp,
}

impl Store {
    /// Records a conflict; a later one on the same record and field replaces it.
    pub fn record_conflict(&self, tenant: &str, conflict: &Conflict) -> Result<(), StoreError> {
        let tree = self.tree(CONFLICTS_TREE)?;
        let field = conflict.field.as_deref().unwrap_or("");
        put_json(&tree, &compound_key(tenant, &[&conflict.flow, &conflict.record, field]), conflict)
    }

    pub fn conflict(&self, tenant: &str, flow: &str, record: &str, field: Option<&str>) -> Result<Option<Conflict>, StoreError> {
        let tree = self.tree(CONFLICTS_TREE)?;
        get_json(&tree, &compound_key(tenant, &[flow, record, field.unwrap_or("")]))
    }

    pub fn conflicts(&self, tenant: &str) -> Result<Vec<Conflict>, StoreError> {
        let tree = self.tree(CONFLICTS_TREE)?;
        scan_json(&tree, &compound_key(tenant, &[""]))
    }
}
