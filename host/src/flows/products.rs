//! Products both ways: `products-export` (BC items become LeafLink products,
//! when BC is the product master), `products-import` (LeafLink products
//! become BC items, when LeafLink is), `products-push` (BC item changes reach
//! LeafLink) and `products-pull` (LeafLink product changes reach BC).
//!
//! Name and price belong to the product-master side and stock belongs to BC.
//! When both sides changed a field since the last sync, the owner's value is
//! written and a conflict record keeps the other.

use std::collections::HashMap;

use super::fields::{self, NAME, PRICE, PriceField, QUANTITY, changed_fields};
use super::ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::resolve::{self, LEAFLINK_PAGE, item_record};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::{Query, Write, Written};
use crate::runtime::bindings::leaflink::ProductQuery;
use crate::runtime::bindings::extras_is_empty;
use crate::runtime::bindings::types::{BcItem, LlProduct, LlProductPatch};
use crate::store::{Conflict, CrossReference, FieldValues, RecordKind};
use crate::tenant::ProductMaster;

/// Which side owns a product field under the tenant's product master.
fn owner(field: &str, master: ProductMaster) -> ProductMaster {
    if field == QUANTITY { ProductMaster::BusinessCentral } else { master }
}

fn side_name(side: ProductMaster) -> &'static str {
    match side {
        ProductMaster::BusinessCentral => "business-central",
        ProductMaster::LeafLink => "leaflink",
    }
}

/// BC items modified after the flow's cursor, page by page.
async fn changed_items<P: Plugins>(cx: &SyncContext<'_, P>, next: Option<String>) -> Result<(Vec<BcItem>, Option<String>), FlowError> {
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let query = Query {
        modified_after: cursor.map(|cursor| cursor.read_from().to_string()),
        field: None,
        values: Vec::new(),
        page_size: Some(resolve::LEAFLINK_PAGE * 2),
    };
    let page = cx.business_central.list_items(&query, next).await.map_err(|e| cx.api_error("listing BC items", e))?;
    Ok((page.items, page.next))
}

fn newest_of(items: &[BcItem], newest: &mut Option<jiff::Timestamp>) {
    for item in items {
        if let Some(modified) = item.last_modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
            *newest = (*newest).max(Some(modified));
        }
    }
}

fn finish_cursor<P: Plugins>(cx: &SyncContext<'_, P>, newest: Option<jiff::Timestamp>) -> Result<(), FlowError> {
    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}

fn disabled<P: Plugins>(cx: &SyncContext<'_, P>, reason: &str) -> FlowError {
    FlowError::Disabled { tenant: cx.tenant.name.clone(), flow: cx.flow, reason: reason.to_owned() }
}

/// Whether a BC item is marked for LeafLink: its category is in the tenant
/// setting `export.item_categories` (comma-separated), or the setting is unset.
fn marked_for_leaflink<P: Plugins>(cx: &SyncContext<'_, P>, item: &BcItem) -> bool {
    match cx.tenant.plugin_settings.get("export.item_categories") {
        None => !item.blocked,
        Some(categories) => {
            !item.blocked
                && item
                    .item_category_code
                    .as_deref()
                    .is_some_and(|code| categories.split(',').any(|category| category.trim().eq_ignore_ascii_case(code)))
        }
    }
}

/// `products-export`: each marked BC item without a LeafLink product gets
/// one, unless a product with its SKU already exists (then they are linked).
pub(crate) async fn export<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    if cx.tenant.product_master != ProductMaster::BusinessCentral {
        return Err(disabled(cx, "products-export runs only when product_master is business-central"));
    }
    let price_field = PriceField::from_settings(&cx.tenant.plugin_settings);
    let mut newest = None;
    let mut next = None;
    loop {
        let (items, after) = changed_items(cx, next).await?;
        newest_of(&items, &mut newest);
        cx.count_read(items.len() as u64);

        let mut unlinked = Vec::new();
        for item in items {
            let known = cx.store.xref(cx.tenant_name(), RecordKind::Item, &item.number).map_err(|e| cx.store_error(e))?;
            if known.is_some() || !marked_for_leaflink(cx, &item) {
                cx.counts.skipped += 1;
            } else {
                unlinked.push(item);
            }
        }
        let skus: Vec<String> = unlinked.iter().map(|item| item.number.clone()).collect();
        let existing: HashMap<String, LlProduct> = match resolve::fetch_leaflink_products(cx, &skus).await {
            Ok(products) => products.into_iter().map(|product| (product.sku.clone(), product)).collect(),
            Err(error) => return Err(cx.api_error("looking up LeafLink products by SKU", error)),
        };

        for item in unlinked {
            let record = item_record(&item.number);
            if let Some(product) = existing.get(&item.number) {
                resolve::save_item_xref(cx, product, &item, price_field, "found", None)?;
                cx.counts.skipped += 1;
                cx.succeeded(&record)?;
                continue;
            }
            let created = async {
                let mapped = cx.mapping.new_product(&item).await?;
                let wanted = cx.overrides.new_product(&item, mapped).await?;
                cx.leaflink.create_product(&wanted).await
            };
            match created.await {
                Ok(product) => {
                    resolve::save_item_xref(cx, &product, &item, price_field, "created", None)?;
                    cx.counts.written += 1;
                    cx.succeeded(&record)?;
                }
                Err(error) => cx.fail_api(&record, &error)?,
            }
        }
        next = after;
        if next.is_none() {
            break;
        }
    }
    finish_cursor(cx, newest)
}

