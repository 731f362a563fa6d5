//! Products both ways: `products-export` (BC items become LeafLink products,
//! when BC is the product master), `products-import` (LeafLink products
//! become BC items, when LeafLink is), `products-push` (BC item changes reach
//! LeafLink) and `products-pull` (LeafLink product changes reach BC).
//!
//! Name and price belong to the product-master side and stock belongs to BC.
//! Push and pull compare each field with the values last synced to each side,
//! which the cross-reference stores. A field changed on one side only reaches
//! the other. A field both sides changed gets the owner's value on both
//! sides, and a conflict record keeps the other value.

use std::collections::{HashMap, HashSet};

use super::fields::{self, NAME, PRICE, PriceField, QUANTITY};
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
    // Products whose dead letters are due are read again by SKU, because
    // the cursor may already be past them.
    let retried = retry_dead_letters(cx).await?;
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
        for product in &page.products {
            if let Some(modified) = product.modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
        }
        let products = page.products.into_iter().filter(|product| !retried.contains(&item_record(&product.sku))).collect();
        import_products(cx, products).await?;
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

/// Creates a BC item for each product not yet paired with one.
async fn import_products<P: Plugins>(cx: &mut SyncContext<'_, P>, products: Vec<LlProduct>) -> Result<(), FlowError> {
    let mut new_products = Vec::new();
    for product in products {
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
    Ok(())
}

/// Reads the products whose dead letters are due, by SKU, and imports them.
/// Returns the records it retried.
async fn retry_dead_letters<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<HashSet<String>, FlowError> {
    let now = jiff::Timestamp::now();
    let letters = cx.store.dead_letters(cx.tenant_name()).map_err(|e| cx.store_error(e))?;
    // A blank SKU cannot be looked up, so its letter stays until a person acts.
    let skus: Vec<String> = letters
        .into_iter()
        .filter(|letter| letter.flow == cx.flow.name() && letter.next_retry <= now)
        .filter_map(|letter| letter.record.strip_prefix("sku ").map(str::to_owned))
        .filter(|sku| !sku.trim().is_empty())
        .collect();
    for chunk in skus.chunks(LEAFLINK_PAGE as usize) {
        let query = ProductQuery { modified_from: None, skus: chunk.to_vec(), ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
        let page = cx
            .leaflink
            .list_products(&query, None)
            .await
            .map_err(|e| cx.api_error("reading LeafLink products to retry", e))?;
        cx.count_read(page.products.len() as u64);
        let lettered: Vec<LlProduct> = page.products.into_iter().filter(|product| chunk.contains(&product.sku)).collect();
        import_products(cx, lettered).await?;
    }
    Ok(skus.iter().map(|sku| item_record(sku)).collect())
}

/// Returns the side that is not `side`.
fn other_side(side: ProductMaster) -> ProductMaster {
    match side {
        ProductMaster::BusinessCentral => ProductMaster::LeafLink,
        ProductMaster::LeafLink => ProductMaster::BusinessCentral,
    }
}

/// The fields one run writes for one product, per target system.
#[derive(Debug, Default)]
struct ProductWrites {
    /// Fields written to the LeafLink product from the BC item.
    to_leaflink: Vec<&'static str>,
    /// Fields written to the BC item from the LeafLink product.
    to_bc: Vec<&'static str>,
    /// Fields changed only on the side this run writes to. The flow of the
    /// other direction carries them, so their last-synced value on that side
    /// is saved unchanged.
    deferred: Vec<&'static str>,
}

impl ProductWrites {
    fn write_to(&mut self, side: ProductMaster, field: &'static str) {
        match side {
            ProductMaster::LeafLink => self.to_leaflink.push(field),
            ProductMaster::BusinessCentral => self.to_bc.push(field),
        }
    }
}

/// Returns true when both sides have the same value of `field`. Prices compare through
/// the product's `unit_multiplier`, because LeafLink prices a case and BC a unit.
fn same_value(field: &str, leaflink_now: &FieldValues, bc_now: &FieldValues, multiplier: &str) -> bool {
    match (leaflink_now.get(field), bc_now.get(field)) {
        (Some(case_price), Some(unit_price)) if field == PRICE => fields::prices_agree(case_price, unit_price, multiplier),
        (leaflink, bc) => leaflink == bc,
    }
}

/// Records a conflict on `field`, which both sides changed to different
/// values. A price conflict stores both prices per case, so they compare, and
/// its reason keeps BC's own unit price.
fn record_conflict<P: Plugins>(
    cx: &SyncContext<'_, P>,
    record: &str,
    field: &str,
    winner: ProductMaster,
    leaflink_now: &FieldValues,
    bc_now: &FieldValues,
    multiplier: &str,
) -> Result<(), FlowError> {
    let mut business_central_value = bc_now.get(field).cloned();
    let mut reason = format!("both sides changed {field} since the last sync; {} owns it", side_name(winner));
    if field == PRICE
        && let Some(unit_price) = bc_now.get(field)
        && let Some((case_price, note)) = fields::case_price_for_conflict(unit_price, multiplier)
    {
        reason.push_str(&note);
        business_central_value = Some(case_price);
    }
    cx.conflict(Conflict {
        flow: cx.flow.name().to_owned(),
        record: record.to_owned(),
        field: Some(field.to_owned()),
        winner: side_name(winner).to_owned(),
        leaflink_value: leaflink_now.get(field).cloned(),
        business_central_value,
        reason,
        detected: jiff::Timestamp::now(),
    })
}

/// Decides, field by field, what a run reading changes from `source` writes.
///
/// A field changed on the source side only is written to the other side. A
/// field changed on the other side only is left to the flow of the other
/// direction. A field both sides changed to different values goes to its
/// owner: a conflict record keeps the other value, and the owner's value is
/// written to the other side in this run, whichever side that is, so the two
/// systems meet again. Stock is BC's and products-pull never writes it
/// (writing `inventory` posts an adjustment in BC), so a pull takes a
/// LeafLink stock change as synced and leaves a BC one to the pushes.
fn plan_writes<P: Plugins>(
    cx: &SyncContext<'_, P>,
    record: &str,
    source: ProductMaster,
    xref: &CrossReference,
    leaflink_now: &FieldValues,
    bc_now: &FieldValues,
    multiplier: &str,
) -> Result<ProductWrites, FlowError> {
    let mut writes = ProductWrites::default();
    for field in [NAME, PRICE, QUANTITY] {
        let in_leaflink = fields::field_changed(&xref.leaflink_fields, leaflink_now, field);
        let in_bc = fields::field_changed(&xref.bc_fields, bc_now, field);
        if field == QUANTITY && source == ProductMaster::LeafLink {
            if in_bc {
                writes.deferred.push(field);
            }
            continue;
        }
        let (in_source, in_target) = match source {
            ProductMaster::BusinessCentral => (in_bc, in_leaflink),
            ProductMaster::LeafLink => (in_leaflink, in_bc),
        };
        match (in_source, in_target) {
            (false, false) => {}
            (true, false) => writes.write_to(other_side(source), field),
            (false, true) => writes.deferred.push(field),
            (true, true) => {
                if same_value(field, leaflink_now, bc_now, multiplier) {
                    continue;
                }
                let winner = owner(field, cx.tenant.product_master);
                record_conflict(cx, record, field, winner, leaflink_now, bc_now, multiplier)?;
                writes.write_to(other_side(winner), field);
            }
        }
    }
    Ok(writes)
}

/// Keeps in a LeafLink patch only the product fields in `fields`. Extras an
/// override plugin added stay, so they travel with any field write.
fn restrict_patch(patch: &mut LlProductPatch, fields: &[&str]) {
    if !fields.contains(&NAME) {
        patch.name = None;
    }
    if !fields.contains(&QUANTITY) {
        patch.quantity = None;
    }
    if !fields.contains(&PRICE) {
        patch.wholesale_price = None;
        patch.retail_price = None;
        patch.sale_price = None;
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

/// Builds the LeafLink patch that writes `fields` of `item` to `product`.
/// Returns `None` when `fields` is empty, without calling the plugins, or
/// when LeafLink already has every value.
async fn leaflink_patch<P: Plugins>(
    cx: &SyncContext<'_, P>,
    item: &BcItem,
    product: &LlProduct,
    fields: &[&str],
) -> Result<Option<LlProductPatch>, ApiError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mapped = cx.mapping.product_patch(item, product).await?;
    let mut patch = cx.overrides.product_patch(item, mapped).await?;
    restrict_patch(&mut patch, fields);
    Ok((!patch_is_empty(&patch)).then_some(patch))
}

/// Builds the BC item update that writes `fields` of `product` to `item`, or
/// `None` when `fields` is empty. Stock is never part of it.
async fn item_update<P: Plugins>(
    cx: &SyncContext<'_, P>,
    product: &LlProduct,
    item: &BcItem,
    fields: &[&str],
) -> Result<Option<BcItem>, ApiError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mapped = cx.mapping.item_update(product, item).await?;
    let mut update = cx.overrides.item(product, mapped).await?;
    update.inventory = None;
    update.id = item.id.clone();
    update.etag = item.etag.clone();
    // BC's update always carries `displayName`, so an unchanged name is sent
    // as BC has it.
    if !fields.contains(&NAME) {
        update.display_name = item.display_name.clone();
    }
    if !fields.contains(&PRICE) {
        update.unit_price = None;
    }
    Ok(Some(update))
}

/// Writes one item update to BC and returns the item as BC saved it.
async fn apply_item_update<P: Plugins>(cx: &SyncContext<'_, P>, update: BcItem) -> Result<BcItem, ApiError> {
    let mut results = cx.business_central.apply(&[Write::UpdateItem(update)]).await?.into_iter();
    match results.next() {
        Some(Ok(Written::Item(updated))) => Ok(updated),
        Some(Ok(other)) => Err(ApiError::Call(format!("BC returned an unexpected record for an item update: {other:?}"))),
        Some(Err(error)) => Err(ApiError::Plugin(error)),
        None => Err(ApiError::Call("BC returned no result for an item update".to_owned())),
    }
}

/// Saves the cross-reference after a run settled a product: the current
/// values of both sides, except that each deferred field keeps its
/// last-synced value on `target`, the side the run writes to.
fn save_synced<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    product: &LlProduct,
    item: &BcItem,
    price_field: PriceField,
    previous: &CrossReference,
    target: ProductMaster,
    deferred: &[&str],
) -> Result<(), FlowError> {
    resolve::save_item_xref(cx, product, item, price_field, &previous.origin, None)?;
    if deferred.is_empty() {
        return Ok(());
    }
    let saved = cx.store.xref(cx.tenant_name(), RecordKind::Item, &product.sku).map_err(|e| cx.store_error(e))?;
    let Some(mut saved) = saved else { return Ok(()) };
    for field in deferred {
        match target {
            ProductMaster::LeafLink => fields::keep_baseline(&mut saved.leaflink_fields, &previous.leaflink_fields, field),
            ProductMaster::BusinessCentral => fields::keep_baseline(&mut saved.bc_fields, &previous.bc_fields, field),
        }
    }
    cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &saved).map_err(|e| cx.store_error(e))
}

