//! `inventory-push`: BC stock reaches LeafLink, whatever changed it (an item
//! edit, an item journal posting, a sale or a purchase).
//!
//! The LeafLink `quantity` is set to the absolute BC `inventory`, never an
//! increment, so a missed change is repaired by the next push. Items are found
//! two ways because posting to the item ledger does not change an item's
//! `lastModifiedDateTime` (`inventory` is a FlowField over the ledger): items
//! modified since the cursor, and items with ledger entries since the cursor.

use std::collections::BTreeSet;

use super::fields::{self, QUANTITY, normalize_decimal};
use super::ports::{BusinessCentralApi, LeafLinkApi, Plugins};
use super::resolve::{self, item_record};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::types::LlProductPatch;
use crate::store::RecordKind;

pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let started = jiff::Timestamp::now();
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let since = cursor.map(|cursor| cursor.read_from().to_string());
    let query = Query { modified_after: since, field: None, values: Vec::new(), page_size: None };

    // 1. Item numbers whose stock may have changed.
    let mut numbers = BTreeSet::new();
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_item_ledger_entries(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC item ledger entries", e))?;
        numbers.extend(page.entries.into_iter().map(|entry| entry.item_number));
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    let mut items = Vec::new();
    let mut next = None;
    loop {
        let page = cx.business_central.list_items(&query, next).await.map_err(|e| cx.api_error("listing BC items", e))?;
        for item in page.items {
            numbers.remove(&item.number);
            items.push(item);
        }
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    let remaining: Vec<String> = numbers.into_iter().collect();
    items.extend(resolve::lookup_bc_items(cx, "number", &remaining).await.map_err(|e| cx.api_error("reading BC items", e))?);

    // 2. Set the LeafLink quantity of each linked item whose stock differs
    // from what was last pushed.
    for item in items {
        cx.count_read(1);
        let record = item_record(&item.number);
        let Some(mut xref) = resolve::item_xref(cx, &item)? else {
            cx.counts.skipped += 1;
            continue;
        };
        let Some(inventory) = item.inventory.as_deref().map(normalize_decimal) else {
            cx.counts.skipped += 1;
            continue;
        };
        if xref.leaflink_fields.get(QUANTITY) == Some(&inventory) {
            xref.bc_fields.insert(QUANTITY.to_owned(), inventory);
            cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
            cx.counts.skipped += 1;
            continue;
        }
        let Some(product_id) = xref.stored.get("leaflink_product_id").and_then(|id| id.parse::<i64>().ok()) else {
            cx.fail(&record, "the cross-reference has no LeafLink product id", false)?;
            continue;
        };
        let patch = LlProductPatch {
            name: None,
            wholesale_price: None,
            retail_price: None,
            sale_price: None,
            quantity: Some(inventory.clone()),
            extras: NO_EXTRAS.to_owned(),
        };
        match cx.leaflink.update_product(product_id, &patch).await {
            Ok(product) => {
                let price_field = fields::PriceField::from_settings(&cx.tenant.plugin_settings);
                xref.leaflink_fields = fields::product_fields_of_product(&product, price_field);
                xref.leaflink_fields.insert(QUANTITY.to_owned(), inventory.clone());
                xref.bc_fields.insert(QUANTITY.to_owned(), inventory);
                cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
                cx.counts.written += 1;
                cx.succeeded(&record)?;
            }
            Err(error) => cx.fail_api(&record, &error)?,
        }
    }

    // The ledger has no modification time to take a cursor from, so the
    // cursor is the start of this run; the overlap window covers clock skew.
    if cx.transient_failures == 0 {
        cx.advance_cursor(started)?;
    }
    Ok(())
}
