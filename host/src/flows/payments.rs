//! `payments-push`: payment received and applied in BC reaches LeafLink as an
//! order payment, and the order is marked paid once its invoice is.
//!
//! Posting a payment journal removes its lines from `customerPayments` and
//! lowers the invoice's `remainingAmount` (BC reference notes, customer
//! payments), so the flow reads invoices changed since the cursor: what was
//! paid on an invoice is `totalAmountIncludingTax - remainingAmount`.
//!
//! Each amount is recorded in LeafLink exactly once. The LeafLink payments of
//! the order whose `reason` names the invoice are summed first, and only the
//! difference is recorded, so a lost store, a crash or a retried POST never
//! records a payment twice.

use rust_decimal::Decimal;

use super::ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::types::{BcCustomerPayment, BcSalesInvoice};
use crate::store::{CrossReference, RecordKind};

/// The text every LeafLink payment for an invoice carries in `reason`.
fn invoice_reference(invoice: &BcSalesInvoice) -> String {
    format!("Business Central invoice {}", invoice.number.as_deref().unwrap_or(&invoice.id))
}

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap_or(Decimal::ZERO)
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
            .list_sales_invoices(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC sales invoices", e))?;
        for invoice in page.invoices {
            if let Some(modified) = invoice.last_modified.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok()) {
                newest = newest.max(Some(modified));
            }
            push_invoice(cx, invoice).await?;
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

async fn push_invoice<P: Plugins>(cx: &mut SyncContext<'_, P>, invoice: BcSalesInvoice) -> Result<(), FlowError> {
    let paid = decimal(&invoice.total_amount_including_tax) - decimal(&invoice.remaining_amount);
    if paid <= Decimal::ZERO {
        return Ok(());
    }
    let Some(order_number) = leaflink_order_of(cx, &invoice)? else {
        // An invoice that did not come from a LeafLink order.
        return Ok(());
    };
    cx.count_read(1);
    let key = format!("{}:{}", invoice.id, paid.normalize());
    let record = format!("invoice {}", invoice.number.as_deref().unwrap_or(&invoice.id));
    let known = cx.store.xref(cx.tenant_name(), RecordKind::Payment, &key).map_err(|e| cx.store_error(e))?;
    if known.is_some() {
        cx.counts.skipped += 1;
        return Ok(());
    }

    match record_payment(cx, &invoice, &order_number, paid).await {
        Ok(written) => {
            let xref = CrossReference {
                leaflink_key: key,
                bc_id: Some(invoice.id.clone()),
                bc_number: invoice.number.clone(),
                stored: [("order".to_owned(), order_number), ("paid".to_owned(), paid.normalize().to_string())].into(),
                origin: if written { "created" } else { "found" }.to_owned(),
                ..CrossReference::default()
            };
            cx.store.put_xref(cx.tenant_name(), RecordKind::Payment, &xref).map_err(|e| cx.store_error(e))?;
            if written {
                cx.counts.written += 1;
            } else {
                cx.counts.skipped += 1;
            }
            cx.succeeded(&record)
        }
        Err(error) => cx.fail_api(&record, &error),
    }
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
    // invoice whose order id the store does not know.
    let orders = cx.store.xrefs(cx.tenant_name(), RecordKind::Order).map_err(|e| cx.store_error(e))?;
    Ok(orders.into_iter().find(|xref| xref.stored.get("short_id").is_some_and(|stored| stored.eq_ignore_ascii_case(short_id))).map(|xref| xref.leaflink_key))
}

/// Records in LeafLink the part of `paid` it does not have yet, then marks the
/// order paid when the invoice has nothing left to pay. Returns whether a
/// payment was created.
async fn record_payment<P: Plugins>(
    cx: &SyncContext<'_, P>,
    invoice: &BcSalesInvoice,
    order_number: &str,
    paid: Decimal,
) -> Result<bool, ApiError> {
    let reference = invoice_reference(invoice);
    let recorded: Decimal = cx
        .leaflink
        .list_payments(order_number)
        .await?
        .iter()
        .filter(|payment| payment.reason.as_deref().is_some_and(|reason| reason.contains(&reference)))
        .map(|payment| decimal(&payment.total.amount))
        .sum();
    let missing = paid - recorded;

    let written = missing > Decimal::ZERO;
    if written {
        let today = jiff::Zoned::now().date().to_string();
        let posting_date = invoice
            .last_modified
            .as_deref()
            .and_then(|text| text.parse::<jiff::Timestamp>().ok())
            .map_or(today, |time| time.to_zoned(jiff::tz::TimeZone::UTC).date().to_string());
        // The amount received since the last push, as one BC payment.
        let payment = BcCustomerPayment {
            id: None,
            journal_id: None,
            customer_number: invoice.customer_number.clone(),
            posting_date,
            document_number: None,
            external_document_number: invoice.external_document_number.clone(),
            amount: missing.normalize().to_string(),
            applies_to_invoice_id: Some(invoice.id.clone()),
            applies_to_invoice_number: invoice.number.clone(),
            description: None,
            last_modified: invoice.last_modified.clone(),
            extras: NO_EXTRAS.to_owned(),
        };
        let mapped = cx.mapping.payment(&payment, invoice, order_number).await?;
        let mut wanted = cx.overrides.payment(&payment, mapped).await?;
        wanted.reason = Some(match wanted.reason.take() {
            Some(reason) if reason.contains(&reference) => reason,
            Some(reason) if !reason.is_empty() => format!("{reference}: {reason}"),
            _ => reference.clone(),
        });
        cx.leaflink.create_payment(&wanted).await?;
    }

    let remaining = decimal(&invoice.remaining_amount);
    if remaining <= Decimal::ZERO || invoice.status.eq_ignore_ascii_case("Paid") {
        let paid_date = jiff::Zoned::now().date().to_string();
        cx.leaflink.set_order_paid(order_number, true, Some(paid_date)).await?;
    }
    Ok(written)
}
