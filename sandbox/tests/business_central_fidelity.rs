//! Fidelity of the Business Central sandbox to the API v2.0 reference: every
//! entity it returns has exactly the property set, types and enum members of
//! `entities.json`, and every published example request is accepted. Where
//! Microsoft's example is wrong, `entities.json` wins and the test names which
//! example it corrects and why.

mod business_central_support;

use std::collections::BTreeSet;

use business_central_support::{Bc, error_code, start, start_seeded};
use leafbridge_sandbox::BusinessCentralSeed;
use serde_json::{Value, json};

const ENTITIES: &str = include_str!("../src/business_central/entities.json");

fn example(name: &str) -> Value {
    let path = format!("{}/tests/business_central_examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("parse {path}: {error}"))
}

/// The published examples the tests correct before sending, and why. Each
/// reason restates a mistake that `examples/index.json` lists in its
/// `notes`. Where an example and `entities.json` disagree, `entities.json`
/// wins.
const CORRECTED_EXAMPLES: &[(&str, &str)] = &[
    ("customer.create.request.json", "blocked is written \" \", the caption of the blank member; the wire member is _x0020_"),
    ("customerPayment.create.request.json", "the URL names the set customerPayment, but the set is customerPayments"),
    ("customerPayment.create.request.json", "contactId is not a property of customerPayments"),
    ("customerPayment.create.request.json", "customerId and appliesToInvoiceId hold placeholder strings, not GUIDs"),
    ("customerPayment.create.request.json", "lastModifiedDateTime is read-only"),
    ("subscriptions.create.request.json", "the body carries server-managed properties (subscriptionId, userId, expirationDateTime, system*)"),
    ("subscriptions.create.request.json", "the resource uses /api/v1.0 instead of /api/v2.0"),
    ("subscriptions.create.request.json", "the notification URL is replaced with a loopback receiver, because the sandbox contacts no other host"),
    ("subscriptions.register.request.json", "the notification URL is a placeholder and the company id is another tenant's"),
];

/// Examples that are right but changed to fit the seeded data, and why.
const ADJUSTED_EXAMPLES: &[(&str, &str)] = &[(
    "item.create.request.json",
    "number 1896-S is already taken by the seeded item.get example record, so the copy is renamed 1896-S2",
)];

/// Returns why an example is corrected or adjusted, for assertion messages.
fn correction(file: &str) -> String {
    let reasons: Vec<&str> = CORRECTED_EXAMPLES
        .iter()
        .chain(ADJUSTED_EXAMPLES)
        .filter(|(name, _)| *name == file)
        .map(|(_, why)| *why)
        .collect();
    assert!(!reasons.is_empty(), "{file} is not listed in CORRECTED_EXAMPLES or ADJUSTED_EXAMPLES");
    format!("{file} corrected: {}", reasons.join("; "))
}

fn entities() -> Value {
    serde_json::from_str(ENTITIES).expect("entities.json")
}

/// Asserts that `entity` has exactly the properties of `set`, each with a
/// JSON value of the property's Edm type.
fn assert_shape(reference: &Value, set: &str, entity: &Value) {
    let definition = &reference["entities"][set];
    let properties = definition["properties"].as_array().unwrap_or_else(|| panic!("no entity set {set}"));
    let expected: BTreeSet<&str> = properties.iter().map(|property| property["name"].as_str().unwrap()).collect();
    let object = entity.as_object().unwrap_or_else(|| panic!("{set}: entity is not an object: {entity}"));
    let actual: BTreeSet<&str> = object.keys().map(String::as_str).filter(|key| !key.starts_with('@')).collect();
    assert_eq!(actual, expected, "{set}: property set differs from entities.json");
    assert!(object.get("@odata.etag").and_then(Value::as_str).is_some_and(|tag| tag.starts_with("W/\"")), "{set}: missing @odata.etag");
    for property in properties {
        let name = property["name"].as_str().unwrap();
        let edm = property["edmType"].as_str().unwrap();
        let value = &object[name];
        let valid = match edm {
            "Edm.String" => value.is_string(),
            "Edm.Guid" => value.as_str().is_some_and(|text| uuid::Uuid::parse_str(text).is_ok() && text.len() == 36),
            "Edm.Decimal" => value.is_number(),
            "Edm.Int32" | "Edm.Int64" => value.is_i64(),
            "Edm.Boolean" => value.is_boolean(),
            "Edm.Date" => value.as_str().is_some_and(|text| text.parse::<jiff::civil::Date>().is_ok()),
            "Edm.DateTimeOffset" => value.as_str().is_some_and(|text| text.parse::<jiff::Timestamp>().is_ok()),
            enum_type => {
                let members = reference["enums"]
                    .as_object()
                    .unwrap()
                    .values()
                    .find(|definition| definition["edmType"] == enum_type)
                    .unwrap_or_else(|| panic!("no enum {enum_type}"))["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|member| member["name"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>();
                value.as_str().is_some_and(|text| members.iter().any(|member| member == text))
            }
        };
        assert!(valid, "{set}.{name}: {value} is not a valid {edm}");
    }
}

/// Lists every entity set the sandbox serves, with the URL that lists it.
async fn collection_urls(bc: &Bc) -> Vec<(String, String)> {
    let reference = entities();
    let mut urls = Vec::new();
    for set in reference["entities"].as_object().unwrap().keys() {
        let url = match set.as_str() {
            "subscriptions" => format!("{}/subscriptions", bc.info.base_url),
            "companies" => format!("{}/companies", bc.info.base_url),
            "salesOrderLines" => bc.company_url("salesOrders(960f5c9c-44e3-ea11-bb43-000d3a2feca1)/salesOrderLines"),
            "salesInvoiceLines" => continue,
            "journals" => bc.company_url("journals?$filter=templateDisplayName eq 'CASHRCPT'"),
            other => bc.company_url(other),
        };
        urls.push((set.clone(), url));
    }
    urls
}

#[tokio::test]
async fn every_served_entity_matches_entities_json() {
    let bc = start().await;
    let reference = entities();
    // Posting an order gives salesInvoices, salesInvoiceLines, salesShipments
    // and itemLedgerEntries records of the sandbox's own making.
    let (status, order) = bc.post("salesOrders", &json!({"customerNumber": "10000", "salesOrderLines": [{"lineObjectNumber": "1896-S", "quantity": 2}]})).await;
    assert_eq!(status, 201, "{order}");
    let (status, body) = bc.action(&format!("salesOrders({})/Microsoft.NAV.shipAndInvoice", order["id"].as_str().unwrap())).await;
    assert_eq!(status, 204, "{body}");
    let mut seen = 0;
    for (set, url) in collection_urls(&bc).await {
        let (status, body) = bc.call(reqwest::Method::GET, &url, None, None).await;
        assert_eq!(status, 200, "{set}: {body}");
        assert!(body["@odata.context"].is_string(), "{set}: missing @odata.context");
        for entity in body["value"].as_array().unwrap() {
            assert_shape(&reference, &set, entity);
            seen += 1;
        }
    }
    let (status, invoices) = bc.get("salesInvoices?$expand=salesInvoiceLines").await;
    assert_eq!(status, 200);
    for invoice in invoices["value"].as_array().unwrap() {
        for line in invoice["salesInvoiceLines"].as_array().unwrap() {
            assert_shape(&reference, "salesInvoiceLines", line);
            seen += 1;
        }
    }
    assert!(seen > 80, "only {seen} entities were checked");
}

/// Reads `{path}/$count` as the number BC returns in plain text.
async fn count(bc: &Bc, path: &str) -> u64 {
    let response = bc.client.get(bc.company_url(&format!("{path}/$count"))).bearer_auth(&bc.token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}/$count");
    let text = response.text().await.unwrap();
    text.parse().unwrap_or_else(|_| panic!("{path}/$count returned {text:?}"))
}

/// Returns the entities of one page of `path`.
async fn page(bc: &Bc, path: &str) -> Vec<Value> {
    let (status, body) = bc.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["value"].as_array().unwrap_or_else(|| panic!("{path}: no value array: {body}")).clone()
}

#[tokio::test]
async fn seed_at_scale_counts_and_shapes() {
    let bc = start_seeded(BusinessCentralSeed { customers: 500, items: 1_000, orders: 200 }).await;
    let reference = entities();

    // Besides the generated records: 3 example customers, 3 example items,
    // 2 example orders and 1 posted example invoice. Every fifth generated
    // order is shipped and invoiced, which deletes it.
    assert_eq!(count(&bc, "customers").await, 503);
    assert_eq!(count(&bc, "items").await, 1_003);
    assert_eq!(count(&bc, "salesOrders").await, 2 + 200 - 40);
    assert_eq!(count(&bc, "salesShipments").await, 40);
    assert_eq!(count(&bc, "salesInvoices").await, 1 + 40);

    let customers = page(&bc, "customers?$filter=startswith(number,'C')&$orderby=number&$skip=240&$top=20").await;
    assert_eq!(customers.len(), 20);
    for customer in &customers {
        assert_shape(&reference, "customers", customer);
        assert!(!customer["displayName"].as_str().unwrap().is_empty(), "{customer}");
        assert!(!customer["addressLine1"].as_str().unwrap().is_empty(), "{customer}");
    }

    let items = page(&bc, "items?$filter=startswith(number,'LL-')&$orderby=number desc&$top=20").await;
    assert_eq!(items.len(), 20);
    for item in &items {
        assert_shape(&reference, "items", item);
        let number = item["number"].as_str().unwrap();
        assert!(number.len() <= 20, "item number {number} is longer than 20 characters");
        let price = item["unitPrice"].to_string();
        let decimals = price.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        assert!(decimals <= 2, "{number}: unitPrice {price} is not a price in cents");
    }
    assert_eq!(items[0]["number"], "LL-1999");

    let orders = page(&bc, "salesOrders?$filter=startswith(externalDocumentNumber,'PO-')&$expand=salesOrderLines&$top=25").await;
    assert_eq!(orders.len(), 25);
    for order in &orders {
        let lines = order["salesOrderLines"].as_array().unwrap();
        assert!((1..=30).contains(&lines.len()), "{}: {} lines", order["number"], lines.len());
        let mut total = rust_decimal::Decimal::ZERO;
        for line in lines {
            assert_shape(&reference, "salesOrderLines", line);
            assert_eq!(line["lineType"], "Item");
            total += line["amountIncludingTax"].to_string().parse::<rust_decimal::Decimal>().unwrap();
        }
        let mut header = order.clone();
        header.as_object_mut().unwrap().remove("salesOrderLines");
        assert_shape(&reference, "salesOrders", &header);
        let header_total: rust_decimal::Decimal = order["totalAmountIncludingTax"].to_string().parse().unwrap();
        assert_eq!(header_total, total, "{}: header total against its lines", order["number"]);
        let (status, customer) = bc.get(&format!("customers({})", order["customerId"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{}: customer {customer}", order["number"]);
        assert_eq!(customer["blocked"], "_x0020_", "{}: orders name only unblocked customers", order["number"]);
    }

    let invoices = page(&bc, "salesInvoices?$filter=startswith(externalDocumentNumber,'PO-')&$expand=salesInvoiceLines").await;
    assert_eq!(invoices.len(), 40);
    for invoice in &invoices {
        assert!(!invoice["orderNumber"].as_str().unwrap().is_empty(), "{invoice}");
        for line in invoice["salesInvoiceLines"].as_array().unwrap() {
            assert_shape(&reference, "salesInvoiceLines", line);
        }
        let mut header = invoice.clone();
        header.as_object_mut().unwrap().remove("salesInvoiceLines");
        assert_shape(&reference, "salesInvoices", &header);
    }
    for shipment in page(&bc, "salesShipments?$top=10").await {
        assert_shape(&reference, "salesShipments", &shipment);
    }
}

#[tokio::test]
async fn same_seed_gives_same_data() {
    let sizes = BusinessCentralSeed { customers: 30, items: 40, orders: 10 };
    let first = start_seeded(sizes.clone()).await;
    let second = start_seeded(sizes).await;
    for path in [
        "customers?$select=id,number,displayName,blocked&$orderby=number",
        "items?$select=id,number,displayName,unitPrice,inventory&$orderby=number",
        "salesOrders?$select=id,number,customerId,orderDate,totalAmountIncludingTax&$orderby=number",
    ] {
        let without_tags = |entities: Vec<Value>| -> Vec<Value> {
            entities.into_iter().map(|entity| without(entity, &["@odata.etag"])).collect()
        };
        assert_eq!(without_tags(page(&first, path).await), without_tags(page(&second, path).await), "{path}");
    }
}

#[tokio::test]
async fn enum_rejects_caption_spelling() {
    let bc = start().await;
    // The docs examples write the blank member as " "; on the wire it is _x0020_.
    let (status, body) = bc.post("customers", &json!({"displayName": "Caption test", "blocked": " "})).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "Unknown");
    let (status, body) = bc.post("customers", &json!({"displayName": "Wire test", "blocked": "_x0020_"})).await;
    assert_eq!(status, 201, "{body}");
}

/// Sends an example request and checks the status and the response's shape.
async fn send_example(bc: &Bc, reference: &Value, method: reqwest::Method, url: &str, body: &Value, set: &str, expected: u16) -> Value {
    let etag = if method == reqwest::Method::PATCH {
        let (status, current) = bc.call(reqwest::Method::GET, url, None, None).await;
        assert_eq!(status, 200, "GET {url}: {current}");
        current["@odata.etag"].as_str().map(str::to_owned)
    } else {
        None
    };
    let (status, response) = bc.call(method, url, Some(body), etag.as_deref()).await;
    assert_eq!(status, expected, "{url}: {response}");
    if set != "subscriptions" {
        assert_shape(reference, set, &response);
    }
    response
}

fn without(mut body: Value, names: &[&str]) -> Value {
    for name in names {
        body.as_object_mut().unwrap().remove(*name);
    }
    body
}

#[tokio::test]
async fn published_example_requests_are_accepted() {
    let bc = start().await;
    let reference = entities();
    let post = reqwest::Method::POST;
    let patch = reqwest::Method::PATCH;

    // customer.create: blocked is written " " (the caption); the wire member is _x0020_.
    let mut customer = example("customer.create.request.json");
    customer["blocked"] = json!("_x0020_");
    let created = send_example(&bc, &reference, post.clone(), &bc.company_url("customers"), &customer, "customers", 201).await;
    assert_eq!(created["displayName"], "Adatum Corporation", "{}", correction("customer.create.request.json"));

    let customer_url = bc.company_url("customers(f2a5738a-44e3-ea11-bb43-000d3a2feca1)");
    let updated = send_example(&bc, &reference, patch.clone(), &customer_url, &example("customer.update.request.json"), "customers", 200).await;
    assert_eq!(updated["phoneNumber"], "(555) 555-1234");

    // item.create: its number 1896-S is already held by the seeded item.get
    // example, so the created copy gets another number.
    let mut item = example("item.create.request.json");
    item["number"] = json!("1896-S2");
    let created = send_example(&bc, &reference, post.clone(), &bc.company_url("items"), &item, "items", 201).await;
    assert_eq!(created["unitPrice"], json!(1000.8), "{}", correction("item.create.request.json"));
    let item_url = bc.company_url("items(fca5738a-44e3-ea11-bb43-000d3a2feca1)");
    let updated = send_example(&bc, &reference, patch.clone(), &item_url, &example("item.update.request.json"), "items", 200).await;
    assert_eq!(updated["blocked"], true);

    let order = send_example(&bc, &reference, post.clone(), &bc.company_url("salesOrders"), &example("salesOrder.create.request.json"), "salesOrders", 201).await;
    assert_eq!(order["customerNumber"], "GL00000008");
    assert_eq!(order["status"], "Draft");
    let order_url = bc.company_url("salesOrders(b6f4017a-b749-ee11-ad0b-a1422c0f7f1f)");
    let updated = send_example(&bc, &reference, patch.clone(), &order_url, &example("salesOrder.update.request.json"), "salesOrders", 200).await;
    assert_eq!(updated["paymentTermsId"], "3bb5b4b6-ea4c-43ca-ba1c-3b69e29a6668");

    let lines_url = bc.company_url("salesOrders(b6f4017a-b749-ee11-ad0b-a1422c0f7f1f)/salesOrderLines");
    let line = send_example(&bc, &reference, post.clone(), &lines_url, &example("salesOrderLine.create.request.json"), "salesOrderLines", 201).await;
    assert_eq!(line["amountExcludingTax"], json!(16767.6));
    let line_url = bc.company_url("salesOrders(960f5c9c-44e3-ea11-bb43-000d3a2feca1)/salesOrderLines(1e8cb9c0-44e3-ea11-bb43-000d3a2feca1)");
    send_example(&bc, &reference, patch.clone(), &line_url, &example("salesOrderLine.update.request.json"), "salesOrderLines", 200).await;

    // customerPayment.create: the docs URL names the set customerPayment
    // (the set is customerPayments); contactId is not a property;
    // customerId and appliesToInvoiceId hold placeholder strings, not GUIDs;
    // lastModifiedDateTime is read-only.
    let payment = without(example("customerPayment.create.request.json"), &["contactId", "customerId", "appliesToInvoiceId", "lastModifiedDateTime"]);
    let (status, body) = bc.post("customerPayment", &payment).await;
    assert_eq!(status, 404, "the singular set name is unknown: {body}");
    assert_eq!(error_code(&body), "BadRequest_NotFound");
    let mut payment = payment;
    payment["lineNumber"] = json!(20000);
    let created = send_example(&bc, &reference, post.clone(), &bc.company_url("customerPayments"), &payment, "customerPayments", 201).await;
    assert_eq!(created["appliesToInvoiceNumber"], "100000", "{}", correction("customerPayment.create.request.json"));

    // subscriptions.create: the body carries server-managed properties and
    // the resource uses /api/v1.0; the notification URL is replaced with a
    // loopback receiver because the sandbox contacts no other host.
    let receiver = business_central_receiver::start().await;
    let mut subscription = without(
        example("subscriptions.create.request.json"),
        &["subscriptionId", "userId", "lastModifiedDateTime", "expirationDateTime", "systemCreatedAt", "systemCreatedBy", "systemModifiedAt", "systemModifiedBy"],
    );
    subscription["notificationUrl"] = json!(receiver.url);
    subscription["resource"] = json!(format!("/api/v2.0/companies({})/customers", bc.info.company_id));
    let (status, body) = bc.call(post.clone(), &format!("{}/subscriptions", bc.info.base_url), Some(&subscription), None).await;
    assert_eq!(status, 201, "{}: {body}", correction("subscriptions.create.request.json"));
    assert_eq!(body["clientState"], "optionalvalueof2048");
    // subscriptions.register: the URL is a placeholder and the company id is another tenant's.
    let mut register = example("subscriptions.register.request.json");
    register["notificationUrl"] = json!(receiver.url);
    register["resource"] = json!(format!("/api/v2.0/companies({})/items", bc.info.company_id));
    let (status, body) = bc.call(post.clone(), &format!("{}/subscriptions", bc.info.base_url), Some(&register), None).await;
    assert_eq!(status, 201, "{}: {body}", correction("subscriptions.register.request.json"));

    // batch: accepted as published; its company header names CRONUS.
    let (status, body) = bc.call(post, &format!("{}/$batch", bc.info.base_url), Some(&example("batch.request.json")), None).await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = body["responses"].as_array().unwrap().iter().map(|item| item["status"].as_u64().unwrap()).collect();
    let published: Vec<u64> = example("batch.response.json")["responses"].as_array().unwrap().iter().map(|item| item["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, published);
}

#[tokio::test]
async fn published_example_records_are_served() {
    let bc = start().await;
    let reference = entities();
    for (file, set, path) in [
        ("customer.get.response.json", "customers", "customers(f2a5738a-44e3-ea11-bb43-000d3a2feca1)"),
        ("item.get.response.json", "items", "items(fca5738a-44e3-ea11-bb43-000d3a2feca1)"),
        ("salesOrder.get.response.json", "salesOrders", "salesOrders(b6f4017a-b749-ee11-ad0b-a1422c0f7f1f)"),
        ("salesOrderLine.get.response.json", "salesOrderLines", "salesOrders(960f5c9c-44e3-ea11-bb43-000d3a2feca1)/salesOrderLines(1e8cb9c0-44e3-ea11-bb43-000d3a2feca1)"),
        ("customerPayment.get.response.json", "customerPayments", "customerPaymentJournals(dc1b6a90-44e3-ea11-bb43-000d3a2feca1)/customerPayments(17cce948-c6a5-4861-8ff5-30428ed83207)"),
        ("customerPaymentJournal.get.response.json", "customerPaymentJournals", "customerPaymentJournals(dc1b6a90-44e3-ea11-bb43-000d3a2feca1)"),
        ("itemLedgerEntry.get.response.json", "itemLedgerEntries", "itemLedgerEntries(44a76d24-52ff-eb11-bb76-000d3a220646)"),
    ] {
        let published = example(file);
        let (status, body) = bc.get(path).await;
        assert_eq!(status, 200, "{file}: {body}");
        assert_shape(&reference, set, &body);
        assert_eq!(body["id"], published["id"], "{file}: id");
        for name in ["number", "displayName", "unitPrice", "quantity", "amount", "entryType", "externalDocumentNumber", "code"] {
            if let Some(value) = published.get(name) {
                assert_eq!(&body[name], value, "{file}: {name}");
            }
        }
    }
    let (status, body) = bc.call(reqwest::Method::GET, &format!("{}/subscriptions('c670ea73cacb459bb51dc1740da2f1db')", bc.info.base_url), None, None).await;
    assert_eq!(status, 200, "{body}");
    let expected: BTreeSet<String> = entities()["entities"]["subscriptions"]["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    let actual: BTreeSet<String> = body.as_object().unwrap().keys().filter(|key| !key.starts_with('@')).cloned().collect();
    assert_eq!(actual, expected);
}

mod business_central_receiver {
    //! A loopback webhook receiver that returns the validation token of the handshake.

    use axum::extract::Query;
    use std::collections::HashMap;

    pub struct Receiver {
        pub url: String,
    }

    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(|Query(query): Query<HashMap<String, String>>| async move {
                query.get("validationToken").cloned().unwrap_or_default()
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { url: format!("http://{address}/hook") }
    }
}

/// `$metadata` under the API root lists every entity set with exactly the
/// properties of `entities.json`, and every enum with its wire members.
#[tokio::test]
async fn metadata_matches_entities_json() {
    let bc = start().await;
    let reference = entities();
    let response = bc.client.get(format!("{}/$metadata", bc.info.base_url)).bearer_auth(&bc.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/xml"), "content type {content_type}");
    let xml = response.text().await.unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");

    for (set, definition) in reference["entities"].as_object().unwrap() {
        let entity = definition["entityName"].as_str().unwrap();
        assert!(xml.contains(&format!("<EntitySet Name=\"{set}\" EntityType=\"Microsoft.NAV.{entity}\"/>")), "{set}: no entity set");
        let start = xml.find(&format!("<EntityType Name=\"{entity}\">")).unwrap_or_else(|| panic!("{set}: no entity type"));
        let end = start + xml[start..].find("</EntityType>").unwrap();
        let block = &xml[start..end];
        let listed: BTreeSet<&str> = block
            .split("<Property Name=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        let expected: BTreeSet<&str> = definition["properties"].as_array().unwrap().iter().map(|property| property["name"].as_str().unwrap()).collect();
        assert_eq!(listed, expected, "{set}: properties in $metadata");
        for property in definition["properties"].as_array().unwrap() {
            let name = property["name"].as_str().unwrap();
            let edm = property["edmType"].as_str().unwrap();
            assert!(block.contains(&format!("<Property Name=\"{name}\" Type=\"{edm}\"")), "{set}.{name}: type {edm}");
        }
    }
    for definition in reference["enums"].as_object().unwrap().values() {
        let name = definition["edmType"].as_str().unwrap().trim_start_matches("Microsoft.NAV.");
        let start = xml.find(&format!("<EnumType Name=\"{name}\">")).unwrap_or_else(|| panic!("no enum {name}"));
        let end = start + xml[start..].find("</EnumType>").unwrap();
        for member in definition["members"].as_array().unwrap() {
            let member = member["name"].as_str().unwrap();
            assert!(xml[start..end].contains(&format!("<Member Name=\"{member}\"/>")), "{name}: member {member}");
        }
    }
    assert!(xml.contains("<Action Name=\"shipAndInvoice\" IsBound=\"true\">"));
}

/// Every corrected example has `notes` in `examples/index.json`, and every
/// request example is sent as published, corrected or adjusted.
#[test]
fn corrected_examples_match_index_notes() {
    let index = example("index.json");
    let entries = index.as_array().expect("index.json is a list");
    let noted = |file: &str| {
        entries
            .iter()
            .find(|entry| entry["file"] == file)
            .and_then(|entry| entry["notes"].as_array())
            .is_some_and(|notes| !notes.is_empty())
    };
    for (file, why) in CORRECTED_EXAMPLES {
        assert!(noted(file), "{file} is corrected ({why}) but index.json has no note for it");
    }
    let sent_as_published = [
        "customer.update.request.json",
        "item.update.request.json",
        "salesOrder.create.request.json",
        "salesOrder.update.request.json",
        "salesOrderLine.create.request.json",
        "salesOrderLine.update.request.json",
        "batch.request.json",
    ];
    for entry in entries {
        let file = entry["file"].as_str().unwrap();
        if file.ends_with(".request.json") {
            let changed = CORRECTED_EXAMPLES.iter().chain(ADJUSTED_EXAMPLES).any(|(name, _)| *name == file);
            assert!(changed || sent_as_published.contains(&file), "{file} is neither sent as published nor corrected");
        }
    }
}
