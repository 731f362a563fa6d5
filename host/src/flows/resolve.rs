//! Customers and items: finding or creating the BC record for a LeafLink
//! customer or product (inside `orders-import`, `products-import` and
//! `customers-import`), and the `customers-import` flow itself.
//!
//! A create is always preceded by a batch lookup on the natural key that lives
//! in BC (customer `number` under `leaflink-id` numbering, item `number` =
//! SKU), so a lost store or a create whose response was lost finds the record
//! instead of creating it twice.

use std::collections::{BTreeMap, HashMap};

use super::fields::{self, changed_fields, customer_fields};
use super::ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::{Query, Write, Written};
use crate::runtime::bindings::extras_is_empty;
use crate::runtime::bindings::leaflink::{CustomerQuery, ProductQuery};
use crate::runtime::bindings::types::{BcCustomer, BcItem, LlCustomer, LlProduct};
use crate::store::{Conflict, CrossReference, FieldValues, RecordKind};
use crate::tenant::CustomerNumbering;

/// Values per `field eq .. or ..` lookup; keeps the query string short.
pub(crate) const LOOKUP_CHUNK: usize = 50;
/// LeafLink page size (the connector caps it at 100).
pub(crate) const LEAFLINK_PAGE: u32 = 100;
/// BC's maximum item number length (`Code[20]`).
const BC_ITEM_NUMBER_MAX: usize = 20;

/// The record key used in dead letters and logs.
pub(crate) fn customer_record(id: i64) -> String {
    format!("customer {id}")
}

pub(crate) fn item_record(sku: &str) -> String {
    format!("sku {sku}")
}

/// An exact BC query on one field.
pub(crate) fn query_on(field: &str, values: Vec<String>) -> Query {
    Query { modified_after: None, field: Some(field.to_owned()), values, page_size: None }
}

/// The BC number a LeafLink customer gets under `leaflink-id` numbering.
pub(crate) fn customer_number(prefix: &str, id: i64) -> String {
    format!("{prefix}{id}")
}

/// LeafLink values with no BC property, kept in the cross-reference.
fn stored_customer_values(customer: &LlCustomer) -> FieldValues {
    let mut stored = FieldValues::new();
    let pairs = [
        ("license_number", customer.license_number.clone()),
        ("county", customer.county.clone()),
        ("status", customer.status.map(|status| status.to_string())),
        ("archived", Some(customer.archived.to_string())),
        ("modified", customer.modified.clone()),
        ("external_id", customer.external_id.clone()),
    ];
    for (name, value) in pairs {
        if let Some(value) = value {
            stored.insert(name.to_owned(), value);
        }
    }
    stored
}

fn stored_product_values(product: &LlProduct) -> FieldValues {
    let mut stored = FieldValues::new();
    stored.insert("leaflink_product_id".to_owned(), product.id.to_string());
    if let Some(last_edit) = &product.last_edit {
        stored.insert("last_edit".to_owned(), last_edit.clone());
    }
    stored
}

/// Carries the `<field>_full` values into a cross-reference's `stored` map.
/// The core mapping cuts a value longer than its BC field and puts the whole
/// LeafLink value in the mapped record's extras as `<field>_full`. `mapped`
/// is `Some` with the extras of a fresh mapping, which replace the previous
/// full values, or `None` when no mapping ran, which keeps them. Extras that
/// are not a JSON object also keep them, with a warning naming `record`.
fn keep_full_values(stored: &mut FieldValues, previous: Option<&CrossReference>, mapped: Option<&str>, record: &str) {
    let full_values = match mapped.map(full_values_in) {
        Some(Ok(values)) => values,
        Some(Err(error)) => {
            tracing::warn!(record, %error, "the mapped record's extras are not a JSON object; keeping the stored full values");
            keep_previous_full_values(stored, previous);
            return;
        }
        None => {
            keep_previous_full_values(stored, previous);
            return;
        }
    };
    stored.extend(full_values);
}

fn keep_previous_full_values(stored: &mut FieldValues, previous: Option<&CrossReference>) {
    if let Some(previous) = previous {
        stored.extend(previous.stored.iter().filter(|(name, _)| name.ends_with("_full")).map(|(name, value)| (name.clone(), value.clone())));
    }
}

