//! `payments-push`: a payment posted in BC against the invoice of an imported
//! order is recorded in LeafLink once, and the order is marked paid when its
//! invoice is paid in full.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::flow_harness::{Harness, decimal, sandbox_config, settings_for};

async fn bc(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let company = sandbox.info().business_central.company_id;
    let reply = sandbox.business_central().request(method.clone(), &format!("companies({company})/{path}"), body).await;
    assert!(reply.status.is_success(), "{method} {path} returned {}: {:?}", reply.status, reply.body);
    match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
        _ => Value::Null,
    }
}

/// Posts one payment of `amount` against `invoice` through the customer
/// payment journal, as a BC user receiving a payment would.
async fn post_payment(sandbox: &Sandbox, invoice: &Value, amount: Decimal) {
    let journals = bc(sandbox, Method::GET, "customerPaymentJournals", None).await;
    let journal = journals["value"][0]["id"].as_str().expect("BC has a customer payment journal").to_owned();
    // Lines left in the journal (the sandbox seeds one without a customer)
    // would stop the posting, so a person clears them first.
    let stale = bc(sandbox, Method::GET, "customerPayments", None).await;
    for line in stale["value"].as_array().into_iter().flatten() {
        bc(sandbox, Method::DELETE, &format!("customerPayments({})", line["id"].as_str().unwrap()), None).await;
    }
    bc(sandbox, Method::POST, "customerPayments", Some(json!({
        "journalId": journal,
        "customerNumber": invoice["customerNumber"],
        "postingDate": "2025-06-02",
        "amount": amount.to_string().parse::<serde_json::Number>().unwrap(),
        "appliesToInvoiceId": invoice["id"],
        "description": "Payment received",
    })))
    .await;
    bc(sandbox, Method::POST, &format!("journals({journal})/Microsoft.NAV.post"), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_recorded_once_then_paid() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 73 })).await.unwrap();
    let mut settings = settings_for("payments-push", &sandbox);
    // LeafLink records a payment in the name of a company-staff member, and
    // member 13 owns the sandbox's API key.
    settings.leaflink.recorded_by = Some(13);
    let harness = Harness::with_settings(sandbox, settings);
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let line = NewLine { ordered_unit_price: Some(Decimal::new(4000, 2)), ..NewLine::new(product, Decimal::from(10)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'")).await;
    let order_id = orders["value"][0]["id"].as_str().expect("the order is in BC").to_owned();
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice"), None).await;
    let invoices = harness.bc_get(&format!("salesInvoices?$filter=externalDocumentNumber eq '{short_id}'")).await;
    let invoice = invoices["value"][0].clone();
    let total = decimal(&invoice["totalAmountIncludingTax"]);
    assert!(total > Decimal::ZERO, "{invoice:#}");
    let payments_before = leaflink.counts().payments;

    let half = (total / Decimal::TWO).round_dp(2);
    post_payment(&harness.sandbox, &invoice, half).await;
    let push = harness.run(Flow::PaymentsPush).await;
    let dead_letters = harness.store.dead_letters("payments-push").unwrap();
    assert_eq!(push.counts.failed, 0, "{push:#?} {dead_letters:#?}");
    assert_eq!(leaflink.counts().payments, payments_before + 1, "the part payment is recorded: {push:#?}");
    assert_eq!(leaflink.order_json(&number).unwrap()["paid"], false, "a part payment does not mark the order paid");

    let again = harness.run(Flow::PaymentsPush).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(leaflink.counts().payments, payments_before + 1, "a rerun records no payment twice");

    post_payment(&harness.sandbox, &invoice, total - half).await;
    let push = harness.run(Flow::PaymentsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink.counts().payments, payments_before + 2, "{push:#?}");
    let order = leaflink.order_json(&number).unwrap();
    assert_eq!(order["paid"], true, "{order:#}");
    assert!(order["paid_date"].is_string(), "{order:#}");
}

/// Places a LeafLink order, imports it, ships and invoices it in BC and
/// returns the harness, the LeafLink order number and the BC invoice.
async fn invoiced_order(seed: u64) -> (Harness, String, Value) {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: seed })).await.unwrap();
    let mut settings = settings_for("payments-lines", &sandbox);
    settings.leaflink.recorded_by = Some(13);
    let harness = Harness::with_settings(sandbox, settings);
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let line = NewLine { ordered_unit_price: Some(Decimal::new(30000, 2)), ..NewLine::new(product, Decimal::from(10)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'")).await;
    let order_id = orders["value"][0]["id"].as_str().expect("the order is in BC").to_owned();
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice"), None).await;
    let invoices = harness.bc_get(&format!("salesInvoices?$filter=externalDocumentNumber eq '{short_id}'")).await;
    let invoice = invoices["value"][0].clone();
    (harness, number, invoice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_posted_payment_keeps_its_date() {
    let (harness, number, invoice) = invoiced_order(79).await;
    let leaflink = harness.sandbox.leaflink();
    let total = decimal(&invoice["totalAmountIncludingTax"]);
    let first = (total / Decimal::from(3)).round_dp(2);
    let second = total - first;

    // Two payments wait in the journal while a push runs, then are posted together.
    let journals = bc(&harness.sandbox, Method::GET, "customerPaymentJournals", None).await;
    let journal = journals["value"][0]["id"].as_str().expect("BC has a customer payment journal").to_owned();
    let stale = bc(&harness.sandbox, Method::GET, "customerPayments", None).await;
    for line in stale["value"].as_array().into_iter().flatten() {
        bc(&harness.sandbox, Method::DELETE, &format!("customerPayments({})", line["id"].as_str().unwrap()), None).await;
    }
    for (amount, posting_date) in [(first, "2026-12-01"), (second, "2026-12-02")] {
        bc(&harness.sandbox, Method::POST, "customerPayments", Some(json!({
            "journalId": journal,
            "customerNumber": invoice["customerNumber"],
            "postingDate": posting_date,
            "amount": amount.to_string().parse::<serde_json::Number>().unwrap(),
            "appliesToInvoiceId": invoice["id"],
        })))
        .await;
    }
    let waiting = harness.run(Flow::PaymentsPush).await;
    assert_eq!(waiting.counts.failed, 0, "{waiting:#?}");
    assert!(leaflink.payments_json(&number).is_empty(), "a journal line is not a payment before it is posted");
    bc(&harness.sandbox, Method::POST, &format!("journals({journal})/Microsoft.NAV.post"), None).await;

    let push = harness.run(Flow::PaymentsPush).await;
    let dead_letters = harness.store.dead_letters("payments-lines").unwrap();
    assert_eq!(push.counts.failed, 0, "{push:#?} {dead_letters:#?}");
    let payments = leaflink.payments_json(&number);
    assert_eq!(payments.len(), 2, "one LeafLink payment per BC payment: {payments:#?}");
    let recorded: Vec<(Decimal, jiff::Timestamp)> = payments
        .iter()
        .map(|payment| (decimal(&payment["total"]["amount"]), payment["payment_date"].as_str().unwrap().parse().unwrap()))
        .collect();
    // Midnight of the posting date in the tenant's time zone (America/Denver, UTC-7 in December).
    assert!(recorded.contains(&(first, "2026-12-01T07:00:00Z".parse().unwrap())), "{payments:#?}");
    assert!(recorded.contains(&(second, "2026-12-02T07:00:00Z".parse().unwrap())), "{payments:#?}");
    let order = leaflink.order_json(&number).unwrap();
    assert_eq!(order["paid"], true, "{order:#}");
    assert_eq!(order["paid_date"], "2026-12-02", "the order is paid on the last payment's posting date");

    let again = harness.run(Flow::PaymentsPush).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(leaflink.payments_json(&number).len(), 2, "a rerun records no payment twice");
}
