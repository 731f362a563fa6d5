//! Seed data of the sandbox company: the reference lists that flows need
//! (units of measure, item categories, currencies, salespeople with emails,
//! a customer payment journal and its `journals` batch, a freight G/L
//! account), every record of the published examples with its published id,
//! and generated customers, items and sales orders.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::BusinessCentralSeed;

use super::cell::from_json;
use super::schema::schema;
use super::store::{Row, Store};

/// The name BC's demo company has; the published `$batch` example selects it
/// with a `Company` header.
pub const COMPANY_NAME: &str = "CRONUS International Ltd.";

/// Journal template of customer payment batches.
pub const PAYMENT_TEMPLATE: &str = "CASHRCPT";

/// G/L accounts that account lines may name: id, number, name. API v2.0
/// `accounts` is not served, so this list is fixed.
pub const GL_ACCOUNTS: &[(&str, &str, &str)] = &[
    ("5a1d6a90-44e3-ea11-bb43-000d3a2feca1", "40100", "Freight"),
    ("5b1d6a90-44e3-ea11-bb43-000d3a2feca1", "40200", "Fees and Charges"),
];

/// The default customer payment journal (from the published example).
pub const PAYMENT_JOURNAL_ID: &str = "dc1b6a90-44e3-ea11-bb43-000d3a2feca1";

const CUSTOMER_10400: &str = "b3c0a1d2-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

const UNITS: &[(&str, &str, &str)] = &[
    ("PCS", "Piece", "EA"),
    ("GR", "Gram", "GRM"),
    ("KG", "Kilogram", "KGM"),
    ("MG", "Milligram", "MGM"),
    ("OZ", "Ounce", "ONZ"),
    ("LB", "Pound", "LBR"),
    ("L", "Liter", "LTR"),
    ("ML", "Milliliter", "MLT"),
];

/// Stores a row built from JSON properties, bypassing the read-only checks
/// that apply to clients.
pub fn seed_row(store: &mut Store, set: &str, id: Uuid, properties: Value) {
    let entity = schema().set(set).unwrap_or_else(|| panic!("no entity set {set}"));
    let mut row = Row::new(id);
    row.set(entity, entity.col("id"), super::cell::Cell::Guid(id));
    let now = json!(super::cell::format_timestamp(jiff::Timestamp::now()));
    if let Some(column) = entity.column("lastModifiedDateTime") {
        let cell = from_json(&entity.entity, &entity.properties[column], &now).expect("a timestamp");
        row.set(entity, column, cell);
    }
    for (name, value) in properties.as_object().expect("seed properties are an object") {
        let column = entity.col(name);
        let cell = from_json(&entity.entity, &entity.properties[column], value)
            .unwrap_or_else(|error| panic!("seed value {set}.{name}: {error}"));
        row.set(entity, column, cell);
    }
    store.save(set, row);
}

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("a seed GUID")
}

fn uom_id(code: &str) -> Uuid {
    if code == "PCS" {
        // The id the published item and line examples use for PCS.
        return id("5ca6738a-44e3-ea11-bb43-000d3a2feca1");
    }
    { let mut bytes = [0u8; 16]; for (index, byte) in code.bytes().enumerate() { bytes[index] = byte; } bytes[15] = 0x55; uuid::Builder::from_random_bytes(bytes).into_uuid() }
}

pub fn seed(store: &mut Store, random_seed: u64, sizes: &BusinessCentralSeed) {
    seed_reference_lists(store);
    seed_examples(store);
    seed_generated(store, random_seed, sizes);
    // Seeding is not a change a subscriber hears about.
    store.changes.clear();
}