/// `products-import`: each LeafLink product created after go-live and not yet
/// in BC becomes a BC item.
pub(crate) async fn import<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    if cx.tenant.product_master != ProductMaster::LeafLink {
        return Err(disabled(cx, "products-import runs only when product_master is leaflink"));
    }
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let from = cursor.map_or(cx.tenant.go_live, |cursor| cursor.read_from());
    let query = ProductQuery { modified_from: Some(from.to_string()), skus: Vec::new(), ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_products(&query, next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink products", e))?;
        cx.count_read(page.products.len() as u64);
        let mut new_products = Vec::new();
        for product in page.products {
            if let Some(modified) = product.modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
            let known = cx.store.xref(cx.tenant_name(), RecordKind::Item, &product.sku).map_err(|e| cx.store_error(e))?;
            if known.is_some() {
                // Another flow or `link` may have paired it since it failed here.
                cx.counts.skipped += 1;
                cx.succeeded(&item_record(&product.sku))?;
            } else {
                new_products.push(product);
            }
        }
        resolve::ensure_items(cx, new_products).await?;
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}

/// Removes from a patch the fields leafbridge must not write to LeafLink.
fn drop_patch_field(patch: &mut LlProductPatch, field: &str, price_field: PriceField) {
    match field {
        NAME => patch.name = None,
        QUANTITY => patch.quantity = None,
        PRICE => match price_field {
            PriceField::Wholesale => patch.wholesale_price = None,
            PriceField::Retail => patch.retail_price = None,
            PriceField::Sale => patch.sale_price = None,
        },
        _ => {}
    }
}

fn patch_is_empty(patch: &LlProductPatch) -> bool {
    patch.name.is_none()
        && patch.wholesale_price.is_none()
        && patch.retail_price.is_none()
        && patch.sale_price.is_none()
        && patch.quantity.is_none()
        && extras_is_empty(&patch.extras)
}

/// Settles the fields both sides changed since the last sync: returns the
/// fields the writing side may not write (the other side owns them) and
/// records a conflict for each.
fn settle<P: Plugins>(
    cx: &SyncContext<'_, P>,
    record: &str,
    xref: &CrossReference,
    leaflink_now: &FieldValues,
    bc_now: &FieldValues,
    writer: ProductMaster,
) -> Result<Vec<String>, FlowError> {
    let changed_in_leaflink = changed_fields(&xref.leaflink_fields, leaflink_now);
    let changed_in_bc = changed_fields(&xref.bc_fields, bc_now);
    let mut refused = Vec::new();
    for field in changed_in_bc.iter().filter(|field| changed_in_leaflink.contains(field)) {
        if leaflink_now.get(field) == bc_now.get(field) {
            continue;
        }
        let winner = owner(field, cx.tenant.product_master);
        if winner != writer {
            refused.push(field.clone());
        }
        cx.conflict(Conflict {
            flow: cx.flow.name().to_owned(),
            record: record.to_owned(),
            field: Some(field.clone()),
            winner: side_name(winner).to_owned(),
            leaflink_value: leaflink_now.get(field).cloned(),
            business_central_value: bc_now.get(field).cloned(),
            reason: format!("both sides changed {field} since the last sync; {} owns it", side_name(winner)),
            detected: jiff::Timestamp::now(),
        })?;
    }
    Ok(refused)
}

/// `products-push`: a BC item that changed updates the LeafLink product with
/// its SKU (name, price, quantity).
pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let price_field = PriceField::from_settings(&cx.tenant.plugin_settings);
    let mut newest = None;
    let mut next = None;
    loop {
        let (items, after) = changed_items(cx, next).await?;
        newest_of(&items, &mut newest);
        cx.count_read(items.len() as u64);

        // Keep the linked items whose values differ from what was last synced.
        let mut changed = Vec::new();
        for item in items {
            match resolve::item_xref(cx, &item)? {
                Some(xref) if fields::hash(&xref.bc_fields) != fields::hash(&fields::product_fields_of_item(&item)) => {
                    changed.push((item, xref));
                }
                _ => cx.counts.skipped += 1,
            }
        }
        let xrefs: Vec<&CrossReference> = changed.iter().map(|(_, xref)| xref).collect();
        let products: Vec<LlProduct> =
            resolve::fetch_products_of_xrefs(cx, &xrefs).await.map_err(|e| cx.api_error("reading LeafLink products", e))?;
        let by_id: HashMap<String, &LlProduct> = products.iter().map(|product| (product.id.to_string(), product)).collect();
        let by_sku: HashMap<&str, &LlProduct> = products.iter().map(|product| (product.sku.as_str(), product)).collect();

        for (item, xref) in changed {
            let record = item_record(&item.number);
            let product = match xref.stored.get("leaflink_product_id") {
                Some(id) => by_id.get(id).copied(),
                None => by_sku.get(xref.leaflink_key.as_str()).copied(),
            };
            let Some(product) = product else {
                cx.fail(&record, &format!("the LeafLink product with SKU {:?} was not found", xref.leaflink_key), false)?;
                continue;
            };
            let leaflink_now = fields::product_fields_of_product(product, price_field);
            let bc_now = fields::product_fields_of_item(&item);
            let refused = settle(cx, &record, &xref, &leaflink_now, &bc_now, ProductMaster::BusinessCentral)?;
            let patch = async {
                let mapped = cx.mapping.product_patch(&item, product).await?;
                cx.overrides.product_patch(&item, mapped).await
            };
            let mut patch = match patch.await {
                Ok(patch) => patch,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            for field in &refused {
                drop_patch_field(&mut patch, field, price_field);
            }
            let result = if patch_is_empty(&patch) { Ok(product.clone()) } else { cx.leaflink.update_product(product.id, &patch).await };
            match result {
                Ok(updated) => {
                    let written = !patch_is_empty(&patch);
                    resolve::save_item_xref(cx, &updated, &item, price_field, &xref.origin, None)?;
                    if written {
                        cx.counts.written += 1;
                    } else {
                        cx.counts.skipped += 1;
                    }
                    cx.succeeded(&record)?;
                }
                Err(error) => cx.fail_api(&record, &error)?,
            }
        }
        next = after;
        if next.is_none() {
            break;
        }
    }
    finish_cursor(cx, newest)
}

/// `products-pull`: LeafLink products changed since the last pull update
/// their BC items (name and price; stock stays BC's).
pub(crate) async fn pull<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let price_field = PriceField::from_settings(&cx.tenant.plugin_settings);
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let query = ProductQuery {
        modified_from: cursor.map(|cursor| cursor.read_from().to_string()),
        skus: Vec::new(),
        ids: Vec::new(),
        limit: Some(LEAFLINK_PAGE),
    };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_products(&query, next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink products", e))?;
        cx.count_read(page.products.len() as u64);

        let mut changed = Vec::new();
        for product in page.products {
            if let Some(modified) = product.modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
            let xref = cx.store.xref(cx.tenant_name(), RecordKind::Item, &product.sku).map_err(|e| cx.store_error(e))?;
            match xref {
                Some(xref) if xref.leaflink_fields != fields::product_fields_of_product(&product, price_field) => {
                    changed.push((product, xref));
                }
                _ => cx.counts.skipped += 1,
            }
        }
        let numbers: Vec<String> = changed.iter().filter_map(|(_, xref)| xref.bc_number.clone()).collect();
        let items: HashMap<String, BcItem> = resolve::lookup_bc_items(cx, "number", &numbers)
            .await
            .map_err(|e| cx.api_error("reading BC items", e))?
            .into_iter()
            .map(|item| (item.number.clone(), item))
            .collect();

        let mut writes = Vec::new();
        let mut pending = Vec::new();
        for (product, xref) in changed {
            let record = item_record(&product.sku);
            let Some(item) = xref.bc_number.as_ref().and_then(|number| items.get(number)) else {
                cx.fail(&record, "the BC item of this SKU was not found", false)?;
                continue;
            };
            let leaflink_now = fields::product_fields_of_product(&product, price_field);
            let bc_now = fields::product_fields_of_item(item);
            let refused = settle(cx, &record, &xref, &leaflink_now, &bc_now, ProductMaster::LeafLink)?;
            let update = async {
                let mapped = cx.mapping.item_update(&product, item).await?;
                cx.overrides.item(&product, mapped).await
            };
            let mut update = match update.await {
                Ok(update) => update,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            // Writing `inventory` posts an adjustment in BC (BC reference
            // notes, items), and stock is BC's, so a pull never sends it.
            update.inventory = None;
            update.id = item.id.clone();
            update.etag = item.etag.clone();
            if refused.iter().any(|field| field == NAME) {
                update.display_name = item.display_name.clone();
            }
            if refused.iter().any(|field| field == PRICE) {
                update.unit_price = item.unit_price.clone();
            }
            writes.push(Write::UpdateItem(update));
            pending.push((product, item.clone(), xref));
        }
        if !writes.is_empty() {
            cx.flush_store()?;
            match cx.business_central.apply(&writes).await {
                Ok(results) => {
                    for ((product, _, xref), result) in pending.into_iter().zip(results) {
                        let record = item_record(&product.sku);
                        match result {
                            Ok(Written::Item(updated)) => {
                                resolve::save_item_xref(cx, &product, &updated, price_field, &xref.origin, None)?;
                                cx.counts.written += 1;
                                cx.succeeded(&record)?;
                            }
                            Ok(other) => cx.fail(&record, &format!("BC returned an unexpected record for an item update: {other:?}"), true)?,
                            Err(error) => cx.fail_api(&record, &ApiError::Plugin(error))?,
                        }
                    }
                }
                Err(error) => {
                    for (product, _, _) in pending {
                        cx.fail_api(&item_record(&product.sku), &error)?;
                    }
                }
            }
        }
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}
