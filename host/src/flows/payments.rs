//! `payments-push`: payment received and applied in BC reaches LeafLink as an
//! order payment, and the order is marked paid once its invoice is.
//!
//! BC API v2.0 has no entity for a posted payment. A customer payment is a
//! journal line (`customerPayments`) until the payment journal is posted;
//! posting deletes the line and lowers the invoice's `remainingAmount`. So
//! the flow does two things each run:
//! - it remembers the open payment lines that apply to an invoice (amount,
//!   posting date), as pending lines of that invoice;
//! - it reads invoices changed since the cursor, where what was paid on an
//!   invoice is `totalAmountIncludingTax - remainingAmount`.
//!
//! What was paid and is not in LeafLink yet is recorded as the pending lines
//! that have left the journal since, one LeafLink payment per line with the
//! line's amount and posting date. Any rest (a line posted before a run saw
//! it) is recorded as one payment dated the day BC last changed the invoice.
//!
//! Each amount is recorded in LeafLink exactly once. The LeafLink payments of
//! the order whose `reason` names the invoice are summed first, and only the
//! difference is recorded, so a lost store, a crash or a retried POST never
//! records a payment twice.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use super::ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::business_central::Query;
use crate::runtime::bindings::types::{BcCustomerPayment, BcSalesInvoice};
use crate::store::{CrossReference, RecordKind};

/// Maximum number of an invoice's posted lines searched for the subset that
/// makes up the paid amount. Above it, lines are taken oldest first.
const MAX_LINES_SEARCHED: usize = 12;

/// The text every LeafLink payment for an invoice carries in `reason`.
fn invoice_reference(invoice: &BcSalesInvoice) -> String {
    format!("Business Central invoice {}", invoice.number.as_deref().unwrap_or(&invoice.id))
}

/// Returns the text that a LeafLink payment recorded from one BC payment line
/// carries in `reason`, besides the invoice reference.
fn line_reference(line_id: &str) -> String {
    format!("journal line {line_id}")
}

/// Returns the cross-reference key of an invoice's pending payment lines.
fn pending_key(invoice_id: &str) -> String {
    format!("pending:{invoice_id}")
}

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap_or(Decimal::ZERO)
}

/// A BC payment line seen in the journal before it was posted.
#[derive(Debug, Clone)]
struct PendingLine {
    id: String,
    amount: Decimal,
    posting_date: String,
    document_number: Option<String>,
}

impl PendingLine {
    fn of(line: &BcCustomerPayment) -> Option<PendingLine> {
        Some(PendingLine {
            id: line.id.clone()?,
            amount: decimal(&line.amount).abs(),
            posting_date: line.posting_date.clone(),
            document_number: line.document_number.clone().filter(|number| !number.is_empty()),
        })
    }

    /// Encodes the line for the store as amount, posting date and document
    /// number, separated by `|` (none of them contains one).
    fn stored_value(&self) -> String {
        format!("{}|{}|{}", self.amount.normalize(), self.posting_date, self.document_number.as_deref().unwrap_or(""))
    }

    fn from_stored(id: &str, value: &str) -> Option<PendingLine> {
        let mut parts = value.splitn(3, '|');
        let amount = parts.next()?.parse().ok()?;
        let posting_date = parts.next()?.to_owned();
        let document_number = parts.next().filter(|number| !number.is_empty()).map(str::to_owned);
        Some(PendingLine { id: id.to_owned(), amount, posting_date, document_number })
    }
}

/// Reads the pending lines stored for an invoice, oldest posting date first.
fn pending_lines(xref: &CrossReference) -> Vec<PendingLine> {
    let mut lines: Vec<PendingLine> = xref
        .stored
        .iter()
        .filter_map(|(name, value)| PendingLine::from_stored(name.strip_prefix("line:")?, value))
        .collect();
    lines.sort_by(|a, b| a.posting_date.cmp(&b.posting_date).then_with(|| a.id.cmp(&b.id)));
    lines
}

pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let open_lines = remember_open_lines(cx).await?;

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
            push_invoice(cx, invoice, &open_lines).await?;
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