fn seed_reference_lists(store: &mut Store) {
    for (code, name, iso) in UNITS {
        seed_row(store, "unitsOfMeasure", uom_id(code), json!({"code": code, "displayName": name, "internationalStandardCode": iso, "symbol": code.to_lowercase()}));
    }
    for (uuid, code, name) in [
        ("e21a6a90-44e3-ea11-bb43-000d3a2feca1", "TABLE", "Office Tables"),
        ("e31a6a90-44e3-ea11-bb43-000d3a2feca1", "FLOWER", "Flower"),
        ("e41a6a90-44e3-ea11-bb43-000d3a2feca1", "PREROLL", "Pre-rolls"),
        ("e51a6a90-44e3-ea11-bb43-000d3a2feca1", "EDIBLE", "Edibles"),
        ("e61a6a90-44e3-ea11-bb43-000d3a2feca1", "VAPE", "Vape cartridges"),
        ("e71a6a90-44e3-ea11-bb43-000d3a2feca1", "CONCENTR", "Concentrates"),
    ] {
        seed_row(store, "itemCategories", id(uuid), json!({"code": code, "displayName": name}));
    }
    for (code, name, symbol) in [("USD", "US dollar", "$"), ("GBP", "Pound sterling", "£"), ("CAD", "Canadian dollar", "$"), ("EUR", "Euro", "€")] {
        seed_row(store, "currencies", Uuid::new_v4(), json!({"code": code, "displayName": name, "symbol": symbol, "amountDecimalPlaces": "2:2", "amountRoundingPrecision": 0.01}));
    }
    for (code, name) in [("US", "United States"), ("GB", "Great Britain"), ("CA", "Canada")] {
        seed_row(store, "countriesRegions", Uuid::new_v4(), json!({"code": code, "displayName": name}));
    }
    for (uuid, code, name, due) in [
        ("3bb5b4b6-ea4c-43ca-ba1c-3b69e29a6668", "1M(8D)", "1 Month/2% 8 days", "1M"),
        ("04a5738a-44e3-ea11-bb43-000d3a2feca1", "COD", "Cash on delivery", "0D"),
        ("0e8b5305-593f-ee11-be74-6045bdc8c285", "14 DAYS", "Net 14 days", "14D"),
        ("0f8b5305-593f-ee11-be74-6045bdc8c285", "30 DAYS", "Net 30 days", "30D"),
    ] {
        seed_row(store, "paymentTerms", id(uuid), json!({"code": code, "displayName": name, "dueDateCalculation": due}));
    }
    for (uuid, code, name) in [("3b196a90-44e3-ea11-bb43-000d3a2feca1", "BANK", "Bank transfer"), ("3c196a90-44e3-ea11-bb43-000d3a2feca1", "CHECK", "Check")] {
        seed_row(store, "paymentMethods", id(uuid), json!({"code": code, "displayName": name}));
    }
    for (uuid, code, name) in [("774c550b-593f-ee11-be74-6045bdc8c285", "EXW", "Ex Warehouse"), ("784c550b-593f-ee11-be74-6045bdc8c285", "DELIVERY", "Own delivery")] {
        seed_row(store, "shipmentMethods", id(uuid), json!({"code": code, "displayName": name}));
    }
    for (code, name, email) in [
        ("JO", "Jim Olive", "jim.olive@cronus.example"),
        ("PS", "Peter Saddow", "peter.saddow@cronus.example"),
        ("MH", "Marty Hørst", "marty.horst@cronus.example"),
    ] {
        seed_row(store, "salespeoplePurchasers", Uuid::new_v4(), json!({"code": code, "displayName": name, "email": email}));
    }
    seed_row(store, "locations", Uuid::new_v4(), json!({"code": "MAIN", "displayName": "Main warehouse", "city": "Denver", "state": "CO", "country": "US"}));
    seed_row(store, "customerPaymentJournals", id(PAYMENT_JOURNAL_ID), json!({"code": "GENERAL", "displayName": "GENERAL", "balancingAccountNumber": "10100"}));
    seed_row(store, "journals", id(PAYMENT_JOURNAL_ID), json!({"code": "GENERAL", "displayName": "GENERAL", "templateDisplayName": PAYMENT_TEMPLATE, "balancingAccountNumber": "10100"}));
    seed_row(store, "journals", id("dd1b6a90-44e3-ea11-bb43-000d3a2feca1"), json!({"code": "DEFAULT", "displayName": "Default journal batch", "templateDisplayName": "GENERAL"}));
}