/// `products-push`: a BC item that changed updates the LeafLink product with
/// its SKU, writing only the fields BC changed since the last sync.
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
            let writes = plan_writes(cx, &record, ProductMaster::BusinessCentral, &xref, &leaflink_now, &bc_now, &product.unit_multiplier)?;

            let patch = match leaflink_patch(cx, &item, product, &writes.to_leaflink).await {
                Ok(patch) => patch,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            let written_to_leaflink = patch.is_some();
            let product_after = match patch {
                None => product.clone(),
                Some(patch) => match cx.leaflink.update_product(product.id, &patch).await {
                    Ok(updated) => updated,
                    Err(error) => {
                        cx.fail_api(&record, &error)?;
                        continue;
                    }
                },
            };
            // A field LeafLink owns and both sides changed: LeafLink's value
            // goes to BC now, since a later pull would find nothing changed.
            let update = match item_update(cx, &product_after, &item, &writes.to_bc).await {
                Ok(update) => update,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            let written_to_bc = update.is_some();
            let item_after = match update {
                None => item.clone(),
                Some(update) => {
                    cx.flush_store()?;
                    match apply_item_update(cx, update).await {
                        Ok(updated) => updated,
                        Err(error) => {
                            cx.fail_api(&record, &error)?;
                            continue;
                        }
                    }
                }
            };
            save_synced(cx, &product_after, &item_after, price_field, &xref, ProductMaster::LeafLink, &writes.deferred)?;
            if written_to_leaflink || written_to_bc {
                cx.counts.written += 1;
            } else {
                cx.counts.skipped += 1;
            }
            cx.succeeded(&record)?;
        }
        next = after;
        if next.is_none() {
            break;
        }
    }
    finish_cursor(cx, newest)
}

