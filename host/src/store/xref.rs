//! Cross-references: which LeafLink record is which BC record, with what was
//! last written to each side.
//!
//! The stored field values are what make echo suppression and per-field
//! conflict settlement possible: a change on one side is a difference from the
//! stored values of that side, and a change equal to what leafbridge itself
//! wrote is an echo.

use serde::{Deserialize, Serialize};

use super::records::{FieldValues, XREF_BC_TREE, XREF_TREE, compound_key, get_json, put_json, scan_json};
use super::{ACCESSES_PER_WRITE, Store, StoreError, queue_cache_accesses};

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

/// A borrowed `CrossReference` with a new `updated` time, as `put_xref`
/// stores it, so a large cross-reference is not copied to be written. Its
/// fields serialize exactly as those of `CrossReference`.
#[derive(Serialize)]
struct StoredXref<'a> {
    leaflink_key: &'a str,
    bc_id: &'a Option<String>,
    bc_number: &'a Option<String>,
    leaflink_fields: &'a FieldValues,
    bc_fields: &'a FieldValues,
    stored: &'a FieldValues,
    origin: &'a str,
    updated: Option<jiff::Timestamp>,
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
        let record = StoredXref {
            leaflink_key: &xref.leaflink_key,
            bc_id: &xref.bc_id,
            bc_number: &xref.bc_number,
            leaflink_fields: &xref.leaflink_fields,
            bc_fields: &xref.bc_fields,
            stored: &xref.stored,
            origin: &xref.origin,
            updated: Some(jiff::Timestamp::now()),
        };
        let key = compound_key(tenant, &[kind.as_str(), &xref.leaflink_key]);
        put_json(&tree, &key, &record)?;
        queue_cache_accesses(&tree, &key, ACCESSES_PER_WRITE)?;
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
    /// Each key is read once more while counting, so that sled evicts the
    /// pages the scan pulls in time (see `queue_cache_accesses`). Without
    /// that read, counting 100,000 order cross-references after `bench
    /// import` raised its peak RSS from about 140 MiB to about 250 MiB.
    pub fn xref_count(&self, tenant: &str, kind: RecordKind) -> Result<usize, StoreError> {
        let tree = self.tree(XREF_TREE)?;
        let mut prefix = compound_key(tenant, &[kind.as_str()]);
        prefix.push(0);
        let mut count = 0;
        for key in tree.scan_prefix(prefix).keys() {
            queue_cache_accesses(&tree, &key?, 1)?;
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_xref_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let field = |key: &str, value: &str| FieldValues::from([(key.to_owned(), value.to_owned())]);
        let xref = CrossReference {
            leaflink_key: "0f6c".to_owned(),
            bc_id: Some("9a1e".to_owned()),
            bc_number: Some("S-ORD101001".to_owned()),
            leaflink_fields: field("name", "Dräger & Söhne"),
            bc_fields: field("displayName", "Dräger"),
            stored: field("short_id", "SO-1"),
            origin: "created".to_owned(),
            updated: None,
        };
        store.put_xref("acme", RecordKind::Order, &xref).unwrap();

        let read = store.xref("acme", RecordKind::Order, "0f6c").unwrap().unwrap();
        assert!(read.updated.is_some());
        assert_eq!(CrossReference { updated: None, ..read }, xref);
        assert_eq!(store.xref_by_bc_id("acme", RecordKind::Order, "9a1e").unwrap().map(|found| found.leaflink_key), Some("0f6c".to_owned()));
    }

    #[test]
    fn xref_count_per_kind_and_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let xref = |key: &str| CrossReference { leaflink_key: key.to_owned(), origin: "created".to_owned(), ..CrossReference::default() };
        for number in 0..300 {
            store.put_xref("acme", RecordKind::Order, &xref(&format!("order-{number:04}"))).unwrap();
        }
        store.put_xref("acme", RecordKind::OrderLine, &xref("order-0001")).unwrap();
        store.put_xref("acme-east", RecordKind::Order, &xref("order-0001")).unwrap();

        assert_eq!(store.xref_count("acme", RecordKind::Order).unwrap(), 300);
        assert_eq!(store.xref_count("acme", RecordKind::OrderLine).unwrap(), 1);
        assert_eq!(store.xref_count("acme-east", RecordKind::Order).unwrap(), 1);
        assert_eq!(store.xref_count("acme", RecordKind::Customer).unwrap(), 0);
    }
}