fn seed_examples(store: &mut Store) {
    seed_row(store, "customers", id("f2a5738a-44e3-ea11-bb43-000d3a2feca1"), json!({
        "number": "10000", "displayName": "Adatum Corporation", "type": "Company", "addressLine1": "192 Market Square",
        "city": "Atlanta", "state": "GA", "country": "US", "postalCode": "31772", "email": "robert.townes@contoso.com",
        "taxLiable": true, "taxAreaId": "90196a90-44e3-ea11-bb43-000d3a2feca1", "taxAreaDisplayName": "ATLANTA, GA",
        "currencyCode": "USD", "paymentTermsId": "04a5738a-44e3-ea11-bb43-000d3a2feca1",
        "paymentMethodId": "3b196a90-44e3-ea11-bb43-000d3a2feca1", "blocked": "_x0020_"
    }));
    // The sales order examples name this customer; its number is the one the
    // order create request sends.
    seed_row(store, "customers", id("c04c550b-593f-ee11-be74-6045bdc8c285"), json!({
        "number": "GL00000008", "displayName": "Adatum Corporation", "type": "Company", "addressLine1": "Station Road, 21",
        "city": "Cambridge", "country": "GB", "email": "robert.townes@contoso.com", "currencyCode": "GBP",
        "salespersonCode": "JO", "paymentTermsId": "0e8b5305-593f-ee11-be74-6045bdc8c285",
        "shipmentMethodId": "774c550b-593f-ee11-be74-6045bdc8c285"
    }));
    seed_row(store, "customers", id(CUSTOMER_10400), json!({"number": "10400", "displayName": "Blanemark Hifi Shop", "country": "US", "balanceDue": 1500}));
    // The posted invoice that the published payment example applies to.
    seed_row(store, "salesInvoices", id("a1e4f0c2-1b7d-4c1e-9a52-3f0d6e8b7c10"), json!({
        "number": "100000", "invoiceDate": "2015-12-01", "postingDate": "2015-12-01", "dueDate": "2015-12-31",
        "customerId": CUSTOMER_10400, "customerNumber": "10400", "customerName": "Blanemark Hifi Shop", "billToName": "Blanemark Hifi Shop",
        "billToCustomerId": CUSTOMER_10400, "billToCustomerNumber": "10400", "currencyCode": "USD",
        "totalAmountExcludingTax": 1500, "totalAmountIncludingTax": 1500, "remainingAmount": 1500, "status": "Open"
    }));
    let item_common = json!({
        "type": "Inventory", "itemCategoryId": "e21a6a90-44e3-ea11-bb43-000d3a2feca1", "itemCategoryCode": "TABLE",
        "taxGroupId": "9f196a90-44e3-ea11-bb43-000d3a2feca1", "taxGroupCode": "FURNITURE",
        "baseUnitOfMeasureId": "5ca6738a-44e3-ea11-bb43-000d3a2feca1", "baseUnitOfMeasureCode": "PCS"
    });
    for (uuid, number, name, price, cost, inventory) in [
        ("fca5738a-44e3-ea11-bb43-000d3a2feca1", "1896-S", "ATHENS Desk", "1000.8", "780.7", "4"),
        ("0ea6738a-44e3-ea11-bb43-000d3a2feca1", "1996-S", "ATLANTA Whiteboard, base", "1397.3", "1089.9", "100"),
        ("7ce0af2e-0963-460f-9b1f-0014aea3e117", "1000", "Touring Bicycle", "4000", "3500", "10"),
    ] {
        let mut properties = item_common.clone();
        let object = properties.as_object_mut().expect("object");
        object.insert("number".into(), json!(number));
        object.insert("displayName".into(), json!(name));
        object.insert("unitPrice".into(), number_json(price));
        object.insert("unitCost".into(), number_json(cost));
        object.insert("inventory".into(), number_json(inventory));
        seed_row(store, "items", id(uuid), properties);
    }
    let order_header = json!({
        "externalDocumentNumber": "", "orderDate": "2015-12-31", "postingDate": "2023-09-02",
        "customerId": "c04c550b-593f-ee11-be74-6045bdc8c285", "customerNumber": "GL00000008", "customerName": "Adatum Corporation",
        "billToName": "Adatum Corporation", "billToCustomerId": "c04c550b-593f-ee11-be74-6045bdc8c285", "billToCustomerNumber": "GL00000008",
        "shipToName": "Adatum Corporation", "shipToContact": "Robert Townes", "sellToAddressLine1": "Station Road, 21", "sellToCity": "Cambridge",
        "sellToCountry": "GB", "billToAddressLine1": "Station Road, 21", "billToCity": "Cambridge", "billToCountry": "GB",
        "shipToAddressLine1": "Station Road, 21", "shipToCity": "Cambridge", "shipToCountry": "GB", "shortcutDimension2Code": "MEDIUM",
        "currencyCode": "GBP", "paymentTermsId": "0e8b5305-593f-ee11-be74-6045bdc8c285", "shipmentMethodId": "774c550b-593f-ee11-be74-6045bdc8c285",
        "salesperson": "JO", "email": "robert.townes@contoso.com", "status": "Draft"
    });
    let mut first = order_header.clone();
    first["number"] = json!("101005");
    seed_row(store, "salesOrders", id("b6f4017a-b749-ee11-ad0b-a1422c0f7f1f"), first);
    // The published order line belongs to a document id of its own, so the
    // sandbox seeds that order too.
    let mut second = order_header;
    second["number"] = json!("101006");
    second["totalAmountExcludingTax"] = json!(16767.6);
    second["totalAmountIncludingTax"] = json!(16767.6);
    seed_row(store, "salesOrders", id("960f5c9c-44e3-ea11-bb43-000d3a2feca1"), second);
    seed_row(store, "salesOrderLines", id("1e8cb9c0-44e3-ea11-bb43-000d3a2feca1"), json!({
        "documentId": "960f5c9c-44e3-ea11-bb43-000d3a2feca1", "sequence": 10000, "itemId": "0ea6738a-44e3-ea11-bb43-000d3a2feca1",
        "lineType": "Item", "lineObjectNumber": "1996-S", "description": "ATLANTA Whiteboard, base",
        "unitOfMeasureId": "5ca6738a-44e3-ea11-bb43-000d3a2feca1", "unitOfMeasureCode": "PCS", "quantity": 12, "unitPrice": 1397.3,
        "amountExcludingTax": 16767.6, "taxCode": "FURNITURE", "amountIncludingTax": 16767.6, "netAmount": 16767.6,
        "netAmountIncludingTax": 16767.6, "shipmentDate": "2020-04-02", "invoiceQuantity": 12, "shipQuantity": 12
    }));
    seed_row(store, "itemLedgerEntries", id("44a76d24-52ff-eb11-bb76-000d3a220646"), json!({
        "entryNumber": 1, "itemNumber": "1100", "postingDate": "2022-06-01", "entryType": "Positive_x0020_Adjmt_x002E_",
        "documentNumber": "START-MANF", "quantity": 200, "costAmountActual": 25934.2
    }));
    seed_row(store, "customerPayments", id("17cce948-c6a5-4861-8ff5-30428ed83207"), json!({
        "journalId": PAYMENT_JOURNAL_ID, "journalDisplayName": "GENERAL", "lineNumber": 10000, "customerNumber": "10400",
        "customerId": CUSTOMER_10400, "postingDate": "2015-12-31", "documentNumber": "1234", "amount": 1500,
        "appliesToInvoiceNumber": "100000", "appliesToInvoiceId": "a1e4f0c2-1b7d-4c1e-9a52-3f0d6e8b7c10"
    }));
}

