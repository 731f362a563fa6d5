//! `link`: pairs the customers, items and salespeople that already exist on
//! both sides at go-live, without creating anything.
//!
//! Matching is exact after trimming and case-folding, never by similarity. A
//! record with one candidate that agrees on its second fields (the name for
//! items, and the name and license number for customers) is linked. Several
//! candidates, a disagreement, or a BC customer with the same name but no key
//! match (a near-duplicate) becomes a proposal for a person.
//!
//! A name that leafbridge itself would have cut to fit BC's 100-character
//! `displayName` is compared in its cut form, so an item or customer that
//! leafbridge created before its store was lost still agrees.

use std::collections::HashMap;

use super::fields::{self, PriceField};
use super::ports::{BusinessCentralApi, LeafLinkApi, Plugins};
use super::resolve::{LEAFLINK_PAGE, customer_record, item_record};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::leaflink::{CustomerQuery, ProductQuery};
use crate::runtime::bindings::types::{BcCustomer, BcItem, LlCustomer, LlProduct};
use crate::store::{Candidate, CrossReference, FieldValues, LinkProposal, ProposalStatus, RecordKind};
use crate::tenant::CustomerMatchKey;

/// Trimmed and case-folded, the form `link` compares.
fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

fn folded(text: Option<&str>) -> Option<String> {
    text.map(fold).filter(|text| !text.is_empty())
}

/// BC `displayName` of items and customers is a Text[100].
const BC_DISPLAY_NAME_MAX: usize = 100;

/// Returns `name` as the core mapping writes it to a BC `displayName`:
/// trimmed, then cut to 100 UTF-16 code units on a character boundary (the
/// `fit_field` rule of `plugins/core/src/text.rs`).
fn bc_display_name(name: &str) -> &str {
    let name = name.trim();
    let mut units = 0;
    for (index, ch) in name.char_indices() {
        units += ch.len_utf16();
        if units > BC_DISPLAY_NAME_MAX {
            return &name[..index];
        }
    }
    name
}

/// Returns whether a LeafLink name and a BC `displayName` are equal after
/// trimming and case-folding, once the LeafLink name is cut the way
/// leafbridge cuts it for BC.
fn names_agree(leaflink: &str, business_central: &str) -> bool {
    fold(bc_display_name(leaflink)) == fold(business_central)
}

pub(crate) async fn run<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    link_items(cx).await?;
    link_customers(cx).await?;
    link_salespeople(cx).await?;
    Ok(())
}

async fn all_bc_items<P: Plugins>(cx: &SyncContext<'_, P>) -> Result<Vec<BcItem>, FlowError> {
    let query = Query { modified_after: None, field: None, values: Vec::new(), page_size: None };
    let mut items = Vec::new();
    let mut next = None;
    loop {
        let page = cx.business_central.list_items(&query, next).await.map_err(|e| cx.api_error("listing BC items", e))?;
        items.extend(page.items);
        next = page.next;
        if next.is_none() {
            return Ok(items);
        }
    }
}

async fn all_bc_customers<P: Plugins>(cx: &SyncContext<'_, P>) -> Result<Vec<BcCustomer>, FlowError> {
    let query = Query { modified_after: None, field: None, values: Vec::new(), page_size: None };
    let mut customers = Vec::new();
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_customers(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC customers", e))?;
        customers.extend(page.customers);
        next = page.next;
        if next.is_none() {
            return Ok(customers);
        }
    }
}

async fn link_items<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let items = all_bc_items(cx).await?;
    let mut by_key: HashMap<String, Vec<&BcItem>> = HashMap::new();
    for item in &items {
        by_key.entry(fold(&item.number)).or_default().push(item);
        if let Some(gtin) = folded(item.gtin.as_deref())
            && gtin != fold(&item.number)
        {
            by_key.entry(gtin).or_default().push(item);
        }
    }
    let price_field = PriceField::from_settings(&cx.tenant.plugin_settings);

    let query = ProductQuery { modified_from: None, skus: Vec::new(), ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_products(&query, next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink products", e))?;
        for product in &page.products {
            cx.count_read(1);
            link_item(cx, product, by_key.get(&fold(&product.sku)).map(Vec::as_slice).unwrap_or(&[]), price_field)?;
        }
        next = page.next;
        if next.is_none() {
            return Ok(());
        }
    }
}

