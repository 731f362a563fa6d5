//! `payments-push`: a BC customer payment applied to the invoice of a
//! LeafLink order becomes a LeafLink order payment, and the order is marked
//! paid once its invoice is.
//!
//! Each BC payment is recorded in LeafLink exactly once: before creating, the
//! order's LeafLink payments are read and one whose `reason` carries the BC
//! payment reference counts as already recorded (LeafLink has no idempotency
//! key, so a retried POST could otherwise create a second payment).

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::ports::{BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::resolve::query_on;
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::types::{BcCustomerPayment, BcSalesInvoice};
use crate::store::{CrossReference, RecordKind};

/// The reference written into the LeafLink payment `reason`.
fn payment_reference(payment: &BcCustomerPayment) -> String {
    let key = payment.id.as_deref().or(payment.document_number.as_deref()).unwrap_or("unknown");
    format!("Business Central payment {key}")
}

fn payment_key(payment: &BcCustomerPayment) -> Option<String> {
    payment.id.clone().or_else(|| {
        payment
            .document_number
            .as_ref()
            .map(|document| format!("{}:{document}", payment.journal_id.as_deref().unwrap_or("")))
    })
}

pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    let query = Query {
        modified_after: cursor.map(|cursor| cursor.read_from().to_string()),
        field: None,
        values: Vec::new(),
        page_size: None,
    };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_customer_payments(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC customer payments", e))?;
        cx.counts.read += page.payments.len() as u64;
        for payment in &page.payments {
            if let Some(modified) = payment.last_modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
        }
        push_page(cx, page.payments).await?;
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.store.advance_cursor(cx.tenant_name(), cx.flow.name(), newest).map_err(|e| cx.store_error(e))?;
    }
    Ok(())
}