fn number_json(text: &str) -> Value {
    serde_json::from_str(text).expect("a decimal literal")
}

const STRAINS: &[&str] = &["Blue Dream", "Sour Diesel", "Granddaddy Purple", "Pineapple Express", "Jack Herer", "Durban Poison", "Gelato", "Wedding Cake"];
const FORMATS: &[(&str, &str, &str)] = &[
    ("Flower 3.5g", "FLOWER", "GR"),
    ("Pre-roll 1g 5-pack", "PREROLL", "PCS"),
    ("Gummies 100mg", "EDIBLE", "PCS"),
    ("Vape cartridge 0.5g", "VAPE", "PCS"),
    ("Live resin 1g", "CONCENTR", "GR"),
];
const TOWNS: &[(&str, &str, &str)] = &[("Denver", "CO", "80202"), ("Portland", "OR", "97201"), ("Seattle", "WA", "98101"), ("Oakland", "CA", "94607")];
const SHOPS: &[&str] = &["Green Leaf Dispensary", "Green Leaf Dispensary LLC", "Høstgården Wellness", "Mile High Cannabis Co.", "Cascadia Collective", "Über Greens"];

/// Generates customers, then items, then orders from one generator, so the
/// customers and items of a seed stay the same whatever the order count.
fn seed_generated(store: &mut Store, random_seed: u64, sizes: &BusinessCentralSeed) {
    let mut random = StdRng::seed_from_u64(random_seed);
    let mut open_customers = Vec::new();
    for index in 0..sizes.customers {
        let (city, state, postal) = TOWNS[index % TOWNS.len()];
        let name = format!("{} #{}", SHOPS[index % SHOPS.len()], index + 1);
        let email = format!("buyer{}@shop{}.example", index + 1, index + 1);
        // One customer in 50 is blocked, starting with the twelfth.
        let blocked = index % 50 == 11;
        let id = uuid_from(&mut random);
        seed_row(store, "customers", id, json!({
            "number": format!("C{:05}", 10001 + index), "displayName": name, "type": "Company",
            "addressLine1": format!("{} Main Street", 100 + index), "city": city, "state": state, "country": "US",
            "postalCode": postal, "email": email, "currencyCode": "USD", "salespersonCode": "PS",
            "blocked": if blocked { "All" } else { "_x0020_" }
        }));
        if !blocked {
            open_customers.push(id);
        }
    }
    let mut items = Vec::with_capacity(sizes.items);
    for index in 0..sizes.items {
        let strain = STRAINS[index % STRAINS.len()];
        let (format, category, unit) = FORMATS[index % FORMATS.len()];
        let price = Decimal4::new(random.random_range(500..9000));
        let id = uuid_from(&mut random);
        // Item numbers stay within BC's 20-character limit, because the longest is `LL-100999`.
        seed_row(store, "items", id, json!({
            "number": format!("LL-{:04}", 1000 + index), "displayName": format!("{strain} {format}"),
            "type": "Inventory", "itemCategoryCode": category, "itemCategoryId": category_id(store, category),
            "gtin": format!("00850{:09}", 100000 + index), "unitPrice": price.json(), "unitCost": Decimal4::new(price.cents / 2).json(),
            "baseUnitOfMeasureCode": unit, "baseUnitOfMeasureId": uom_id(unit).to_string(), "inventory": random.random_range(0..500)
        }));
        items.push(id);
    }
    if sizes.orders > 0 {
        seed_orders(store, &mut random, sizes.orders, &open_customers, &items);
    }
}

