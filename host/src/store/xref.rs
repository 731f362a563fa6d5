//! Cross-references: which LeafLink record is which BC record, with what was
//! last written to each side.
//!
//! The stored field values are what make echo suppression and per-field
//! conflict settlement possible: a change on one side is a difference from the
//! stored values of that side, and a change equal to what leafbridge itself
//! wrote is an echo.

use serde::{Deserialize, Serialize};

use super::records::{FieldValues, XREF_BC_TREE, XREF_TREE, compound_key, get_json, put_json, scan_json};
use super::{Store, StoreError};

/// The kind of record a cross-reference pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    Customer,
    Item,
    Order,
    OrderLine,
    Salesperson,
    Payment,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Customer => "customer",
            RecordKind::Item => "item",
            RecordKind::Order => "order",
            RecordKind::OrderLine => "order-line",
            RecordKind::Salesperson => "salesperson",
            RecordKind::Payment => "payment",
        }
    }
}

/// One LeafLink record paired with one BC record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossReference {
    /// LeafLink key: customer or product id, order `number`, line id; for a
    /// payment, the BC payment id (LeafLink payments are keyed by BC payment).
    pub leaflink_key: String,
    /// BC `id` (GUID), once known.
    pub bc_id: Option<String>,
    /// BC `number` (customer number, item number, order number).
    pub bc_number: Option<String>,
    /// Field values last read from or written to LeafLink.
    pub leaflink_fields: FieldValues,
    /// Field values last read from or written to BC.
    pub bc_fields: FieldValues,
    /// LeafLink values with no BC property (license number, county, status,
    /// modified, ...), kept for the CLI and the admin API.
    pub stored: FieldValues,
    /// How the pair was made: "created", "linked" or "found".
    pub origin: String,
    pub updated: Option<jiff::Timestamp>,
}

impl Store {
    /// The cross-reference of the LeafLink record `leaflink_key`, if any.
    pub fn xref(&self, tenant: &str, kind: RecordKind, leaflink_key: &str) -> Result<Option<CrossReference>, StoreError> {
        let tree = self.tree(XREF_TREE)?;
        get_json(&tree, &compound_key(tenant, &[kind.as_str(), leaflink_key]))
    }

    /// Checks whether the LeafLink record `leaflink_key` has a
    /// cross-reference, without decoding its JSON value as `xref` does.
    pub fn has_xref(&self, tenant: &str, kind: RecordKind, leaflink_key: &str) -> Result<bool, StoreError> {
        let tree = self.tree(XREF_TREE)?;
        Ok(tree.contains_key(compound_key(tenant, &[kind.as_str(), leaflink_key]))?)
    }

    /// The cross-reference whose BC id is `bc_id`, if any.
    pub fn xref_by_bc_id(&self, tenant: &str, kind: RecordKind, bc_id: &str) -> Result<Option<CrossReference>, StoreError> {
        let index = self.tree(XREF_BC_TREE)?;
        let Some(leaflink_key) = index.get(compound_key(tenant, &[kind.as_str(), bc_id]))? else {
            return Ok(None);
        };
        self.xref(tenant, kind, &String::from_utf8_lossy(&leaflink_key))
    }

    /// Writes a cross-reference and its reverse index entry.
    pub fn put_xref(&self, tenant: &str, kind: RecordKind, xref: &CrossReference) -> Result<(), StoreError> {
        let tree = self.tree(XREF_TREE)?;
        let mut record = xref.clone();
        record.updated = Some(jiff::Timestamp::now());
        put_json(&tree, &compound_key(tenant, &[kind.as_str(), &xref.leaflink_key]), &record)?;
        if let Some(bc_id) = &xref.bc_id {
            let index = self.tree(XREF_BC_TREE)?;
            index.insert(compound_key(tenant, &[kind.as_str(), bc_id]), xref.leaflink_key.as_bytes())?;
        }
        Ok(())
    }

    /// Every cross-reference of one kind, in LeafLink key order.
    pub fn xrefs(&self, tenant: &str, kind: RecordKind) -> Result<Vec<CrossReference>, StoreError> {
        let tree = self.tree(XREF_TREE)?;
        let mut prefix = compound_key(tenant, &[kind.as_str()]);
        prefix.push(0);
        scan_json(&tree, &prefix)
    }

    /// Number of cross-references of one kind.
    ///
    /// NOTE: the scan pulls every page of the kind into sled's cache, which
    /// evicts late on one pass: counting 100,000 orders after `bench import`
    /// raised its peak RSS from 143 MiB to 253 MiB.
    pub fn xref_count(&self, tenant: &str, kind: RecordKind) -> Result<usize, StoreError> {
        let tree = self.tree(XREF_TREE)?;
        let mut prefix = compound_key(tenant, &[kind.as_str()]);
        prefix.push(0);
        Ok(tree.scan_prefix(prefix).count())
    }
}