async fn push_page<P: Plugins>(cx: &mut SyncContext<'_, P>, payments: Vec<BcCustomerPayment>) -> Result<(), FlowError> {
    // 1. Payments not yet recorded that apply to an invoice.
    let mut pending = Vec::new();
    for payment in payments {
        let Some(key) = payment_key(&payment) else {
            cx.counts.skipped += 1;
            continue;
        };
        let known = cx.store.xref(cx.tenant_name(), RecordKind::Payment, &key).map_err(|e| cx.store_error(e))?;
        if known.is_some() || (payment.applies_to_invoice_id.is_none() && payment.applies_to_invoice_number.is_none()) {
            cx.counts.skipped += 1;
            continue;
        }
        pending.push((key, payment));
    }
    if pending.is_empty() {
        return Ok(());
    }

    // 2. Their invoices, in two batch lookups (by number, then by id).
    let numbers: Vec<String> = pending.iter().filter_map(|(_, payment)| payment.applies_to_invoice_number.clone()).collect();
    let ids: Vec<String> = pending
        .iter()
        .filter(|(_, payment)| payment.applies_to_invoice_number.is_none())
        .filter_map(|(_, payment)| payment.applies_to_invoice_id.clone())
        .collect();
    let mut invoices: Vec<BcSalesInvoice> = Vec::new();
    for (field, values) in [("number", numbers), ("id", ids)] {
        for chunk in values.chunks(super::resolve::LOOKUP_CHUNK) {
            let mut next = None;
            loop {
                let page = cx
                    .business_central
                    .list_sales_invoices(&query_on(field, chunk.to_vec()), next)
                    .await
                    .map_err(|e| cx.api_error("reading BC sales invoices", e))?;
                invoices.extend(page.invoices);
                next = page.next;
                if next.is_none() {
                    break;
                }
            }
        }
    }
    let by_number: HashMap<String, BcSalesInvoice> =
        invoices.iter().filter_map(|invoice| invoice.number.clone().map(|number| (number, invoice.clone()))).collect();
    let by_id: HashMap<String, BcSalesInvoice> = invoices.into_iter().map(|invoice| (invoice.id.clone(), invoice)).collect();

    // 3. Record each payment on its LeafLink order.
    for (key, payment) in pending {
        let record = format!("payment {key}");
        let invoice = payment
            .applies_to_invoice_number
            .as_ref()
            .and_then(|number| by_number.get(number))
            .or_else(|| payment.applies_to_invoice_id.as_ref().and_then(|id| by_id.get(id)));
        let Some(invoice) = invoice else {
            cx.fail(&record, "the invoice the payment applies to was not found in BC", true)?;
            continue;
        };
        let Some(order_number) = leaflink_order_of(cx, invoice)? else {
            // An invoice that did not come from a LeafLink order.
            cx.counts.skipped += 1;
            continue;
        };
        match record_payment(cx, &payment, invoice, &order_number).await {
            Ok(written) => {
                let xref = CrossReference {
                    leaflink_key: key.clone(),
                    bc_id: payment.id.clone(),
                    bc_number: payment.document_number.clone(),
                    stored: [("order".to_owned(), order_number.clone()), ("amount".to_owned(), payment.amount.clone())].into(),
                    origin: if written { "created" } else { "found" }.to_owned(),
                    ..CrossReference::default()
                };
                cx.store.put_xref(cx.tenant_name(), RecordKind::Payment, &xref).map_err(|e| cx.store_error(e))?;
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
    Ok(())
}

/// The LeafLink order number of an invoice: through the BC order it was
/// posted from, else through its `externalDocumentNumber` (the order's
/// `short_id`).
fn leaflink_order_of<P: Plugins>(cx: &SyncContext<'_, P>, invoice: &BcSalesInvoice) -> Result<Option<String>, FlowError> {
    if let Some(order_id) = &invoice.order_id
        && let Some(xref) = cx.store.xref_by_bc_id(cx.tenant_name(), RecordKind::Order, order_id).map_err(|e| cx.store_error(e))?
    {
        return Ok(Some(xref.leaflink_key));
    }
    let Some(short_id) = &invoice.external_document_number else { return Ok(None) };
    // NOTE: a linear scan of the order cross-references; it runs only for an
    // invoice whose order id is unknown to the store.
    let orders = cx.store.xrefs(cx.tenant_name(), RecordKind::Order).map_err(|e| cx.store_error(e))?;
    Ok(orders.into_iter().find(|xref| xref.stored.get("short_id") == Some(short_id)).map(|xref| xref.leaflink_key))
}

/// Creates the LeafLink payment unless the order already has it, then marks
/// the order paid when the invoice has nothing left to pay. Returns whether a
/// payment was created.
async fn record_payment<P: Plugins>(
    cx: &SyncContext<'_, P>,
    payment: &BcCustomerPayment,
    invoice: &BcSalesInvoice,
    order_number: &str,
) -> Result<bool, super::ApiError> {
    let reference = payment_reference(payment);
    let existing = cx.leaflink.list_payments(order_number).await?;
    let already = existing
        .iter()
        .any(|recorded| recorded.reason.as_deref().is_some_and(|reason| reason.contains(&reference)));

    if !already {
        let mapped = cx.mapping.payment(payment, invoice, order_number).await?;
        let mut wanted = cx.overrides.payment(payment, mapped).await?;
        wanted.reason = Some(match wanted.reason.take() {
            Some(reason) if reason.contains(&reference) => reason,
            Some(reason) if !reason.is_empty() => format!("{reason} ({reference})"),
            _ => reference.clone(),
        });
        cx.leaflink.create_payment(&wanted).await?;
    }

    let remaining = invoice.remaining_amount.parse::<Decimal>().unwrap_or(Decimal::ONE);
    if remaining <= Decimal::ZERO || invoice.status.eq_ignore_ascii_case("Paid") {
        cx.leaflink.set_order_paid(order_number, true, Some(payment.posting_date.clone())).await?;
    }
    Ok(!already)
}
