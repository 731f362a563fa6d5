//! `inventory-push`: BC stock reaches LeafLink, whatever changed it (an item
//! edit, an item journal posting, a sale or a purchase).
//!
//! The LeafLink `quantity` is set to the absolute BC `inventory`, never an
//! increment, so a missed change is repaired by the next push. Items are found
//! three ways:
//! - items modified since the cursor;
//! - items with ledger entries since the cursor, because posting to the item
//!   ledger does not change an item's `lastModifiedDateTime` (`inventory` is
//!   a FlowField over the ledger);
//! - items on LeafLink orders that moved to a status which changes LeafLink's
//!   own stock since the cursor. LeafLink takes an order's quantity off
//!   `quantity` when the order is fulfilled and adds it back when a Fulfilled
//!   or Shipped order is rejected (LeafLink notes, order status and
//!   transitions). BC has already counted the shipment, so those products
//!   need the BC figure again although nothing changed in BC.
//!
//! Each item read is compared with the product's current LeafLink `quantity`,
//! not with the figure last pushed, so a change made in LeafLink is repaired
//! as well.

use std::collections::{BTreeSet, HashMap};

use super::fields::{QUANTITY, normalize_decimal};
use super::ports::{BusinessCentralApi, LeafLinkApi, Plugins};
use super::resolve::{self, LEAFLINK_PAGE, item_record};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::leaflink::OrderQuery;
use crate::runtime::bindings::types::{BcItem, LlProductPatch};
use crate::store::{CrossReference, RecordKind};

/// LeafLink order statuses reached by a transition that changes the
/// products' `quantity`. The `fulfill` action lowers it, and the order then
/// moves on to Shipped and Complete. A `reject` of a Fulfilled or Shipped
/// order raises it.
const STOCK_CHANGING_STATUSES: [&str; 4] = ["fulfilled", "shipped", "complete", "rejected"];

pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let started = jiff::Timestamp::now();
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let since = cursor.map(|cursor| cursor.read_from().to_string());
    let query = Query { modified_after: since.clone(), field: None, values: Vec::new(), page_size: None };

    // 1. Item numbers whose stock may have changed on either side.
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
    // The first push reads every item, so only a later one looks at orders.
    if let Some(since) = since {
        numbers.extend(items_of_orders_changing_stock(cx, since).await?);
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

    // 2. The linked items and their products' current LeafLink quantity.
    let mut linked = Vec::new();
    for item in items {
        cx.count_read(1);
        let Some(xref) = resolve::item_xref(cx, &item)? else {
            cx.counts.skipped += 1;
            continue;
        };
        let Some(inventory) = item.inventory.as_deref().map(normalize_decimal) else {
            cx.counts.skipped += 1;
            continue;
        };
        linked.push((item, xref, inventory));
    }
    let xrefs: Vec<&CrossReference> = linked.iter().map(|(_, xref, _)| xref).collect();
    let products = resolve::fetch_products_of_xrefs(cx, &xrefs).await.map_err(|e| cx.api_error("reading LeafLink products", e))?;
    let mut quantities_by_id = HashMap::new();
    let mut quantities_by_sku = HashMap::new();
    for product in products {
        let quantity = product.quantity.as_deref().map(normalize_decimal);
        quantities_by_sku.insert(product.sku.clone(), quantity.clone());
        quantities_by_id.insert(product.id, quantity);
    }

    // 3. Set the LeafLink quantity of each linked item whose product does not
    // have the BC figure.
    for (item, mut xref, inventory) in linked {
        let product_id = xref.stored.get("leaflink_product_id").and_then(|id| id.parse::<i64>().ok());
        let in_leaflink = match product_id {
            Some(id) => quantities_by_id.get(&id),
            None => quantities_by_sku.get(&xref.leaflink_key),
        };
        // A product LeafLink did not return is written anyway, so its update
        // fails with LeafLink's own error instead of being skipped silently.
        if let Some(Some(quantity)) = in_leaflink
            && *quantity == inventory
        {
            xref.leaflink_fields.insert(QUANTITY.to_owned(), inventory.clone());
            xref.bc_fields.insert(QUANTITY.to_owned(), inventory);
            cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
            cx.counts.skipped += 1;
            continue;
        }
        set_quantity(cx, &item, xref, product_id, inventory).await?;
    }

    // The ledger has no modification time to take a cursor from, so the
    // cursor is the start of this run; the overlap window covers clock skew.
    if cx.transient_failures == 0 {
        cx.advance_cursor(started)?;
    }
    Ok(())
}

/// Writes `inventory` as the LeafLink quantity of the item's product.
async fn set_quantity<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    item: &BcItem,
    mut xref: CrossReference,
    product_id: Option<i64>,
    inventory: String,
) -> Result<(), FlowError> {
    let record = item_record(&item.number);
    let Some(product_id) = product_id else {
        return cx.fail(&record, "the cross-reference has no LeafLink product id", false);
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
        Ok(_) => {
            // Only the quantity is synced here: a name or price LeafLink
            // changed meanwhile stays a change for products-pull to carry.
            xref.leaflink_fields.insert(QUANTITY.to_owned(), inventory.clone());
            xref.bc_fields.insert(QUANTITY.to_owned(), inventory);
            cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
            cx.counts.written += 1;
            cx.succeeded(&record)
        }
        Err(error) => cx.fail_api(&record, &error),
    }
}

/// Returns the BC item numbers of the linked products on LeafLink orders
/// modified since `since` whose status changed LeafLink's stock.
async fn items_of_orders_changing_stock<P: Plugins>(cx: &SyncContext<'_, P>, since: String) -> Result<BTreeSet<String>, FlowError> {
    let query = OrderQuery {
        modified_from: Some(since),
        created_from: None,
        statuses: STOCK_CHANGING_STATUSES.iter().map(|status| (*status).to_owned()).collect(),
        numbers: Vec::new(),
        limit: Some(LEAFLINK_PAGE),
    };
    let mut skus = BTreeSet::new();
    let mut next = None;
    loop {
        let page = cx.leaflink.list_orders(&query, next).await.map_err(|e| cx.api_error("listing LeafLink orders", e))?;
        skus.extend(page.orders.into_iter().flat_map(|order| order.line_items).map(|line| line.sku));
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    let mut numbers = BTreeSet::new();
    for sku in skus {
        if let Some(number) = cx.store.xref(cx.tenant_name(), RecordKind::Item, &sku).map_err(|e| cx.store_error(e))?.and_then(|xref| xref.bc_number) {
            numbers.insert(number);
        }
    }
    Ok(numbers)
}