/// Stores the open payment lines of each invoice as its pending lines and
/// returns the ids of all open lines.
async fn remember_open_lines<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<HashSet<String>, FlowError> {
    // Open lines are read in full: posting removes them, so the journal
    // contains only the payments not posted yet.
    let query = Query { modified_after: None, field: None, values: Vec::new(), page_size: None };
    let mut by_invoice: HashMap<String, Vec<PendingLine>> = HashMap::new();
    let mut open = HashSet::new();
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_customer_payments(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC customer payments", e))?;
        for line in page.payments {
            let Some(pending) = PendingLine::of(&line) else { continue };
            open.insert(pending.id.clone());
            if let Some(invoice_id) = line.applies_to_invoice_id.filter(|id| !id.is_empty())
                && pending.amount > Decimal::ZERO
            {
                by_invoice.entry(invoice_id).or_default().push(pending);
            }
        }
        next = page.next;
        if next.is_none() {
            break;
        }
    }

    for (invoice_id, lines) in by_invoice {
        let key = pending_key(&invoice_id);
        let mut xref = cx
            .store
            .xref(cx.tenant_name(), RecordKind::Payment, &key)
            .map_err(|e| cx.store_error(e))?
            .unwrap_or_else(|| CrossReference { leaflink_key: key, origin: "pending".to_owned(), ..CrossReference::default() });
        let mut changed = false;
        for line in lines {
            let value = line.stored_value();
            if xref.stored.get(&format!("line:{}", line.id)) != Some(&value) {
                xref.stored.insert(format!("line:{}", line.id), value);
                changed = true;
            }
        }
        if changed {
            cx.store.put_xref(cx.tenant_name(), RecordKind::Payment, &xref).map_err(|e| cx.store_error(e))?;
        }
    }
    Ok(open)
}

async fn push_invoice<P: Plugins>(cx: &mut SyncContext<'_, P>, invoice: BcSalesInvoice, open_lines: &HashSet<String>) -> Result<(), FlowError> {
    let pending_xref = cx.store.xref(cx.tenant_name(), RecordKind::Payment, &pending_key(&invoice.id)).map_err(|e| cx.store_error(e))?;
    let posted: Vec<PendingLine> = pending_xref
        .as_ref()
        .map(pending_lines)
        .unwrap_or_default()
        .into_iter()
        .filter(|line| !open_lines.contains(&line.id))
        .collect();

    let paid = decimal(&invoice.total_amount_including_tax) - decimal(&invoice.remaining_amount);
    if paid <= Decimal::ZERO {
        return forget_lines(cx, pending_xref, &posted);
    }
    let Some(order_number) = leaflink_order_of(cx, &invoice)? else {
        // An invoice that did not come from a LeafLink order.
        return forget_lines(cx, pending_xref, &posted);
    };
    cx.count_read(1);
    let key = format!("{}:{}", invoice.id, paid.normalize());
    let record = format!("invoice {}", invoice.number.as_deref().unwrap_or(&invoice.id));
    let known = cx.store.xref(cx.tenant_name(), RecordKind::Payment, &key).map_err(|e| cx.store_error(e))?;
    if known.is_some() {
        cx.counts.skipped += 1;
        return forget_lines(cx, pending_xref, &posted);
    }

    match record_payments(cx, &invoice, &order_number, paid, &posted).await {
        Ok(written) => {
            let xref = CrossReference {
                leaflink_key: key,
                bc_id: Some(invoice.id.clone()),
                bc_number: invoice.number.clone(),
                stored: [("order".to_owned(), order_number), ("paid".to_owned(), paid.normalize().to_string())].into(),
                origin: if written > 0 { "created" } else { "found" }.to_owned(),
                ..CrossReference::default()
            };
            cx.store.put_xref(cx.tenant_name(), RecordKind::Payment, &xref).map_err(|e| cx.store_error(e))?;
            forget_lines(cx, pending_xref, &posted)?;
            if written > 0 {
                cx.counts.written += 1;
            } else {
                cx.counts.skipped += 1;
            }
            cx.succeeded(&record)
        }
        Err(error) => cx.fail_api(&record, &error),
    }
}