fn link_item<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    product: &LlProduct,
    candidates: &[&BcItem],
    price_field: PriceField,
) -> Result<(), FlowError> {
    let known = cx.store.xref(cx.tenant_name(), RecordKind::Item, &product.sku).map_err(|e| cx.store_error(e))?;
    if known.is_some() || candidates.is_empty() {
        cx.counts.skipped += 1;
        return Ok(());
    }
    let reason = match candidates {
        [only] if names_agree(&product.name, &only.display_name) => {
            let xref = CrossReference {
                leaflink_key: product.sku.clone(),
                bc_id: only.id.clone(),
                bc_number: Some(only.number.clone()),
                leaflink_fields: fields::product_fields_of_product(product, price_field),
                bc_fields: fields::product_fields_of_item(only),
                stored: [("leaflink_product_id".to_owned(), product.id.to_string())].into(),
                origin: "linked".to_owned(),
                updated: None,
            };
            cx.store.put_xref(cx.tenant_name(), RecordKind::Item, &xref).map_err(|e| cx.store_error(e))?;
            cx.counts.written += 1;
            return Ok(());
        }
        [only] => format!("SKU matches BC item {} but the names differ ({:?} and {:?})", only.number, product.name, only.display_name),
        several => format!("{} BC items match the SKU", several.len()),
    };
    propose(
        cx,
        RecordKind::Item,
        &product.sku,
        &product.name,
        candidates.iter().map(|item| Candidate {
            bc_id: item.id.clone().unwrap_or_default(),
            bc_number: Some(item.number.clone()),
            display_name: item.display_name.clone(),
        }),
        &item_record(&product.sku),
        reason,
    )
}

/// The key a customer is matched on, on each side, per the tenant's choice.
fn customer_keys(key: CustomerMatchKey, leaflink: &LlCustomer) -> Option<String> {
    match key {
        CustomerMatchKey::ExternalId => folded(leaflink.external_id.as_deref()),
        CustomerMatchKey::Email => folded(leaflink.email.as_deref()),
        CustomerMatchKey::LicenseNumber => folded(leaflink.license_number.as_deref()),
    }
}

fn bc_customer_key(key: CustomerMatchKey, bc: &BcCustomer) -> Option<String> {
    match key {
        CustomerMatchKey::ExternalId => folded(bc.number.as_deref()),
        CustomerMatchKey::Email => folded(bc.email.as_deref()),
        CustomerMatchKey::LicenseNumber => folded(bc.tax_registration_number.as_deref()),
    }
}

async fn link_customers<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let match_key = cx.tenant.customer_match_key;
    let customers = all_bc_customers(cx).await?;
    let mut by_key: HashMap<String, Vec<&BcCustomer>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<&BcCustomer>> = HashMap::new();
    for customer in &customers {
        if let Some(key) = bc_customer_key(match_key, customer) {
            by_key.entry(key).or_default().push(customer);
        }
        by_name.entry(fold(&customer.display_name)).or_default().push(customer);
    }

    let query = CustomerQuery { modified_from: None, ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_customers(&query, next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink customers", e))?;
        for customer in &page.customers {
            cx.count_read(1);
            let keyed = customer_keys(match_key, customer).and_then(|key| by_key.get(&key)).map(Vec::as_slice).unwrap_or(&[]);
            let named = by_name.get(&fold(bc_display_name(&customer.name))).map(Vec::as_slice).unwrap_or(&[]);
            link_customer(cx, customer, keyed, named)?;
        }
        next = page.next;
        if next.is_none() {
            return Ok(());
        }
    }
}

fn link_customer<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    customer: &LlCustomer,
    keyed: &[&BcCustomer],
    named: &[&BcCustomer],
) -> Result<(), FlowError> {
    let id = customer.id.to_string();
    let known = cx.store.xref(cx.tenant_name(), RecordKind::Customer, &id).map_err(|e| cx.store_error(e))?;
    if known.is_some() {
        cx.counts.skipped += 1;
        return Ok(());
    }
    let (candidates, reason) = match keyed {
        [only] => match compare_second_fields(customer, only) {
            Ok(()) => {
                link_customer_to(cx, customer, only)?;
                return Ok(());
            }
            Err(difference) => (
                keyed.to_vec(),
                format!("the match key agrees with BC customer {} but {difference}", only.number.as_deref().unwrap_or("?")),
            ),
        },
        [] if !named.is_empty() => (
            named.to_vec(),
            "a BC customer has the same name but no matching key (a near-duplicate: same name, different license)".to_owned(),
        ),
        [] => {
            cx.counts.skipped += 1;
            return Ok(());
        }
        several => (several.to_vec(), format!("{} BC customers match the key", several.len())),
    };
    propose(
        cx,
        RecordKind::Customer,
        &customer.id.to_string(),
        &customer.name,
        candidates.iter().map(|bc| Candidate {
            bc_id: bc.id.clone().unwrap_or_default(),
            bc_number: bc.number.clone(),
            display_name: bc.display_name.clone(),
        }),
        &customer_record(customer.id),
        reason,
    )
}

