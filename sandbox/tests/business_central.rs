//! Behaviour of the Business Central sandbox over HTTP: tokens, ETags,
//! OData options and paging, validation errors, the order-to-cash flow
//! (deep insert, shipAndInvoice, payment posting), inventory adjustments,
//! `$batch` and webhooks.

mod business_central_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use business_central_support::{error_code, fetch_token, start, start_with};
use serde_json::{Value, json};

#[tokio::test]
async fn token_missing_wrong_or_expired_is_401() {
    let bc = start().await;
    let url = bc.company_url("customers");
    let response = bc.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = bc.client.get(&url).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "Authentication_InvalidCredentials");

    let (status, _) = bc.get("customers").await;
    assert_eq!(status, 200);
    bc.server.expire_tokens();
    let (status, _) = bc.get("customers").await;
    assert_eq!(status, 401);
    let fresh = fetch_token(&bc.client, &bc.info).await;
    let response = bc.client.get(&url).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let response = bc
        .client
        .post(&bc.info.token_url)
        .form(&[("grant_type", "client_credentials"), ("client_id", bc.info.client_id.as_str()), ("client_secret", "wrong"), ("scope", "https://api.businesscentral.dynamics.com/.default")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn etag_required_and_checked() {
    let bc = start().await;
    let path = "customers(f2a5738a-44e3-ea11-bb43-000d3a2feca1)";
    let (_, customer) = bc.get(path).await;
    let etag = customer["@odata.etag"].as_str().unwrap().to_owned();

    let (status, body) = bc.patch(path, &json!({"displayName": "No tag"}), None).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BadRequest_InvalidToken");

    let (status, updated) = bc.patch(path, &json!({"displayName": "Tagged"}), Some(&etag)).await;
    assert_eq!(status, 200, "{updated}");
    assert_ne!(updated["@odata.etag"], customer["@odata.etag"]);
    assert_ne!(updated["lastModifiedDateTime"], customer["lastModifiedDateTime"]);

    let (status, body) = bc.patch(path, &json!({"displayName": "Stale"}), Some(&etag)).await;
    assert_eq!(status, 409);
    assert_eq!(error_code(&body), "Request_EntityChanged");

    let (status, body) = bc.delete(path, None).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BadRequest_InvalidToken");
    let (status, body) = bc.delete(path, Some("*")).await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null);
    let (status, _) = bc.get(path).await;
    assert_eq!(status, 404);

    let (status, body) = bc.call(reqwest::Method::PATCH, &bc.company_url("customers?$filter=number eq '10400'"), Some(&json!({"displayName": "x"})), Some("*")).await;
    assert_eq!(status, 405);
    assert_eq!(error_code(&body), "BadRequest_MethodNotAllowed");
}

#[tokio::test]
async fn bad_input_gets_bc_errors() {
    let bc = start().await;
    let response = bc
        .client
        .post(bc.company_url("customers"))
        .bearer_auth(&bc.token)
        .header("content-type", "application/json")
        .body("{\"displayName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BadRequest");
    assert!(body["error"]["message"].as_str().unwrap().contains("CorrelationId"));

    let cases = [
        (json!({"displayName": "A", "nickname": "B"}), "BadRequest"),
        (json!({"displayName": 12}), "BadRequest"),
        (json!({"creditLimit": "lots"}), "BadRequest"),
        (json!({"balanceDue": 5}), "BadRequest_InvalidOperation"),
        (json!({"displayName": "x".repeat(101)}), "Application_StringExceededLength"),
        (json!({"type": "Robot"}), "Unknown"),
        (json!({"currencyCode": "XXX"}), "Application_FieldValidationException"),
    ];
    for (body, code) in cases {
        let (status, response) = bc.post("customers", &body).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert_eq!(error_code(&response), code, "{body}: {response}");
    }
    let response = bc
        .client
        .post(bc.company_url("customers"))
        .bearer_auth(&bc.token)
        .header("data-access-intent", "ReadOnly")
        .json(&json!({"displayName": "Replica write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, body) = bc.post("salesShipments", &json!({})).await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = bc.get("customerPayment").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "BadRequest_NotFound");
    let (status, body) = bc.post("items", &json!({"displayName": "New", "inventory": 5})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("Inventory cannot be changed"));
}

#[tokio::test]
async fn deep_filter_rejected_not_crashing() {
    let bc = start().await;
    let opens = "(".repeat(3_000);
    let (status, body) = bc.get(&format!("customers?$filter={opens}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nested more than"), "{body}");

    let nots = "not ".repeat(5_000);
    let (status, _) = bc.get(&format!("customers?$filter={nots}true")).await;
    assert_eq!(status, 400);

    let (status, body) = bc.get("customers?$filter=((number eq 'C10001'))").await;
    assert_eq!(status, 200, "a shallow filter still works: {body}");
}

#[tokio::test]
async fn filter_operators_and_index_lookups() {
    let bc = start().await;
    let (status, body) = bc.get("customers?$filter=number eq 'C10001' or number eq 'C10002' or number eq '10000'").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 3);

    let (status, body) = bc.get("customers?$filter=(number eq 'C10001' or number eq 'C10003') and city eq 'Denver'").await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["value"].as_array().unwrap().iter().map(|c| c["number"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["C10001"]);

    let (status, body) = bc.get("customers?$filter=number eq 'C10001' or city eq 'Denver'").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("distinct fields"));

    let (status, body) = bc.get("items?$filter=startswith(displayName,'Blue') and unitPrice gt 1&$select=number,displayName&$orderby=number desc").await;
    assert_eq!(status, 200, "{body}");
    let values = body["value"].as_array().unwrap();
    assert!(!values.is_empty());
    assert_eq!(values[0].as_object().unwrap().len(), 3, "etag plus two selected properties");
    let numbers: Vec<&str> = values.iter().map(|v| v["number"].as_str().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(numbers, sorted);

    let (status, body) = bc.get("customers?$filter=contains(tolower(displayName),'green leaf')&$count=true&$top=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert!(body["@odata.count"].as_u64().unwrap() >= 2);

    let (status, body) = bc.get("customers?$filter=lastModifiedDateTime gt 2019-08-18T20:05:51.603Z").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bc.get("customers?$filter=number in ('10000','C10001')").await;
    assert_eq!(status, 400, "in needs schema 2.1: {body}");
    let (status, body) = bc.get("customers?$filter=number in ('10000','C10001')&$schemaversion=2.1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    let (status, _) = bc.get("customers?$filter=creditLimit eq 'abc'").await;
    assert_eq!(status, 400);

    let response = bc.client.get(bc.company_url("customers/$count?$filter=city eq 'Denver'")).bearer_auth(&bc.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let count: usize = response.text().await.unwrap().parse().unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn paging_follows_absolute_next_link() {
    let bc = start().await;
    let (_, all) = bc.get("items").await;
    let total = all["value"].as_array().unwrap().len();
    let mut url = bc.company_url("items?$select=number");
    let mut seen = Vec::new();
    loop {
        let response = bc.client.get(&url).bearer_auth(&bc.token).header("prefer", "odata.maxpagesize=5").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["preference-applied"], "odata.maxpagesize=5");
        let body: Value = response.json().await.unwrap();
        let page = body["value"].as_array().unwrap();
        assert!(page.len() <= 5);
        seen.extend(page.iter().map(|item| item["number"].as_str().unwrap().to_owned()));
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://127.0.0.1:"), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), total);
}

#[tokio::test]
async fn order_to_cash_flow() {
    let bc = start().await;
    let (_, item) = bc.get("items?$filter=number eq '1996-S'").await;
    let item = item["value"][0].clone();
    let inventory_before = item["inventory"].as_f64().unwrap();

    let (status, body) = bc.post("salesOrders", &json!({"customerNumber": "C10001", "salesOrderLines": [{"sequence": 10000, "lineObjectNumber": "1996-S", "quantity": 1}]})).await;
    assert_eq!(status, 400, "sequence in a deep insert is rejected: {body}");
    let (_, orders) = bc.get("salesOrders?$filter=customerNumber eq 'C10001'").await;
    assert_eq!(orders["value"].as_array().unwrap().len(), 0, "a rejected deep insert leaves no header");
    let (status, body) = bc.post("salesOrders", &json!({"customerNumber": "C10001", "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": 1}, {"lineObjectNumber": "NO-SUCH-ITEM", "quantity": 1}]})).await;
    assert_eq!(status, 400, "an unknown item fails the deep insert: {body}");
    let (_, orders) = bc.get("salesOrders?$filter=customerNumber eq 'C10001'").await;
    assert_eq!(orders["value"].as_array().unwrap().len(), 0, "a failed line undoes the header");

    let (status, order) = bc
        .post("salesOrders", &json!({
            "customerNumber": "C10001",
            "externalDocumentNumber": "ll-order-77",
            "salesOrderLines": [
                {"lineType": "Item", "lineObjectNumber": "1996-S", "quantity": 24, "unitPrice": 15.123456},
                {"itemId": item["id"], "quantity": 3, "unitPrice": 10, "discountAmount": 1.5},
                {"lineType": "Account", "lineObjectNumber": "40100", "quantity": 1, "unitPrice": 25, "description": "Frakt – ørsted"}
            ]
        }))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["externalDocumentNumber"], "LL-ORDER-77", "Code fields are upper case");
    assert_eq!(order["salesOrderLines"].as_array().map(Vec::len), Some(3), "a deep insert returns its lines");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let (_, lines) = bc.get(&format!("salesOrders({order_id})/salesOrderLines")).await;
    let lines = lines["value"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["unitPrice"], json!(15.12346));
    assert_eq!(lines[0]["amountExcludingTax"], json!(362.96));
    assert_eq!(lines[1]["amountExcludingTax"], json!(28.5));
    assert_eq!(lines[2]["description"], "Frakt – ørsted");
    let (_, order) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(order["totalAmountExcludingTax"], json!(416.46));
    assert_eq!(order["totalAmountIncludingTax"], json!(416.46));

    // A line change updates the header's totals and lastModifiedDateTime.
    let line_path = format!("salesOrders({order_id})/salesOrderLines({})", lines[1]["id"].as_str().unwrap());
    let (status, line) = bc.patch(&line_path, &json!({"quantity": 4}), Some(lines[1]["@odata.etag"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{line}");
    let (_, changed) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(changed["totalAmountExcludingTax"], json!(426.46));
    assert_ne!(changed["lastModifiedDateTime"], order["lastModifiedDateTime"]);

    let (status, body) = bc.action(&format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice")).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(status, 404, "orders disappear after shipAndInvoice");

    let (_, invoices) = bc.get("salesInvoices?$filter=externalDocumentNumber eq 'LL-ORDER-77'").await;
    let invoice = invoices["value"][0].clone();
    assert_eq!(invoice["orderId"], json!(order_id));
    assert_eq!(invoice["orderNumber"], order["number"]);
    assert_eq!(invoice["status"], "Open");
    assert_eq!(invoice["remainingAmount"], json!(426.46));
    let (_, shipments) = bc.get(&format!("salesShipments?$filter=orderNumber eq '{}'", order["number"].as_str().unwrap())).await;
    assert_eq!(shipments["value"].as_array().unwrap().len(), 1);
    let (_, entries) = bc.get("itemLedgerEntries?$filter=itemNumber eq '1996-S' and entryType eq 'Sale'").await;
    let quantities: Vec<f64> = entries["value"].as_array().unwrap().iter().map(|e| e["quantity"].as_f64().unwrap()).collect();
    assert_eq!(quantities, vec![-24.0, -4.0]);
    let (_, item_after) = bc.get(&format!("items({})", item["id"].as_str().unwrap())).await;
    assert_eq!(item_after["inventory"].as_f64().unwrap(), inventory_before - 28.0);

    // Payments: positive amounts applied to the invoice, posted through journals.
    let invoice_id = invoice["id"].as_str().unwrap();
    let journal = "dc1b6a90-44e3-ea11-bb43-000d3a2feca1";
    let (status, payment) = bc.post(&format!("customerPaymentJournals({journal})/customerPayments"), &json!({"customerNumber": "C10001", "amount": 400, "appliesToInvoiceId": invoice_id})).await;
    assert_eq!(status, 201, "{payment}");
    let (_, batches) = bc.get("journals?$filter=templateDisplayName eq 'CASHRCPT'").await;
    assert_eq!(batches["value"][0]["id"], json!(journal));
    // The seeded example payment sits in the same batch and pays invoice 100000.
    let (status, body) = bc.action(&format!("journals({journal})/Microsoft.NAV.post")).await;
    assert_eq!(status, 204, "{body}");
    let (_, partly) = bc.get(&format!("salesInvoices({invoice_id})")).await;
    assert_eq!(partly["remainingAmount"], json!(26.46));
    assert_eq!(partly["status"], "Open");
    let (_, example_invoice) = bc.get("salesInvoices?$filter=number eq '100000'").await;
    assert_eq!(example_invoice["value"][0]["status"], "Paid");

    let (status, _) = bc.post("customerPayments", &json!({"journalId": journal, "customerNumber": "C10001", "amount": 26.46, "appliesToInvoiceNumber": partly["number"]})).await;
    assert_eq!(status, 201);
    let (status, _) = bc.action(&format!("journals({journal})/Microsoft.NAV.post")).await;
    assert_eq!(status, 204);
    let (_, paid) = bc.get(&format!("salesInvoices({invoice_id})")).await;
    assert_eq!(paid["remainingAmount"], json!(0));
    assert_eq!(paid["status"], "Paid");
    let (status, body) = bc.action(&format!("journals({journal})/Microsoft.NAV.post")).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("nothing to post"));
}

#[tokio::test]
async fn inventory_patch_posts_adjustment() {
    let bc = start().await;
    let path = "items(fca5738a-44e3-ea11-bb43-000d3a2feca1)";
    let (_, item) = bc.get(path).await;
    assert_eq!(item["inventory"], json!(4));
    let (status, body) = bc.patch(path, &json!({"inventory": 10}), Some("*")).await;
    assert_eq!(status, 200, "{body}");
    let (_, entries) = bc.get("itemLedgerEntries?$filter=itemNumber eq '1896-S'").await;
    let entry = &entries["value"][0];
    assert_eq!(entry["entryType"], "Positive_x0020_Adjmt_x002E_");
    assert_eq!(entry["quantity"], json!(6));
    assert_eq!(entry["documentNumber"], "1896-S");
    let (status, _) = bc.patch(path, &json!({"inventory": 7}), Some("*")).await;
    assert_eq!(status, 200);
    let (_, entries) = bc.get("itemLedgerEntries?$filter=itemNumber eq '1896-S' and entryType eq 'Negative_x0020_Adjmt_x002E_'").await;
    assert_eq!(entries["value"][0]["quantity"], json!(-3));
}

#[tokio::test]
async fn expand_nested_and_references() {
    let bc = start().await;
    let (status, body) = bc.get("salesOrders(960f5c9c-44e3-ea11-bb43-000d3a2feca1)?$expand=customer($select=number),salesOrderLines($expand=item($select=number,inventory))").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["customer"]["number"], "GL00000008");
    assert_eq!(body["salesOrderLines"][0]["item"]["number"], "1996-S");
    assert!(body["@odata.context"].as_str().unwrap().ends_with("/$entity"));
}

#[tokio::test]
async fn batch_snapshot_rolls_back_and_limits_size() {
    let bc = start().await;
    let batch_url = format!("{}/$batch", bc.info.base_url);
    let item = "7ce0af2e-0963-460f-9b1f-0014aea3e117";
    let body = json!({"requests": [
        {"id": "1", "method": "PATCH", "url": format!("companies({})/items({item})", bc.info.company_id), "headers": {"If-Match": "*", "Content-Type": "application/json"}, "body": {"displayName": "Renamed"}},
        {"id": "2", "method": "PATCH", "url": format!("items({item})"), "headers": {"Company": "CRONUS International Ltd.", "If-Match": "*"}, "body": {"type": "Invalid Type"}}
    ]});
    let response = bc.client.post(&batch_url).bearer_auth(&bc.token).header("isolation", "snapshot").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["responses"][0]["status"], 200);
    assert_eq!(result["responses"][1]["status"], 400);
    let (_, after) = bc.get(&format!("items({item})")).await;
    assert_eq!(after["displayName"], "Touring Bicycle", "snapshot isolation undoes the first change");

    let response = bc.client.post(&batch_url).bearer_auth(&bc.token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (_, after) = bc.get(&format!("items({item})")).await;
    assert_eq!(after["displayName"], "Renamed", "without isolation the first change stays");

    let many: Vec<Value> = (0..101).map(|_| json!({"method": "GET", "url": format!("companies({})/items", bc.info.company_id)})).collect();
    let response = bc.client.post(&batch_url).bearer_auth(&bc.token).json(&json!({"requests": many})).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_beyond_five_get_429() {
    let bc = start_with(true, Duration::from_millis(100)).await;
    // A batch of 100 expanded reads keeps each request busy long enough for
    // the others to overlap it.
    let heavy: Vec<Value> = (0..100).map(|_| json!({"method": "GET", "url": format!("companies({})/salesOrders?$expand=salesOrderLines,customer", bc.info.company_id)})).collect();
    let body = json!({"requests": heavy});
    let url = format!("{}/$batch", bc.info.base_url);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let request = bc.client.post(&url).bearer_auth(&bc.token).json(&body);
        tasks.push(tokio::spawn(async move { request.send().await.map(|response| response.status().as_u16()).unwrap_or(0) }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn webhook_handshake_and_notifications() {
    let bc = start().await;
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>, body: String| {
            let sink = Arc::clone(&sink);
            async move {
                if let Some(token) = query.get("validationToken") {
                    return token.clone();
                }
                sink.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                String::new()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let subscriptions = format!("{}/subscriptions", bc.info.base_url);
    let resource = format!("/api/v2.0/companies({})/customers", bc.info.company_id);
    let (status, body) = bc.call(reqwest::Method::POST, &subscriptions, Some(&json!({"notificationUrl": "https://example.com/hook", "resource": resource})), None).await;
    assert_eq!(status, 400, "non-loopback URLs are rejected: {body}");

    let (status, subscription) = bc.call(reqwest::Method::POST, &subscriptions, Some(&json!({"notificationUrl": format!("http://{address}/hook"), "resource": resource, "clientState": "secret"})), None).await;
    assert_eq!(status, 201, "{subscription}");
    let expires: jiff::Timestamp = subscription["expirationDateTime"].as_str().unwrap().parse().unwrap();
    let days = (expires - jiff::Timestamp::now()).get_seconds() as f64 / 86_400.0;
    assert!((2.9..=3.0).contains(&days), "{days}");

    let (status, _) = bc.patch("customers(f2a5738a-44e3-ea11-bb43-000d3a2feca1)", &json!({"phoneNumber": "555"}), Some("*")).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let batches = received.lock().unwrap().clone();
    assert_eq!(batches.len(), 1, "{batches:?}");
    let notification = &batches[0]["value"][0];
    assert_eq!(notification["changeType"], "updated");
    assert_eq!(notification["clientState"], "secret");
    assert!(notification["resource"].as_str().unwrap().ends_with("customers(f2a5738a-44e3-ea11-bb43-000d3a2feca1)"));

    let id = subscription["subscriptionId"].as_str().unwrap();
    let url = format!("{subscriptions}('{id}')");
    let (status, body) = bc.call(reqwest::Method::PATCH, &url, Some(&json!({})), None).await;
    assert_eq!(status, 400, "renewal needs If-Match: {body}");
    let (status, renewed) = bc.call(reqwest::Method::PATCH, &url, Some(&json!({})), Some(subscription["@odata.etag"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{renewed}");
    let (status, _) = bc.call(reqwest::Method::DELETE, &url, None, Some("*")).await;
    assert_eq!(status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_6000_per_window() {
    let bc = start_with(true, Duration::from_millis(100)).await;
    let url = bc.company_url("unitsOfMeasure?$top=1&$select=code");
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..6_001 {
        let status = bc.client.get(&url).bearer_auth(&bc.token).send().await.unwrap().status().as_u16();
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&6_000), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&1), "{statuses:?}");
}

#[tokio::test]
async fn many_changes_become_collection_notification() {
    let bc = start_with(false, Duration::from_secs(3600)).await;
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>, body: String| {
            let sink = Arc::clone(&sink);
            async move {
                if let Some(token) = query.get("validationToken") {
                    return token.clone();
                }
                sink.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                String::new()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let resource = format!("/api/v2.0/companies({})/customers", bc.info.company_id);
    let (status, body) = bc.call(reqwest::Method::POST, &format!("{}/subscriptions", bc.info.base_url), Some(&json!({"notificationUrl": format!("http://{address}/hook"), "resource": resource})), None).await;
    assert_eq!(status, 201, "{body}");
    for index in 0..1_001 {
        let reply = bc.server.request(axum::http::Method::POST, &format!("companies({})/customers", bc.info.company_id), Some(json!({"displayName": format!("Bulk {index}")}))).await;
        assert_eq!(reply.status.as_u16(), 201);
    }
    bc.server.flush_notifications().await;
    let batches = received.lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    let values = batches[0]["value"].as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0]["changeType"], "collection");
    let resource = values[0]["resource"].as_str().unwrap();
    assert!(resource.contains("customers?$filter=lastModifiedDateTime%20gt%20"), "{resource}");
}

fn order_number_sequence(order: &Value) -> u64 {
    let number = order["number"].as_str().expect("an order number");
    number.trim_start_matches(|character: char| !character.is_ascii_digit()).parse().expect("a numeric suffix")
}

/// A deep insert is one transaction: a line that fails validation leaves no
/// header, no earlier line and no gap in the order number series.
#[tokio::test]
async fn failed_deep_insert_rolls_back() {
    let bc = start().await;
    let (status, first) = bc.post("salesOrders", &json!({"customerNumber": "C10001", "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": 1}]})).await;
    assert_eq!(status, 201, "{first}");
    let orders_before = bc.server.count("salesOrders").await;
    let lines_before = bc.server.count("salesOrderLines").await;

    let rejected = json!({
        "customerNumber": "C10002",
        "externalDocumentNumber": "ROLLBACK-1",
        "salesOrderLines": [
            {"lineObjectNumber": "1996-S", "quantity": 2},
            {"lineObjectNumber": "1996-S", "quantity": 3},
            {"lineType": "Item", "lineObjectNumber": "NO-SUCH-ITEM", "quantity": 1}
        ]
    });
    let (status, body) = bc.post("salesOrders", &rejected).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "Application_FieldValidationException", "{body}");
    assert_eq!(bc.server.count("salesOrders").await, orders_before, "no header is left behind");
    assert_eq!(bc.server.count("salesOrderLines").await, lines_before, "no line is left behind");
    let (_, found) = bc.get("salesOrders?$filter=externalDocumentNumber eq 'ROLLBACK-1'").await;
    assert_eq!(found["value"], json!([]));

    let (status, second) = bc.post("salesOrders", &json!({"customerNumber": "C10001", "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": 1}]})).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(order_number_sequence(&second), order_number_sequence(&first) + 1, "the rolled-back insert gives its number back");
}

/// Inside a `$batch`, a failed deep insert rolls back only itself unless the
/// batch has `Isolation: snapshot`, which rolls back every operation, a
/// successful deep insert included.
#[tokio::test]
async fn failed_deep_insert_in_batch() {
    let bc = start().await;
    let batch_url = format!("{}/$batch", bc.info.base_url);
    let company = bc.info.company_id.clone();
    let batch = |tag: &str| {
        json!({"requests": [
            {"id": "1", "method": "POST", "url": format!("companies({company})/customers"), "headers": {"Content-Type": "application/json"}, "body": {"displayName": format!("Batch customer {tag}")}},
            {"id": "2", "method": "POST", "url": format!("companies({company})/salesOrders"), "headers": {"Content-Type": "application/json"}, "body": {
                "customerNumber": "C10001", "externalDocumentNumber": format!("{tag}-GOOD"),
                "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": 1}]}},
            {"id": "3", "method": "POST", "url": format!("companies({company})/salesOrders"), "headers": {"Content-Type": "application/json"}, "body": {
                "customerNumber": "C10001", "externalDocumentNumber": format!("{tag}-BAD"),
                "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": 1}, {"lineObjectNumber": "NO-SUCH-ITEM", "quantity": 1}]}}
        ]})
    };
    let orders_before = bc.server.count("salesOrders").await;
    let lines_before = bc.server.count("salesOrderLines").await;
    let customers_before = bc.server.count("customers").await;

    let response = bc.client.post(&batch_url).bearer_auth(&bc.token).header("isolation", "snapshot").json(&batch("SNAP")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    let statuses: Vec<u64> = result["responses"].as_array().unwrap().iter().map(|item| item["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![201, 201, 400]);
    assert_eq!(bc.server.count("customers").await, customers_before, "snapshot: the customer is rolled back");
    assert_eq!(bc.server.count("salesOrders").await, orders_before, "snapshot: both orders are rolled back");
    assert_eq!(bc.server.count("salesOrderLines").await, lines_before, "snapshot: every line is rolled back");

    let response = bc.client.post(&batch_url).bearer_auth(&bc.token).json(&batch("PLAIN")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(bc.server.count("customers").await, customers_before + 1, "no isolation: the customer stays");
    assert_eq!(bc.server.count("salesOrders").await, orders_before + 1, "no isolation: only the good order stays");
    assert_eq!(bc.server.count("salesOrderLines").await, lines_before + 1, "no isolation: only the good order's line stays");
    let (_, bad) = bc.get("salesOrders?$filter=externalDocumentNumber eq 'PLAIN-BAD'").await;
    assert_eq!(bad["value"], json!([]));
}

/// Order lines are written on their own (nested and company-level paths),
/// each write moves the header totals, and a draft order is deleted with
/// its lines.
#[tokio::test]
async fn lines_and_draft_orders_alone() {
    let bc = start().await;
    let (status, order) = bc.post("salesOrders", &json!({"customerNumber": "C10001"})).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "Draft");
    let order_id = order["id"].as_str().unwrap().to_owned();

    let (status, nested) = bc.post(&format!("salesOrders({order_id})/salesOrderLines"), &json!({"lineObjectNumber": "1996-S", "quantity": 2, "unitPrice": 10})).await;
    assert_eq!(status, 201, "{nested}");
    assert_eq!(nested["documentId"], json!(order_id));
    let (status, body) = bc.post("salesOrderLines", &json!({"lineObjectNumber": "1996-S", "quantity": 1})).await;
    assert_eq!(status, 400, "a company-level line needs its document: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("document id"));
    let (status, direct) = bc.post("salesOrderLines", &json!({"documentId": order_id, "lineObjectNumber": "1996-S", "quantity": 1, "unitPrice": 5})).await;
    assert_eq!(status, 201, "{direct}");
    let (_, header) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(header["totalAmountExcludingTax"], json!(25));

    let direct_id = direct["id"].as_str().unwrap();
    let (status, patched) = bc.patch(&format!("salesOrderLines({direct_id})"), &json!({"quantity": 3}), Some(direct["@odata.etag"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["amountExcludingTax"], json!(15));
    let (_, header) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(header["totalAmountExcludingTax"], json!(35));

    let nested_path = format!("salesOrders({order_id})/salesOrderLines({})", nested["id"].as_str().unwrap());
    let (status, body) = bc.delete(&nested_path, Some(nested["@odata.etag"].as_str().unwrap())).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null, "DELETE answers with an empty body");
    let (_, header) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(header["totalAmountExcludingTax"], json!(15));

    let lines_before = bc.server.count("salesOrderLines").await;
    let (status, body) = bc.delete(&format!("salesOrders({order_id})"), Some(header["@odata.etag"].as_str().unwrap())).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = bc.get(&format!("salesOrders({order_id})")).await;
    assert_eq!(status, 404);
    assert_eq!(bc.server.count("salesOrderLines").await, lines_before - 1, "the order's last line went with it");
}

/// Malformed bodies in `$batch`, deep inserts and PATCH get BC's error
/// body with a 400, and leave the store unchanged.
#[tokio::test]
async fn bad_batch_and_deep_insert_bodies() {
    let bc = start().await;
    let batch_url = format!("{}/$batch", bc.info.base_url);
    for body in ["{\"requests\": [", "[]", "{\"requests\": 5}", "{\"requests\": [{\"url\": \"items\"}]}"] {
        let response = bc.client.post(&batch_url).bearer_auth(&bc.token).header("content-type", "application/json").body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            assert_eq!(parsed["responses"][0]["status"], 400, "{body}: {text}");
            assert!(parsed["responses"][0]["body"]["error"]["code"].is_string(), "{body}: {text}");
        } else {
            assert_eq!(status, 400, "{body}: {text}");
            assert!(error_code(&parsed).starts_with("BadRequest"), "{body}: {text}");
        }
    }

    let orders_before = bc.server.count("salesOrders").await;
    let lines_before = bc.server.count("salesOrderLines").await;
    for body in [
        json!([{"customerNumber": "C10001"}]),
        json!({"customerNumber": "C10001", "salesOrderLines": {"lineObjectNumber": "1996-S"}}),
        json!({"customerNumber": "C10001", "salesOrderLines": [{"lineObjectNumber": "1996-S", "quantity": "many"}]}),
        json!({"customerNumber": "C10001", "salesOrderLines": [{"lineObjectNumber": "1996-S", "colour": "green"}]}),
        json!({"customerNumber": "C10001", "salesOrderLines": ["1996-S"]}),
        json!({"customerNumber": 10001}),
    ] {
        let (status, response) = bc.post("salesOrders", &body).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert!(response["error"]["message"].is_string(), "{body}: {response}");
    }
    assert_eq!(bc.server.count("salesOrders").await, orders_before);
    assert_eq!(bc.server.count("salesOrderLines").await, lines_before);

    let item = "7ce0af2e-0963-460f-9b1f-0014aea3e117";
    for body in [json!({"unitPrice": "cheap"}), json!({"blocked": "yes"}), json!({"displayName": null}), json!({"noSuchField": 1})] {
        let (status, response) = bc.patch(&format!("items({item})"), &body, Some("*")).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert_eq!(error_code(&response), "BadRequest", "{body}: {response}");
    }
}
