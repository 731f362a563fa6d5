//! payments-push: a BC customer payment applied to an invoice of a LeafLink
//! order becomes a LeafLink order payment.

use rust_decimal::Decimal;

use crate::error::{decimal_field, invalid_record};
use crate::pricing::canonical;
use crate::settings::Settings;
use crate::types::{BcCustomerPayment, BcSalesInvoice, LlPayment, Money, PluginError};
use leafbridge_guest_json::extras::ExtrasWriter;

/// LeafLink `payment_type` values (`OrderPaymentCreate`).
const PAYMENT_TYPES: [&str; 8] = ["other", "cash", "check", "credit", "trade", "ach", "wire", "cashier"];

/// Maps a BC payment to the LeafLink payment for order `order_number`.
///
/// The amount is the payment's absolute amount (BC journals may carry
/// receipts as negative amounts) in the company currency. `payment_date` is
/// midnight of the BC posting date in the tenant's time zone, so LeafLink
/// shows the same day. `payment_type` comes from `plugin.payment_type`
/// (default `other`). `extras` carries `fully_paid` (the invoice has nothing
/// left to pay), and the host uses it to mark the order paid.
pub fn payment(
    settings: &Settings,
    payment: &BcCustomerPayment,
    invoice: &BcSalesInvoice,
    order_number: &str,
) -> Result<LlPayment, PluginError> {
    let record = format!("payment {}", payment.id.as_deref().or(payment.document_number.as_deref()).unwrap_or("(new)"));

    if let Some(applies_to) = payment.applies_to_invoice_id.as_deref().filter(|id| !id.is_empty())
        && !applies_to.eq_ignore_ascii_case(&invoice.id)
    {
        return Err(invalid_record(
            &record,
            Some("appliesToInvoiceId"),
            format!("the payment applies to invoice {applies_to}, not to invoice {}", invoice.id),
        ));
    }
    if order_number.trim().is_empty() {
        return Err(invalid_record(&record, None, "no LeafLink order number was given for the payment's invoice"));
    }

    let amount = decimal_field(&record, "amount", &payment.amount)?.abs();
    if amount.is_zero() {
        return Err(invalid_record(&record, Some("amount"), "the payment amount is zero"));
    }

    let posting_date: jiff::civil::Date = payment.posting_date.trim().parse().map_err(|e| {
        invalid_record(&record, Some("postingDate"), format!("{:?} is not a YYYY-MM-DD date: {e}", payment.posting_date))
    })?;
    let midnight = posting_date
        .to_zoned(settings.time_zone()?)
        .map_err(|e| invalid_record(&record, Some("postingDate"), format!("no local midnight on {posting_date}: {e}")))?;
    let payment_date = midnight.timestamp().to_string();

    let payment_type = settings.plugin_default("payment_type").unwrap_or("other").to_ascii_lowercase();
    if !PAYMENT_TYPES.contains(&payment_type.as_str()) {
        return Err(crate::error::configuration(format!(
            "the setting `plugin.payment_type` = {payment_type:?} is invalid; expected one of {}",
            PAYMENT_TYPES.join(", ")
        )));
    }

    let remaining = decimal_field(&format!("invoice {}", invoice.id), "remainingAmount", &invoice.remaining_amount)?;
    let invoice_label = invoice.number.as_deref().unwrap_or(&invoice.id);
    let reason = match payment.document_number.as_deref().filter(|n| !n.is_empty()) {
        Some(document) => format!("Business Central payment {document} for invoice {invoice_label}"),
        None => format!("Business Central payment for invoice {invoice_label}"),
    };

    let mut extras = ExtrasWriter::new();
    extras.push_bool("fully_paid", remaining <= Decimal::ZERO);
    extras.push_string("bc_invoice_id", &invoice.id);
    if let Some(id) = payment.id.as_deref() {
        extras.push_string("bc_payment_id", id);
    }

    Ok(LlPayment {
        id: None,
        order: order_number.trim().to_string(),
        total: Money { amount: canonical(amount), currency: settings.company_currency().to_string() },
        payment_date,
        payment_type: Some(payment_type),
        reason: Some(reason),
        recorded_by: None,
        extras: extras.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leafbridge_guest_json::extras;

    fn bc_payment() -> BcCustomerPayment {
        BcCustomerPayment {
            id: Some("17cce948-c6a5-4861-8ff5-30428ed83207".into()),
            journal_id: None,
            customer_number: Some("10400".into()),
            posting_date: "2015-12-31".into(),
            document_number: Some("1234".into()),
            external_document_number: None,
            amount: "1500".into(),
            applies_to_invoice_id: Some("inv-1".into()),
            applies_to_invoice_number: Some("100000".into()),
            description: None,
            last_modified: None,
            extras: "{}".into(),
        }
    }

    fn invoice(remaining: &str) -> BcSalesInvoice {
        BcSalesInvoice {
            id: "inv-1".into(),
            number: Some("100000".into()),
            external_document_number: Some("a9bf6e2f".into()),
            order_id: None,
            order_number: None,
            customer_number: Some("10400".into()),
            invoice_date: None,
            total_amount_including_tax: "1500".into(),
            remaining_amount: remaining.into(),
            status: "Paid".into(),
            last_modified: None,
            extras: "{}".into(),
        }
    }

    fn settings() -> Settings {
        [("time_zone", "America/Denver")].into_iter().collect()
    }

    #[test]
    fn maps_amount_date_and_paid_flag() {
        let mapped = payment(&settings(), &bc_payment(), &invoice("0"), "aec108ac").unwrap();
        assert_eq!(mapped.order, "aec108ac");
        assert_eq!(mapped.total.amount, "1500");
        assert_eq!(mapped.total.currency, "USD");
        // Midnight in Denver (UTC-7 in winter) is 07:00 UTC.
        assert_eq!(mapped.payment_date, "2015-12-31T07:00:00Z");
        assert_eq!(mapped.payment_type.as_deref(), Some("other"));
        assert_eq!(extras::field(&mapped.extras, "fully_paid").unwrap(), Some("true"));
        assert_eq!(extras::field(&mapped.extras, "bc_invoice_id").unwrap(), Some("\"inv-1\""));
    }

    #[test]
    fn partial_payment_is_not_fully_paid() {
        let mapped = payment(&settings(), &bc_payment(), &invoice("200.5"), "aec108ac").unwrap();
        assert_eq!(extras::field(&mapped.extras, "fully_paid").unwrap(), Some("false"));
    }

    #[test]
    fn negative_amount_becomes_positive() {
        let mut source = bc_payment();
        source.amount = "-1500.00".into();
        assert_eq!(payment(&settings(), &source, &invoice("0"), "o").unwrap().total.amount, "1500");
    }

    #[test]
    fn payment_for_other_invoice_is_rejected() {
        let mut source = bc_payment();
        source.applies_to_invoice_id = Some("inv-2".into());
        let PluginError::InvalidRecord(error) = payment(&settings(), &source, &invoice("0"), "o").unwrap_err() else {
            panic!("expected invalid-record")
        };
        assert_eq!(error.field.as_deref(), Some("appliesToInvoiceId"));
    }
}