/// Checks the fields besides the match key of a keyed pair: the name and the
/// license number. A value blank on either side neither agrees nor disagrees,
/// because a missing value says nothing about the other side. The pair passes
/// when no field disagrees and at least one agrees, so a BC customer with
/// only the key filled in goes to a person. Returns the disagreement in words
/// otherwise.
fn compare_second_fields(customer: &LlCustomer, bc: &BcCustomer) -> Result<(), String> {
    let mut agreed = false;
    let mut differences = Vec::new();

    if !customer.name.trim().is_empty() && !bc.display_name.trim().is_empty() {
        if names_agree(&customer.name, &bc.display_name) {
            agreed = true;
        } else {
            differences.push(format!("the names differ ({:?} and {:?})", customer.name, bc.display_name));
        }
    }
    let licenses = (folded(customer.license_number.as_deref()), folded(bc.tax_registration_number.as_deref()));
    if let (Some(leaflink), Some(business_central)) = licenses {
        if leaflink == business_central {
            agreed = true;
        } else {
            differences.push(format!(
                "the license numbers differ ({:?} and {:?})",
                customer.license_number.as_deref().unwrap_or_default(),
                bc.tax_registration_number.as_deref().unwrap_or_default()
            ));
        }
    }

    match (differences.is_empty(), agreed) {
        (true, true) => Ok(()),
        (true, false) => Err("the BC customer has neither a name nor a license number to confirm the pair".to_owned()),
        (false, _) => Err(differences.join(" and ")),
    }
}

/// Records the pair LeafLink customer <-> BC customer as if leafbridge had
/// created it.
fn link_customer_to<P: Plugins>(cx: &mut SyncContext<'_, P>, customer: &LlCustomer, bc: &BcCustomer) -> Result<(), FlowError> {
    let mut stored = FieldValues::new();
    if let Some(license) = &customer.license_number {
        stored.insert("license_number".to_owned(), license.clone());
    }
    let xref = CrossReference {
        leaflink_key: customer.id.to_string(),
        bc_id: bc.id.clone(),
        bc_number: bc.number.clone(),
        leaflink_fields: FieldValues::new(),
        bc_fields: fields::customer_fields(bc),
        stored,
        origin: "linked".to_owned(),
        updated: None,
    };
    cx.store.put_xref(cx.tenant_name(), RecordKind::Customer, &xref).map_err(|e| cx.store_error(e))?;
    cx.counts.written += 1;
    Ok(())
}

fn propose<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    kind: RecordKind,
    leaflink_key: &str,
    leaflink_name: &str,
    candidates: impl Iterator<Item = Candidate>,
    record: &str,
    reason: String,
) -> Result<(), FlowError> {
    tracing::info!(record, reason = %reason, "link proposal recorded for a person to decide");
    let proposal = LinkProposal {
        kind,
        leaflink_key: leaflink_key.to_owned(),
        leaflink_name: leaflink_name.to_owned(),
        candidates: candidates.collect(),
        reason,
        status: ProposalStatus::Open,
    };
    cx.store.propose_link(cx.tenant_name(), &proposal).map_err(|e| cx.store_error(e))?;
    cx.counts.skipped += 1;
    Ok(())
}

async fn link_salespeople<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let mut salespeople = Vec::new();
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_salespeople(next)
            .await
            .map_err(|e| cx.api_error("listing BC salespeople", e))?;
        salespeople.extend(page.salespeople);
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    let mut by_email: HashMap<String, Vec<_>> = HashMap::new();
    for person in &salespeople {
        if let Some(email) = folded(person.email.as_deref()) {
            by_email.entry(email).or_default().push(person);
        }
    }

    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_company_staff(next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink company staff", e))?;
        for staff in &page.staff {
            cx.count_read(1);
            let key = staff.id.to_string();
            let known = cx.store.xref(cx.tenant_name(), RecordKind::Salesperson, &key).map_err(|e| cx.store_error(e))?;
            let matches = folded(staff.email.as_deref()).and_then(|email| by_email.get(&email)).map(Vec::as_slice).unwrap_or(&[]);
            match (known, matches) {
                (None, [only]) => {
                    let xref = CrossReference {
                        leaflink_key: key,
                        bc_id: Some(only.id.clone()),
                        bc_number: Some(only.code.clone()),
                        origin: "linked".to_owned(),
                        ..CrossReference::default()
                    };
                    cx.store.put_xref(cx.tenant_name(), RecordKind::Salesperson, &xref).map_err(|e| cx.store_error(e))?;
                    cx.counts.written += 1;
                }
                _ => cx.counts.skipped += 1,
            }
        }
        next = page.next;
        if next.is_none() {
            return Ok(());
        }
    }
}