/// Every `POSTED_ORDER_INTERVAL`th generated order is shipped and invoiced.
const POSTED_ORDER_INTERVAL: usize = 5;

/// Creates `count` sales orders through the same insert logic as a client's
/// deep insert, so totals, line amounts and addresses are the server's own.
/// Orders name only unblocked generated customers and generated items, and
/// fall back to the published example customer and items when there are none.
fn seed_orders(store: &mut Store, random: &mut StdRng, count: usize, customers: &[Uuid], items: &[Uuid]) {
    let example_customers = [id("f2a5738a-44e3-ea11-bb43-000d3a2feca1")];
    let example_items = [id("fca5738a-44e3-ea11-bb43-000d3a2feca1"), id("0ea6738a-44e3-ea11-bb43-000d3a2feca1")];
    let customers = if customers.is_empty() { &example_customers[..] } else { customers };
    let items = if items.is_empty() { &example_items[..] } else { items };
    let first_order_date = jiff::civil::date(2025, 1, 1);

    for index in 0..count {
        let customer = customers[random.random_range(0..customers.len())];
        let line_count = random.random_range(1..=30);
        let lines: Vec<Value> = (0..line_count)
            .map(|_| {
                let item = items[random.random_range(0..items.len())];
                json!({"id": uuid_from(random).to_string(), "lineType": "Item", "itemId": item.to_string(), "quantity": random.random_range(1..=24)})
            })
            .collect();
        let order_date = first_order_date
            .checked_add(jiff::Span::new().days(random.random_range(0..365)))
            .expect("a date in 2025");
        let order_id = uuid_from(random);
        let body = json!({
            "id": order_id.to_string(), "customerId": customer.to_string(), "externalDocumentNumber": format!("PO-{}", 50001 + index),
            "orderDate": order_date.to_string(), "postingDate": order_date.to_string(), "salesOrderLines": lines
        });
        // A failure here is a bug in the generator or the insert logic, not
        // bad input, so it stops the sandbox with the reason.
        if let Err(error) = super::logic::insert(store, "salesOrders", &body, None) {
            panic!("generated sales order {index} was rejected: {error:?}");
        }
        if index % POSTED_ORDER_INTERVAL == POSTED_ORDER_INTERVAL - 1
            && let Err(error) = super::logic::ship_and_invoice(store, order_id)
        {
            panic!("generated sales order {index} could not be shipped and invoiced: {error:?}");
        }
    }
}

fn category_id(store: &Store, code: &str) -> String {
    let table = store.table("itemCategories");
    let column = table.schema().col("code");
    table.first_by(column, &super::cell::Cell::str(code)).map(|row| row.id.to_string()).unwrap_or_default()
}

fn uuid_from(random: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(random.random()).into_uuid()
}

/// A price in cents, written as an exact JSON decimal.
struct Decimal4 {
    cents: i64,
}

impl Decimal4 {
    fn new(cents: i64) -> Self {
        Self { cents }
    }

    fn json(&self) -> Value {
        number_json(&format!("{}.{:02}", self.cents / 100, self.cents % 100))
    }
}