/// Removes the lines that left the journal from an invoice's pending lines.
/// Once the invoice's paid amount is handled, each of them was either
/// recorded or deleted without posting.
fn forget_lines<P: Plugins>(cx: &SyncContext<'_, P>, pending_xref: Option<CrossReference>, posted: &[PendingLine]) -> Result<(), FlowError> {
    let Some(mut pending_xref) = pending_xref else { return Ok(()) };
    if posted.is_empty() {
        return Ok(());
    }
    for line in posted {
        pending_xref.stored.remove(&format!("line:{}", line.id));
    }
    cx.store.put_xref(cx.tenant_name(), RecordKind::Payment, &pending_xref).map_err(|e| cx.store_error(e))
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

/// Picks the posted lines that make up `missing`: every line when their sum
/// is at most `missing`, else the subset with the largest sum not above it
/// (oldest first once there are more than `MAX_LINES_SEARCHED`). Lines left
/// out were deleted from the journal without posting, as far as the
/// invoice's paid amount shows.
fn lines_for(missing: Decimal, lines: &[PendingLine]) -> Vec<PendingLine> {
    let total: Decimal = lines.iter().map(|line| line.amount).sum();
    if total <= missing {
        return lines.to_vec();
    }
    if lines.len() > MAX_LINES_SEARCHED {
        let mut picked = Vec::new();
        let mut sum = Decimal::ZERO;
        for line in lines {
            if sum + line.amount <= missing {
                sum += line.amount;
                picked.push(line.clone());
            }
        }
        return picked;
    }
    let mut best = (Decimal::ZERO, 0usize);
    for mask in 1usize..(1 << lines.len()) {
        let sum: Decimal = lines.iter().enumerate().filter(|(index, _)| mask & (1 << index) != 0).map(|(_, line)| line.amount).sum();
        if sum <= missing && sum > best.0 {
            best = (sum, mask);
        }
    }
    lines.iter().enumerate().filter(|(index, _)| best.1 & (1 << index) != 0).map(|(_, line)| line.clone()).collect()
}

/// Returns the UTC date of a BC timestamp, or today's when it is missing.
fn date_of(timestamp: Option<&str>) -> String {
    timestamp
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

/// Records in LeafLink the part of `paid` it does not have yet, one payment
/// per posted line and one for any rest, then marks the order paid when the
/// invoice has nothing left to pay. Returns how many payments were created.
async fn record_payments<P: Plugins>(
    cx: &SyncContext<'_, P>,
    invoice: &BcSalesInvoice,
    order_number: &str,
    paid: Decimal,
    posted: &[PendingLine],
) -> Result<usize, ApiError> {
    let reference = invoice_reference(invoice);
    let existing: Vec<(Decimal, String)> = cx
        .leaflink
        .list_payments(order_number)
        .await?
        .into_iter()
        .filter_map(|payment| payment.reason.filter(|reason| reason.contains(&reference)).map(|reason| (decimal(&payment.total.amount), reason)))
        .collect();
    let recorded: Decimal = existing.iter().map(|(amount, _)| *amount).sum();
    let mut missing = paid - recorded;

    // A line whose payment LeafLink already has (a crash after the POST) is
    // counted in `recorded` and is not recorded again.
    let unrecorded: Vec<PendingLine> = posted
        .iter()
        .filter(|line| !existing.iter().any(|(_, reason)| reason.contains(&line_reference(&line.id))))
        .cloned()
        .collect();
    let mut created = 0;
    let mut last_date = None;
    if missing > Decimal::ZERO {
        for line in lines_for(missing, &unrecorded) {
            let payment = bc_payment(invoice, line.amount, line.posting_date.clone(), Some(&line));
            create_payment(cx, invoice, order_number, &payment, Some(&line.id)).await?;
            missing -= line.amount;
            created += 1;
            last_date = last_date.max(Some(line.posting_date.clone()));
        }
    }
    if missing > Decimal::ZERO {
        // NOTE: BC API v2.0 offers no posted payment (no customer ledger
        // entries). So payments posted before a run saw their journal lines
        // arrive as one sum per invoice. That sum is dated the day BC last
        // changed the invoice (when it applied the payment), not the posting date.
        let payment = bc_payment(invoice, missing, date_of(invoice.last_modified.as_deref()), None);
        create_payment(cx, invoice, order_number, &payment, None).await?;
        created += 1;
        last_date = last_date.max(Some(payment.posting_date.clone()));
    }

    let remaining = decimal(&invoice.remaining_amount);
    if remaining <= Decimal::ZERO || invoice.status.eq_ignore_ascii_case("Paid") {
        // The day the last payment was posted, when this run recorded it.
        let paid_date = last_date.unwrap_or_else(|| date_of(invoice.last_modified.as_deref()));
        cx.leaflink.set_order_paid(order_number, true, Some(paid_date)).await?;
    }
    Ok(created)
}

/// Builds the BC payment that a LeafLink payment is mapped from: a posted
/// journal line, or (without one) an amount received on the invoice.
fn bc_payment(invoice: &BcSalesInvoice, amount: Decimal, posting_date: String, line: Option<&PendingLine>) -> BcCustomerPayment {
    BcCustomerPayment {
        id: line.map(|line| line.id.clone()),
        journal_id: None,
        customer_number: invoice.customer_number.clone(),
        posting_date,
        document_number: line.and_then(|line| line.document_number.clone()),
        external_document_number: invoice.external_document_number.clone(),
        amount: amount.normalize().to_string(),
        applies_to_invoice_id: Some(invoice.id.clone()),
        applies_to_invoice_number: invoice.number.clone(),
        description: None,
        last_modified: invoice.last_modified.clone(),
        extras: NO_EXTRAS.to_owned(),
    }
}

/// Maps `payment` and records it in LeafLink with the invoice (and line)
/// reference in `reason`.
async fn create_payment<P: Plugins>(
    cx: &SyncContext<'_, P>,
    invoice: &BcSalesInvoice,
    order_number: &str,
    payment: &BcCustomerPayment,
    line_id: Option<&str>,
) -> Result<(), ApiError> {
    let reference = invoice_reference(invoice);
    let mapped = cx.mapping.payment(payment, invoice, order_number).await?;
    let mut outgoing = cx.overrides.payment(payment, mapped).await?;
    let mut reason = match outgoing.reason.take() {
        Some(reason) if reason.contains(&reference) => reason,
        Some(reason) if !reason.is_empty() => format!("{reference}: {reason}"),
        _ => reference.clone(),
    };
    if let Some(line_id) = line_id {
        let marker = line_reference(line_id);
        if !reason.contains(&marker) {
            reason = format!("{reason} ({marker})");
        }
    }
    outgoing.reason = Some(reason);
    cx.leaflink.create_payment(&outgoing).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, amount: i64, posting_date: &str) -> PendingLine {
        PendingLine { id: id.to_owned(), amount: Decimal::from(amount), posting_date: posting_date.to_owned(), document_number: None }
    }

    fn ids(lines: &[PendingLine]) -> Vec<&str> {
        lines.iter().map(|line| line.id.as_str()).collect()
    }

    #[test]
    fn lines_for_takes_all_when_they_fit() {
        let lines = [line("a", 1000, "2026-12-01"), line("b", 2000, "2026-12-02")];
        assert_eq!(ids(&lines_for(Decimal::from(3000), &lines)), ["a", "b"]);
        assert_eq!(ids(&lines_for(Decimal::from(3500), &lines)), ["a", "b"]);
    }

    #[test]
    fn lines_for_leaves_out_deleted_line() {
        // 2000 was paid; the 1500 line was deleted without posting.
        let lines = [line("a", 1500, "2026-12-01"), line("b", 2000, "2026-12-02")];
        assert_eq!(ids(&lines_for(Decimal::from(2000), &lines)), ["b"]);
    }

    #[test]
    fn lines_for_many_lines_oldest_first() {
        let lines: Vec<PendingLine> = (0..20).map(|day| line(&format!("l{day}"), 10, &format!("2026-12-{:02}", day + 1))).collect();
        let picked = lines_for(Decimal::from(35), &lines);
        assert_eq!(ids(&picked), ["l0", "l1", "l2"]);
    }

    #[test]
    fn pending_line_round_trips_through_store() {
        let original = PendingLine { id: "x".to_owned(), amount: Decimal::new(100050, 2), posting_date: "2026-12-01".to_owned(), document_number: Some("G00001".to_owned()) };
        let read = PendingLine::from_stored("x", &original.stored_value()).unwrap();
        assert_eq!(read.amount, Decimal::new(10005, 1));
        assert_eq!(read.posting_date, "2026-12-01");
        assert_eq!(read.document_number.as_deref(), Some("G00001"));
    }
}