/// A product whose BC item update waits in the pull's batch.
struct PendingItem {
    product: LlProduct,
    xref: CrossReference,
    deferred: Vec<&'static str>,
}

/// `products-pull`: LeafLink products changed since the last pull update
/// their BC items, writing only the fields LeafLink changed since the last
/// sync (name and price; stock stays BC's).
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
            let planned = plan_writes(cx, &record, ProductMaster::LeafLink, &xref, &leaflink_now, &bc_now, &product.unit_multiplier)?;

            // A field BC owns and both sides changed: BC's value goes to
            // LeafLink now, since a later push would find nothing changed.
            let patch = match leaflink_patch(cx, item, &product, &planned.to_leaflink).await {
                Ok(patch) => patch,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            let written_to_leaflink = patch.is_some();
            let product_after = match patch {
                None => product,
                Some(patch) => match cx.leaflink.update_product(product.id, &patch).await {
                    Ok(updated) => updated,
                    Err(error) => {
                        cx.fail_api(&record, &error)?;
                        continue;
                    }
                },
            };
            let update = match item_update(cx, &product_after, item, &planned.to_bc).await {
                Ok(update) => update,
                Err(error) => {
                    cx.fail_api(&record, &error)?;
                    continue;
                }
            };
            match update {
                Some(update) => {
                    writes.push(Write::UpdateItem(update));
                    pending.push(PendingItem { product: product_after, xref, deferred: planned.deferred });
                }
                None => {
                    save_synced(cx, &product_after, item, price_field, &xref, ProductMaster::BusinessCentral, &planned.deferred)?;
                    if written_to_leaflink {
                        cx.counts.written += 1;
                    } else {
                        cx.counts.skipped += 1;
                    }
                    cx.succeeded(&record)?;
                }
            }
        }
        if !writes.is_empty() {
            cx.flush_store()?;
            match cx.business_central.apply(&writes).await {
                Ok(results) => {
                    for (pending, result) in pending.into_iter().zip(results) {
                        let record = item_record(&pending.product.sku);
                        match result {
                            Ok(Written::Item(updated)) => {
                                let PendingItem { product, xref, deferred } = pending;
                                save_synced(cx, &product, &updated, price_field, &xref, ProductMaster::BusinessCentral, &deferred)?;
                                cx.counts.written += 1;
                                cx.succeeded(&record)?;
                            }
                            Ok(other) => cx.fail(&record, &format!("BC returned an unexpected record for an item update: {other:?}"), true)?,
                            Err(error) => cx.fail_api(&record, &ApiError::Plugin(error))?,
                        }
                    }
                }
                Err(error) => {
                    for pending in pending {
                        cx.fail_api(&item_record(&pending.product.sku), &error)?;
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