/// Returns the `<field>_full` fields of an extras object. A full value is a
/// JSON string, stored as its text; any other JSON value is stored as JSON.
fn full_values_in(extras: &str) -> Result<Vec<(String, String)>, serde_json::Error> {
    if extras_is_empty(extras) {
        return Ok(Vec::new());
    }
    let fields = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(extras)?;
    let full_values = fields
        .into_iter()
        .filter(|(name, _)| name.ends_with("_full"))
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => (name, text),
            other => (name, other.to_string()),
        })
        .collect();
    Ok(full_values)
}

/// Fetches every BC customer whose `field` is one of `values`.
pub(crate) async fn lookup_bc_customers<P: Plugins>(
    cx: &SyncContext<'_, P>,
    field: &str,
    values: &[String],
) -> Result<Vec<BcCustomer>, ApiError> {
    let mut found = Vec::new();
    for chunk in values.chunks(LOOKUP_CHUNK) {
        let query = query_on(field, chunk.to_vec());
        let mut next = None;
        loop {
            let page = cx.business_central.list_customers(&query, next).await?;
            found.extend(page.customers);
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

pub(crate) async fn lookup_bc_items<P: Plugins>(
    cx: &SyncContext<'_, P>,
    field: &str,
    values: &[String],
) -> Result<Vec<BcItem>, ApiError> {
    let mut found = Vec::new();
    for chunk in values.chunks(LOOKUP_CHUNK) {
        let query = query_on(field, chunk.to_vec());
        let mut next = None;
        loop {
            let page = cx.business_central.list_items(&query, next).await?;
            found.extend(page.items);
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// Fetches LeafLink customers by id, 100 per request.
async fn fetch_leaflink_customers<P: Plugins>(cx: &SyncContext<'_, P>, ids: &[i64]) -> Result<Vec<LlCustomer>, ApiError> {
    let mut customers = Vec::new();
    for chunk in ids.chunks(LEAFLINK_PAGE as usize) {
        let query = CustomerQuery { modified_from: None, ids: chunk.to_vec(), limit: Some(LEAFLINK_PAGE) };
        let mut next = None;
        loop {
            let page = cx.leaflink.list_customers(&query, next).await?;
            customers.extend(page.customers);
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(customers)
}

/// Fetches LeafLink products by SKU, 100 per request.
pub(crate) async fn fetch_leaflink_products<P: Plugins>(
    cx: &SyncContext<'_, P>,
    skus: &[String],
) -> Result<Vec<LlProduct>, ApiError> {
    let mut products = Vec::new();
    for chunk in skus.chunks(LEAFLINK_PAGE as usize) {
        let query = ProductQuery { modified_from: None, skus: chunk.to_vec(), ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
        let mut next = None;
        loop {
            let page = cx.leaflink.list_products(&query, next).await?;
            products.extend(page.products);
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(products)
}

/// Finds or creates the BC customer of each LeafLink customer id. Returns the
/// BC number of each id that resolved; the others are dead letters, and the
/// reason is in the second map.
pub(crate) async fn resolve_customers<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    ids: &[i64],
) -> Result<(HashMap<i64, String>, HashMap<i64, String>), FlowError> {
    let mut resolved = HashMap::new();
    let mut missing = Vec::new();
    for &id in ids {
        if let Some((_, number)) = cx.cache.customers.get(&id) {
            resolved.insert(id, number.clone());
            continue;
        }
        let xref = cx.store.xref(cx.tenant_name(), RecordKind::Customer, &id.to_string()).map_err(|e| cx.store_error(e))?;
        match xref.and_then(|xref| xref.bc_number.map(|number| (xref.bc_id, number))) {
            Some((bc_id, number)) => {
                cx.cache.customers.insert(id, (bc_id, number.clone()));
                resolved.insert(id, number);
            }
            None => missing.push(id),
        }
    }
    let mut failed = HashMap::new();
    if missing.is_empty() {
        return Ok((resolved, failed));
    }

    // A large crawl reads the whole customer list once; the rest by id.
    super::read_ahead::read_customer_list(cx).await;
    let mut read_ahead = Vec::new();
    let mut unread = Vec::new();
    for &id in &missing {
        match cx.cache.leaflink_customers.remove(&id) {
            Some(customer) => read_ahead.push(customer),
            None => unread.push(id),
        }
    }
    let customers = match fetch_leaflink_customers(cx, &unread).await {
        Ok(mut customers) => {
            customers.append(&mut read_ahead);
            customers
        }
        Err(error) => {
            for &id in &missing {
                cx.fail_api(&customer_record(id), &error)?;
                failed.insert(id, error.to_string());
            }
            return Ok((resolved, failed));
        }
    };
    for &id in &missing {
        if !customers.iter().any(|customer| customer.id == id) {
            let reason = format!("customer {id} was not found in LeafLink");
            cx.fail(&customer_record(id), &reason, false)?;
            failed.insert(id, reason);
        }
    }
    let outcome = ensure_customers(cx, customers, false).await?;
    for (id, result) in outcome {
        match result {
            Ok(number) => {
                resolved.insert(id, number);
            }
            Err(reason) => {
                failed.insert(id, reason);
            }
        }
    }
    Ok((resolved, failed))
}

/// Maps LeafLink customers and makes each exist in BC: found by natural key
/// or created. With `update_existing`, a found or cross-referenced customer
/// whose mapped fields changed is updated (LeafLink owns customer fields).
/// Start of the reason of a record held back by an open link proposal. An
/// order that needs the record waits for the person, so it is not transient.
pub(crate) const PROPOSAL_PENDING: &str = "link proposed pairing it with BC";

/// Returns why a record with an open link proposal is not created: a person
/// has yet to accept or reject its pairing with an existing BC record.
fn open_proposal_reason<P: Plugins>(cx: &SyncContext<'_, P>, kind: RecordKind, leaflink_key: &str) -> Result<Option<String>, FlowError> {
    let proposal = cx.store.open_link_proposal(cx.tenant_name(), kind, leaflink_key).map_err(|e| cx.store_error(e))?;
    Ok(proposal.map(|proposal| {
        let candidates: Vec<&str> = proposal
            .candidates
            .iter()
            .map(|candidate| candidate.bc_number.as_deref().unwrap_or(&candidate.display_name))
            .collect();
        format!(
            "{PROPOSAL_PENDING} {} {}; accept or reject the proposal (`leafbridge link --help`) before leafbridge creates it",
            kind.as_str(),
            candidates.join(" or ")
        )
    }))
}

pub(crate) async fn ensure_customers<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    customers: Vec<LlCustomer>,
    update_existing: bool,
) -> Result<BTreeMap<i64, Result<String, String>>, FlowError> {
    let mut outcome = BTreeMap::new();

    // Map every customer with the core and the tenant's overrides.
    let mut mapped: Vec<(LlCustomer, BcCustomer)> = Vec::new();
    for customer in customers {
        let record = customer_record(customer.id);
        let result = match cx.mapping.map_customer(&customer).await {
            Ok(mut bc) => {
                apply_linked_salesperson(cx, &customer, &mut bc)?;
                cx.overrides.customer(&customer, bc).await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(mut bc) => {
                if let CustomerNumbering::LeafLinkId { prefix } = &cx.tenant.customer_numbering {
                    bc.number.get_or_insert_with(|| customer_number(prefix, customer.id));
                }
                mapped.push((customer, bc));
            }
            Err(error) => {
                cx.fail_api(&record, &error)?;
                outcome.insert(customer.id, Err(error.to_string()));
            }
        }
    }
    if mapped.is_empty() {
        return Ok(outcome);
    }

    // Look each one up in BC by its natural key.
    let existing = match find_existing_customers(cx, &mapped).await {
        Ok(existing) => existing,
        Err(error) => {
            for (customer, _) in &mapped {
                cx.fail_api(&customer_record(customer.id), &error)?;
                outcome.insert(customer.id, Err(error.to_string()));
            }
            return Ok(outcome);
        }
    };

    // Record the found ones; queue creates and updates.
    let mut writes = Vec::new();
    let mut pending: Vec<(LlCustomer, BcCustomer)> = Vec::new();
    for (customer, bc) in mapped {
        let record = customer_record(customer.id);
        match existing.get(&customer.id) {
            Some(Err(reason)) => {
                cx.fail(&record, reason, false)?;
                outcome.insert(customer.id, Err(reason.clone()));
            }
            Some(Ok(current)) => {
                let number = current.number.clone().unwrap_or_default();
                let xref = cx
                    .store
                    .xref(cx.tenant_name(), RecordKind::Customer, &customer.id.to_string())
                    .map_err(|e| cx.store_error(e))?;
                let wanted = customer_fields(&bc);
                let written_before = xref.as_ref().map(|xref| xref.bc_fields.clone());
                let needs_update = update_existing && written_before.as_ref() != Some(&wanted) && customer_fields(current) != wanted;
                if needs_update {
                    record_customer_conflicts(cx, &customer, written_before.as_ref(), current, &wanted)?;
                    let mut update = bc.clone();
                    update.id = current.id.clone();
                    update.etag = current.etag.clone();
                    update.number = current.number.clone();
                    writes.push(Write::UpdateCustomer(update));
                    pending.push((customer, bc));
                } else {
                    let origin = if xref.is_some() { "created" } else { "found" };
                    save_customer_xref(cx, &customer, current, customer_fields(current), origin, Some(bc.extras.as_str()))?;
                    cx.count_resolved_skipped();
                    cx.succeeded(&record)?;
                    outcome.insert(customer.id, Ok(number));
                }
            }
            None => {
                // A person may still pair it with a BC customer: creating one
                // now would make the duplicate the proposal is there to avoid.
                if let Some(reason) = open_proposal_reason(cx, RecordKind::Customer, &customer.id.to_string())? {
                    cx.fail(&record, &reason, false)?;
                    outcome.insert(customer.id, Err(reason));
                    continue;
                }
                writes.push(Write::CreateCustomer(bc.clone()));
                pending.push((customer, bc));
            }
        }
    }
    if writes.is_empty() {
        return Ok(outcome);
    }

    // Write them in one `apply` call and record what BC returned.
    cx.flush_store()?;
    match cx.business_central.apply(&writes).await {
        Ok(results) => {
            for ((customer, bc), result) in pending.into_iter().zip(results) {
                let record = customer_record(customer.id);
                match result {
                    Ok(Written::Customer(created)) => {
                        let number = created.number.clone().or(bc.number.clone()).unwrap_or_default();
                        save_customer_xref(cx, &customer, &created, customer_fields(&bc), "created", Some(bc.extras.as_str()))?;
                        cx.count_resolved_written();
                        cx.succeeded(&record)?;
                        outcome.insert(customer.id, Ok(number));
                    }
                    Ok(other) => {
                        let reason = format!("BC returned an unexpected record for a customer write: {other:?}");
                        cx.fail(&record, &reason, true)?;
                        outcome.insert(customer.id, Err(reason));
                    }
                    Err(error) => {
                        let error = ApiError::Plugin(error);
                        cx.fail_api(&record, &error)?;
                        outcome.insert(customer.id, Err(error.to_string()));
                    }
                }
            }
        }
        Err(error) => {
            for (customer, _) in pending {
                cx.fail_api(&customer_record(customer.id), &error)?;
                outcome.insert(customer.id, Err(error.to_string()));
            }
        }
    }
    Ok(outcome)
}

/// The BC customer each mapped customer already has, by natural key: the
/// cross-reference's number, else the `leaflink-id` number, else (under
/// `bc-series`) an exact match of display name and address. An ambiguous
/// match is an error value for that customer and a conflict record.
async fn find_existing_customers<P: Plugins>(
    cx: &SyncContext<'_, P>,
    mapped: &[(LlCustomer, BcCustomer)],
) -> Result<HashMap<i64, Result<BcCustomer, String>>, ApiError> {
    let mut numbers = Vec::new();
    let mut by_number: HashMap<String, i64> = HashMap::new();
    let mut by_name: Vec<(i64, &BcCustomer)> = Vec::new();
    for (customer, bc) in mapped {
        let xref_number = cx
            .store
            .xref(cx.tenant_name(), RecordKind::Customer, &customer.id.to_string())
            .ok()
            .flatten()
            .and_then(|xref| xref.bc_number);
        match xref_number.or_else(|| match &cx.tenant.customer_numbering {
            CustomerNumbering::LeafLinkId { .. } => bc.number.clone(),
            CustomerNumbering::BcSeries => None,
        }) {
            Some(number) => {
                by_number.insert(number.clone(), customer.id);
                numbers.push(number);
            }
            None => by_name.push((customer.id, bc)),
        }
    }

    let mut existing = HashMap::new();
    for found in lookup_bc_customers(cx, "number", &numbers).await? {
        if let Some(id) = found.number.as_ref().and_then(|number| by_number.get(number)) {
            existing.insert(*id, Ok(found));
        }
    }

    if !by_name.is_empty() {
        let names: Vec<String> = by_name.iter().map(|(_, bc)| bc.display_name.clone()).collect();
        let candidates = lookup_bc_customers(cx, "displayName", &names).await?;
        for (id, bc) in by_name {
            let matches: Vec<&BcCustomer> = candidates
                .iter()
                .filter(|candidate| candidate.display_name == bc.display_name && candidate.address_line1 == bc.address_line1)
                .collect();
            match matches.as_slice() {
                [] => {}
                [only] => {
                    existing.insert(id, Ok((*only).clone()));
                }
                several => {
                    let reason = format!(
                        "{} BC customers match display name {:?} and address; a person must choose",
                        several.len(),
                        bc.display_name
                    );
                    let _ = cx.conflict(Conflict {
                        flow: cx.flow.name().to_owned(),
                        record: customer_record(id),
                        field: None,
                        winner: "none".to_owned(),
                        leaflink_value: Some(bc.display_name.clone()),
                        business_central_value: Some(several.iter().filter_map(|c| c.number.clone()).collect::<Vec<_>>().join(", ")),
                        reason: reason.clone(),
                        detected: jiff::Timestamp::now(),
                    });
                    existing.insert(id, Err(reason));
                }
            }
        }
    }
    Ok(existing)
}

/// Records a conflict for each customer field BC changed since leafbridge last
/// wrote it and LeafLink now changes too; LeafLink owns customer fields.
fn record_customer_conflicts<P: Plugins>(
    cx: &SyncContext<'_, P>,
    customer: &LlCustomer,
    written_before: Option<&FieldValues>,
    current: &BcCustomer,
    wanted: &FieldValues,
) -> Result<(), FlowError> {
    let Some(written_before) = written_before else { return Ok(()) };
    let in_bc = customer_fields(current);
    let changed_in_bc = changed_fields(written_before, &in_bc);
    let changed_in_leaflink = changed_fields(written_before, wanted);
    for field in changed_in_bc.iter().filter(|field| changed_in_leaflink.contains(field)) {
        if in_bc.get(field) == wanted.get(field) {
            continue;
        }
        cx.conflict(Conflict {
            flow: cx.flow.name().to_owned(),
            record: customer_record(customer.id),
            field: Some(field.clone()),
            winner: "leaflink".to_owned(),
            leaflink_value: wanted.get(field).cloned(),
            business_central_value: in_bc.get(field).cloned(),
            reason: "both sides changed the field; LeafLink owns customer fields".to_owned(),
            detected: jiff::Timestamp::now(),
        })?;
    }
    Ok(())
}

/// Fills a blank `salespersonCode` from the BC salesperson that `link` paired
/// by email with the customer's first manager. The mapping has already
/// applied the tenant's `salesperson_map`, and a manager listed there keeps
/// the mapped code, so the explicit map wins wherever it is set.
fn apply_linked_salesperson<P: Plugins>(cx: &SyncContext<'_, P>, customer: &LlCustomer, bc: &mut BcCustomer) -> Result<(), FlowError> {
    let Some(manager) = customer.managers.first().map(i64::to_string) else { return Ok(()) };
    let blank = bc.salesperson_code.as_deref().is_none_or(|code| code.trim().is_empty());
    if !blank || cx.tenant.salesperson_map.contains_key(&manager) {
        return Ok(());
    }
    let linked = cx.store.xref(cx.tenant_name(), RecordKind::Salesperson, &manager).map_err(|e| cx.store_error(e))?;
    if let Some(code) = linked.and_then(|xref| xref.bc_number).filter(|code| !code.trim().is_empty()) {
        bc.salesperson_code = Some(code);
    }
    Ok(())
}

fn save_customer_xref<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    customer: &LlCustomer,
    bc: &BcCustomer,
    bc_fields: FieldValues,
    origin: &str,
    mapped_extras: Option<&str>,
) -> Result<(), FlowError> {
    let number = bc.number.clone().unwrap_or_default();
    let previous = cx.store.xref(cx.tenant_name(), RecordKind::Customer, &customer.id.to_string()).map_err(|e| cx.store_error(e))?;
    let mut stored = stored_customer_values(customer);
    keep_full_values(&mut stored, previous.as_ref(), mapped_extras, &customer_record(customer.id));
    let xref = CrossReference {
        leaflink_key: customer.id.to_string(),
        bc_id: bc.id.clone(),
        bc_number: Some(number.clone()),
        leaflink_fields: FieldValues::new(),
        bc_fields,
        stored,
        origin: origin.to_owned(),
        updated: None,
    };
    cx.store.put_xref(cx.tenant_name(), RecordKind::Customer, &xref).map_err(|e| cx.store_error(e))?;
    cx.cache.customers.insert(customer.id, (bc.id.clone(), number));
    Ok(())
}

/// Finds or creates the BC item of each SKU. Returns the BC item number of
/// each SKU that resolved and the reason for each that did not.
pub(crate) async fn resolve_items<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    skus: &[String],
) -> Result<(HashMap<String, String>, HashMap<String, String>), FlowError> {
    let mut resolved = HashMap::new();
    let mut missing = Vec::new();
    for sku in skus {
        if let Some(number) = cx.cache.items.get(sku) {
            resolved.insert(sku.clone(), number.clone());
            continue;
        }
        let xref = cx.store.xref(cx.tenant_name(), RecordKind::Item, sku).map_err(|e| cx.store_error(e))?;
        match xref.and_then(|xref| xref.bc_number) {
            Some(number) => {
                cx.cache.items.insert(sku.clone(), number.clone());
                resolved.insert(sku.clone(), number);
            }
            None => missing.push(sku.clone()),
        }
    }
    let mut failed = HashMap::new();
    if missing.is_empty() {
        return Ok((resolved, failed));
    }

    // Products the catalog read-ahead already returned are not read again.
    let mut products = Vec::new();
    let mut unread = Vec::new();
    for sku in &missing {
        match cx.cache.leaflink_products.remove(sku) {
            Some(product) => products.push(product),
            None if sku.trim().is_empty() => {}
            None => unread.push(sku.clone()),
        }
    }
    match fetch_leaflink_products(cx, &unread).await {
        Ok(fetched) => products.extend(fetched),
        // The products taken from the read-ahead still go on to item
        // creation, because they were removed from the cache.
        Err(error) => {
            for sku in &unread {
                cx.fail_api(&item_record(sku), &error)?;
                failed.insert(sku.clone(), error.to_string());
            }
        }
    }
    for sku in &missing {
        if !failed.contains_key(sku) && !products.iter().any(|product| &product.sku == sku) {
            let reason = if sku.trim().is_empty() {
                // LeafLink cannot be asked for a blank SKU, and a BC item
                // number cannot be blank, so the product itself must change.
                format!("the SKU {sku:?} is blank, so no BC item can be found or created for it; give the LeafLink product a SKU")
            } else {
                format!("unknown SKU {sku:?}: no LeafLink product has it")
            };
            cx.fail(&item_record(sku), &reason, false)?;
            failed.insert(sku.clone(), reason);
        }
    }
    for (sku, result) in ensure_items(cx, products).await? {
        match result {
            Ok(number) => {
                resolved.insert(sku, number);
            }
            Err(reason) => {
                failed.insert(sku, reason);
            }
        }
    }
    Ok((resolved, failed))
}

/// Maps LeafLink products and makes each exist as a BC item: found by item
/// number (or `gtin` for a SKU longer than BC's item number) or created.
pub(crate) async fn ensure_items<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    products: Vec<LlProduct>,
) -> Result<BTreeMap<String, Result<String, String>>, FlowError> {
    let mut outcome = BTreeMap::new();
    let price_field = fields::PriceField::from_settings(&cx.tenant.plugin_settings);

    let mut mapped: Vec<(LlProduct, BcItem)> = Vec::new();
    for product in products {
        let record = item_record(&product.sku);
        let result = match cx.mapping.map_product(&product).await {
            Ok(item) => cx.overrides.item(&product, item).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(item) => mapped.push((product, item)),
            Err(error) => {
                cx.fail_api(&record, &error)?;
                outcome.insert(product.sku.clone(), Err(error.to_string()));
            }
        }
    }
    if mapped.is_empty() {
        return Ok(outcome);
    }

    let numbers: Vec<String> = mapped.iter().map(|(_, item)| item.number.clone()).collect();
    let long_skus: Vec<String> = mapped
        .iter()
        .filter(|(product, _)| product.sku.chars().count() > BC_ITEM_NUMBER_MAX)
        .map(|(product, _)| product.sku.clone())
        .collect();
    let lookup = async {
        let mut found = lookup_bc_items(cx, "number", &numbers).await?;
        if !long_skus.is_empty() {
            found.extend(lookup_bc_items(cx, "gtin", &long_skus).await?);
        }
        Ok::<_, ApiError>(found)
    };
    let existing = match lookup.await {
        Ok(existing) => existing,
        Err(error) => {
            for (product, _) in &mapped {
                cx.fail_api(&item_record(&product.sku), &error)?;
                outcome.insert(product.sku.clone(), Err(error.to_string()));
            }
            return Ok(outcome);
        }
    };

    let mut writes = Vec::new();
    let mut pending = Vec::new();
    for (product, item) in mapped {
        let found = existing
            .iter()
            .find(|candidate| candidate.number == item.number || candidate.gtin.as_deref() == Some(product.sku.as_str()));
        match found {
            Some(current) => {
                let current = current.clone();
                save_item_xref(cx, &product, &current, price_field, "found", Some(item.extras.as_str()))?;
                cx.count_resolved_skipped();
                cx.succeeded(&item_record(&product.sku))?;
                outcome.insert(product.sku.clone(), Ok(current.number.clone()));
            }
            None => {
                if let Some(reason) = open_proposal_reason(cx, RecordKind::Item, &product.sku)? {
                    cx.fail(&item_record(&product.sku), &reason, false)?;
                    outcome.insert(product.sku.clone(), Err(reason));
                    continue;
                }
                writes.push(Write::CreateItem(item.clone()));
                pending.push((product, item));
            }
        }
    }
    if writes.is_empty() {
        return Ok(outcome);
    }

    cx.flush_store()?;
    match cx.business_central.apply(&writes).await {
        Ok(results) => {
            for ((product, item), result) in pending.into_iter().zip(results) {
                let record = item_record(&product.sku);
                match result {
                    Ok(Written::Item(created)) => {
                        let mut created = created;
                        if created.number.is_empty() {
                            created.number = item.number.clone();
                        }
                        save_item_xref(cx, &product, &created, price_field, "created", Some(item.extras.as_str()))?;
                        cx.count_resolved_written();
                        cx.succeeded(&record)?;
                        outcome.insert(product.sku.clone(), Ok(created.number.clone()));
                    }
                    Ok(other) => {
                        let reason = format!("BC returned an unexpected record for an item write: {other:?}");
                        cx.fail(&record, &reason, true)?;
                        outcome.insert(product.sku.clone(), Err(reason));
                    }
                    Err(error) => {
                        let error = ApiError::Plugin(error);
                        cx.fail_api(&record, &error)?;
                        outcome.insert(product.sku.clone(), Err(error.to_string()));
                    }
                }
            }
        }
        Err(error) => {
            for (product, _) in pending {
                cx.fail_api(&item_record(&product.sku), &error)?;
                outcome.insert(product.sku.clone(), Err(error.to_string()));
            }
        }
    }
    Ok(outcome)
}

/// Records the pair SKU <-> BC item with the product values of both sides.
pub(crate) fn save_item_xref<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    product: &LlProduct,
    item: &BcItem,
    price_field: fields::PriceField,
    origin: &str,
    mapped_extras: Option<&str>,
) -> Result<(), FlowError> {
    let previous = cx.store.xref(cx.tenant_name(), RecordKind::Item, &product.sku).map_err(|e| cx.store_error(e))?;
    let mut stored = stored_product_values(product);
    keep_full_values(&mut stored, previous.as_ref(), mapped_extras, &item_record(&product.sku));
    let xref = CrossReference {
        leaflink_key: product.sku.clone(),
        bc_id: item.id.clone(),
        bc_number: Some(item.number.clone()),
        leaflink_fields: fields::product_fields_of_product(product, price_field),
        bc_fields: fields::product_fields_of_item(item),
        stored,
        origin: origin.to_owned(),
        updated: None,
    };
    cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
    cx.cache.items.insert(product.sku.clone(), item.number.clone());
    Ok(())
}

/// Finds the cross-reference of a BC item. The core mapping numbers an item
/// with its SKU in upper case when the SKU fits BC's 20-character item
/// number and `LL<LeafLink product id>` otherwise, while cross-references are
/// keyed by the LeafLink SKU. So the item's BC id is looked up first, which
/// finds every item leafbridge created or linked, and the item number is
/// tried as a SKU second.
pub(crate) fn item_xref<P: Plugins>(cx: &SyncContext<'_, P>, item: &BcItem) -> Result<Option<CrossReference>, FlowError> {
    if let Some(id) = item.id.as_deref() {
        let found = cx.store.xref_by_bc_id(cx.tenant_name(), RecordKind::Item, id).map_err(|e| cx.store_error(e))?;
        if found.is_some() {
            return Ok(found);
        }
    }
    cx.store.xref(cx.tenant_name(), RecordKind::Item, &item.number).map_err(|e| cx.store_error(e))
}

/// Fetches the LeafLink products of item cross-references: by the stored
/// product id where there is one, else by SKU.
pub(crate) async fn fetch_products_of_xrefs<P: Plugins>(
    cx: &SyncContext<'_, P>,
    xrefs: &[&CrossReference],
) -> Result<Vec<LlProduct>, ApiError> {
    let mut ids = Vec::new();
    let mut skus = Vec::new();
    for xref in xrefs {
        match xref.stored.get("leaflink_product_id").and_then(|id| id.parse::<i64>().ok()) {
            Some(id) => ids.push(id),
            None => skus.push(xref.leaflink_key.clone()),
        }
    }
    let mut products = fetch_leaflink_products(cx, &skus).await?;
    for chunk in ids.chunks(LEAFLINK_PAGE as usize) {
        let query = ProductQuery { modified_from: None, skus: Vec::new(), ids: chunk.to_vec(), limit: Some(LEAFLINK_PAGE) };
        let mut next = None;
        loop {
            let page = cx.leaflink.list_products(&query, next).await?;
            products.extend(page.products);
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(products)
}

/// `customers-import`: every LeafLink customer modified since the cursor is
/// created in BC when missing and updated when LeafLink changed it.
pub(crate) async fn customers_import<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let flow = cx.flow.name();
    let cursor = cx.store.cursor(cx.tenant_name(), flow).map_err(|e| cx.store_error(e))?;
    let query = CustomerQuery {
        modified_from: cursor.map(|cursor| cursor.read_from().to_string()),
        ids: Vec::new(),
        limit: Some(LEAFLINK_PAGE),
    };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_customers(&query, next)
            .await
            .map_err(|error| cx.api_error("listing LeafLink customers", error))?;
        cx.count_read(page.customers.len() as u64);
        for customer in &page.customers {
            if let Some(modified) = customer.modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
        }
        ensure_customers(cx, page.customers, true).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_values_unquote_strings() {
        let extras = r#"{"city_full":"Say \"Zürich\" \\ 😀","leaflink_customer_id":42,"status_full":3}"#;
        let values = full_values_in(extras).unwrap();
        assert_eq!(values, vec![("city_full".to_owned(), "Say \"Zürich\" \\ 😀".to_owned()), ("status_full".to_owned(), "3".to_owned())]);
    }

    #[test]
    fn full_values_of_empty_extras() {
        assert!(full_values_in("{}").unwrap().is_empty());
        assert!(full_values_in("").unwrap().is_empty());
    }

    #[test]
    fn full_values_reject_non_object() {
        assert!(full_values_in(r#"["city_full"]"#).is_err());
    }

    #[test]
    fn invalid_extras_keep_previous_full_values() {
        let mut previous_stored = FieldValues::new();
        previous_stored.insert("city_full".to_owned(), "Old City".to_owned());
        let previous = CrossReference { stored: previous_stored, ..CrossReference::default() };
        let mut stored = FieldValues::new();
        keep_full_values(&mut stored, Some(&previous), Some("not json"), "customer 1");
        assert_eq!(stored.get("city_full").map(String::as_str), Some("Old City"));
    }
}
