//! Seed data for the LeafLink sandbox: every published example from
//! LeafLink's OpenAPI document (two orders, two products and the companies,
//! customers and staff they name), then generated customers, products and
//! orders at a chosen scale. The same `SeedConfig` always gives the same data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::model::{
    Address, Company, Customer, DiscountType, LineItem, Order, Product, Stamp, Staff, Status, Store, round2,
};
use crate::SeedConfig;

/// The company the sandbox's API key belongs to; the published example
/// orders name it as their `seller`.
pub const SELLER_COMPANY: u32 = 1;
/// The company that lists the published example products.
const EXAMPLE_PRODUCT_COMPANY: u32 = 3721;
const FIRST_GENERATED_CUSTOMER: u32 = 150_001;
const FIRST_GENERATED_PRODUCT: u32 = 3_001;
/// Generated records are dated in the 180 days before this instant
/// (2025-06-01T00:00:00Z), not before the wall clock, so a seed gives the
/// same data on every run.
const ANCHOR_MICROS: i64 = 1_748_736_000_000_000;
const DAY_MICROS: i64 = 86_400_000_000;
/// Mountain time (-06:00 in summer, -07:00 in winter) as in the published
/// examples, and UTC for some records, so clients meet more than one offset.
const OFFSETS: [i16; 4] = [-360, -420, -360, 0];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn text(value: &str) -> Box<str> {
    value.into()
}

fn published(value: &str) -> Stamp {
    let zoned: jiff::Timestamp = value.parse().expect("published example timestamps are valid");
    let offset = value[value.len() - 6..].split(':').collect::<Vec<_>>();
    let hours: i16 = offset[0].parse().unwrap_or(0);
    let minutes: i16 = offset.get(1).and_then(|minutes| minutes.parse().ok()).unwrap_or(0);
    Stamp::new(zoned.as_microsecond(), hours * 60 + hours.signum() * minutes)
}

/// Builds the store for `config`. Generated orders take only the statuses in
/// `order_statuses`, in the usual proportions among them; an empty list gives
/// the full status mix.
pub fn build(config: &SeedConfig, order_statuses: &[Status]) -> Store {
    let mut store = Store::default();
    let mut rng = StdRng::seed_from_u64(config.random_seed);
    add_companies_and_staff(&mut store);
    add_published_examples(&mut store);
    add_customers(&mut store, &mut rng, config.customers);
    add_products(&mut store, &mut rng, config.products);
    add_orders(&mut store, &mut rng, config.orders, order_statuses);
    store
}

fn add_companies_and_staff(store: &mut Store) {
    store.companies.push(Company {
        id: SELLER_COMPANY,
        name: text("Mile High Wholesale"),
        slug: text("mile-high-wholesale"),
        seller: true,
        buyer: false,
        address: text("1550 Wewatta St"),
        city: text("Denver"),
        state: text("CO"),
        zipcode: text("80202"),
    });
    store.companies.push(Company {
        id: EXAMPLE_PRODUCT_COMPANY,
        name: text("Swiss Masters Confections"),
        slug: text("swiss-masters-confections"),
        seller: true,
        buyer: false,
        address: text("17034 Highway 10"),
        city: text("Moffat"),
        state: text("CO"),
        zipcode: text("81143"),
    });
    // Staff 13 and 5659 are the sales reps of the published orders; james.g
    // and scooter.s are their last editors.
    let staff = [
        (13, "John Doe", "john.d"),
        (5659, "Jane Doe", "jane.d"),
        (20, "James Green", "james.g"),
        (21, "Scooter Smith", "scooter.s"),
        (22, "María José Núñez", "mj.nunez"),
        (23, "Dmitri Volkov", "dmitri.v"),
    ];
    for (index, (id, name, username)) in staff.into_iter().enumerate() {
        store.staff.push(Staff {
            id,
            user: 900 + id,
            company: SELLER_COMPANY,
            display_name: text(name),
            username: text(username),
            email: format!("{username}@milehighwholesale.example").into(),
            is_admin: index == 0,
        });
    }
}

fn add_published_examples(store: &mut Store) {
    let moffat = |street: &str| Address {
        address: text(street),
        unit_number: text("1A"),
        city: text("Moffat"),
        state: text("CO"),
        zipcode: text("81143"),
    };
    let example_customers = [
        (148_515, 6109, "Good Vibrations Dispensary", "Monday - Wednesday Only Please"),
        (26_032, 3109, "New Leaf", ""),
    ];
    for (id, partner, name, delivery_preferences) in example_customers {
        store.push_customer(Customer {
            id,
            owner: SELLER_COMPANY,
            partner: Some(partner),
            name: text(name),
            nickname: None,
            dba: text(name),
            license_number: format!("402R-{:05}", id % 100_000).into(),
            external_id: None,
            ext_acct_id: None,
            email: format!("orders{id}@dispensary.example").into(),
            phone: text("719-555-0100"),
            address: moffat("17034 Highway 17"),
            delivery_preferences: text(delivery_preferences),
            managers: vec![13],
            archived: false,
            delinquent: false,
            created_on: published("2019-03-01T10:00:00.000000-07:00"),
            modified: published("2020-06-01T10:00:00.000000-06:00"),
        });
    }

    let example_products = [
        (2093, "Swiss Masters Chocolate Bar (Dark)", "SWI-BAR-DAR-100", "PROD-001", "800", "120", 18, 108,
         "<p>Our premium Swiss Masters chocolate bars are bold, rich, and steeped in chocolate tradition.  The Swiss Master dark chocolate has 70% dark chocolate paired with 100mg THC.</p>",
         "2020-02-19T00:36:22.353448-06:00", "2020-04-27T07:41:29.797149-06:00", &[("system-name", "1234567890")][..]),
        (2094, "Great Heights Chocolate Bar (Milk)", "GRE-BAR-CHO-100", "PROD-002", "400", "90", 14, 100,
         "<p>Our Great Heights chocolate bars are delicious.  The milk chocolate contains 100mg THC.</p>",
         "2020-02-22T00:36:22.353448-06:00", "2020-04-10T07:41:29.797149-06:00", &[][..]),
    ];
    for (id, name, sku, internal, quantity, reserved, retail, wholesale, description, created, edited, external) in
        example_products
    {
        store.push_product(Product {
            id,
            seller: EXAMPLE_PRODUCT_COMPANY,
            manufacturer: EXAMPLE_PRODUCT_COMPANY,
            brand: 49,
            name: text(name),
            sku: text(sku),
            description: text(description),
            seller_internal_id: text(internal),
            quantity: quantity.parse().unwrap_or_default(),
            reserved_qty: reserved.parse().unwrap_or_default(),
            unit_multiplier: 12,
            retail_price: Decimal::from(retail),
            wholesale_price: Decimal::from(wholesale),
            sale_price: Decimal::ZERO,
            minimum_order: Decimal::ONE,
            maximum_order: None,
            listing_state: "Available",
            inventory_management: 1,
            unit_of_measure: "Unit",
            category: 7,
            sub_category: 14,
            strain_classification: "na",
            external_ids: external.iter().map(|(key, value)| (text(key), text(value))).collect(),
            created_on: published(created),
            last_edit: published(edited),
            modified: published("2020-06-11T15:53:07.137980-06:00"),
        });
    }

    // The published orders come without line items. These lines reproduce
    // their totals exactly under the case-pricing rule: 6 cases of 2093 at
    // 99.00 a case make 594, and 2 cases of 2094 at 105.20 make 210.40.
    let example_orders = [
        ("aec108ac-a1f4-40fa-966e-a12ga9bf6e2f", 148_515, 6109, 20, 13, false, "Net 7", "", "Monday - Wednesday Only Please",
         "2020-06-10T15:15:03.776119-06:00", "2020-06-10T16:14:49.494713-06:00", "17034 Highway 10", "17034 Highway 17",
         &[("system-name", "45897")][..], "420.10", 2093, 72, "99", false),
        ("4165a155-979b-4e6e-b3a5-8ef917ce9491", 26_032, 3109, 21, 5659, true, "COD", "Mary can process on 6/15", "",
         "2020-06-10T13:34:10.663097-06:00", "2020-06-10T16:04:40.312860-06:00", "Some Address 2", "Some Address 1",
         &[][..], "45.01", 2094, 24, "105.20", true),
    ];
    for (number, customer, buyer, user, rep, manual, term, notes, preferences, created, modified, corporate, delivery,
         external, credits, product, units, price, special) in example_orders
    {
        let order = Order {
            number: text(number),
            external_id_seller: None,
            external_id_buyer: None,
            ext_acct_id: None,
            created_on: published(created),
            modified: published(modified),
            user,
            buyer: Some(buyer),
            seller: SELLER_COMPANY,
            customer,
            status: Status::Accepted,
            manual,
            discount: Decimal::ZERO,
            discount_type: DiscountType::Percent,
            tax_amount: Decimal::ZERO,
            shipping_charge: Decimal::ZERO,
            payment_term: Some(text(term)),
            payment_due_date: None,
            paid: false,
            paid_date: None,
            ship_date: None,
            shipping_details: None,
            notes: Some(text(notes)),
            internal_notes: None,
            delivery_preferences: Some(text(preferences)),
            sales_reps: vec![rep],
            classification: text("Adult Use"),
            has_special_requests: special,
            credits: credits.parse().unwrap_or_default(),
            facility_id: Some(123),
            external_ids: external.iter().map(|(key, value)| (text(key), text(value))).collect(),
            addresses: Some(Box::new((moffat(corporate), moffat(delivery)))),
            lines: Vec::new(),
            payments: Vec::new(),
        };
        let price: Decimal = price.parse().unwrap_or_default();
        let line = LineItem {
            order: 0,
            product,
            quantity: Decimal::from(units),
            unit_multiplier: 12,
            ordered_unit_price: price,
            sale_price: price,
            wholesale_price: Some(Decimal::from(if product == 2093 { 108 } else { 100 })),
            notes: None,
            is_sample: false,
            is_packed: false,
            packed_at: None,
            packed_by: None,
            position: Some(1),
            batch: None,
        };
        store.push_order(order, vec![line]);
    }
}

const NAME_HEADS: [&str; 16] = [
    "Green Leaf", "High Country", "Rocky Mountain", "Golden Hour", "Emerald Valley", "Peak", "Sweet Grass",
    "Northern Lights", "Blue Spruce", "Canyon", "Mesa Verde", "Front Range", "Silver Lining", "Wildflower",
    "Riverbend", "Timberline",
];
const NAME_TAILS: [&str; 8] =
    ["Dispensary", "Wellness", "Cannabis Co.", "Apothecary", "Collective", "Remedies", "Provisions", "Health Center"];
/// Names outside ASCII, which clients must carry through unchanged.
const NON_ASCII_NAMES: [&str; 5] =
    ["Café Cannabis Co.", "Ñandú Wellness", "Zürich Green Apothecary", "Crème de la Crème Dispensary", "Ōtaki Remedies"];
const CITIES: [(&str, &str, &str); 6] = [
    ("Denver", "CO", "80205"),
    ("Boulder", "CO", "80302"),
    ("Colorado Springs", "CO", "80903"),
    ("Pueblo", "CO", "81003"),
    ("Fort Collins", "CO", "80524"),
    ("Durango", "CO", "81301"),
];

/// A variant of `name` that a careless person might type for the same
/// shop: the near-duplicates a customer match must not merge blindly.
fn near_duplicate(rng: &mut StdRng, name: &str) -> String {
    match rng.random_range(0..5) {
        0 => format!("{name} LLC"),
        1 => name.to_uppercase(),
        2 => format!("{name} "),
        3 => name.replace(' ', ""),
        _ => name.replacen(' ', "  ", 1),
    }
}

fn add_customers(store: &mut Store, rng: &mut StdRng, count: usize) {
    let first = store.next_customer_id().max(FIRST_GENERATED_CUSTOMER);
    let mut names: Vec<String> = Vec::with_capacity(count);
    for number in 0..count {
        let id = first + number as u32;
        let name = if !names.is_empty() && rng.random_bool(0.1) {
            let original = names[rng.random_range(0..names.len())].clone();
            near_duplicate(rng, &original)
        } else if rng.random_bool(0.05) {
            pick(rng, &NON_ASCII_NAMES).to_string()
        } else {
            format!("{} {}", pick(rng, &NAME_HEADS), pick(rng, &NAME_TAILS))
        };
        names.push(name.clone());
        let (city, state, zipcode) = *pick(rng, &CITIES);
        let offset = *pick(rng, &OFFSETS);
        let created = ANCHOR_MICROS - rng.random_range(200..900) * DAY_MICROS + rng.random_range(0..DAY_MICROS);
        let modified = created + rng.random_range(0..30) * DAY_MICROS;
        store.push_customer(Customer {
            id,
            owner: SELLER_COMPANY,
            partner: rng.random_bool(0.8).then(|| 10_000 + id),
            nickname: rng.random_bool(0.2).then(|| format!("{} #{}", name.trim(), rng.random_range(1..5)).into()),
            dba: name.clone().into(),
            name: name.into(),
            license_number: format!("402R-{:05}", id % 100_000).into(),
            external_id: rng.random_bool(0.3).then(|| format!("CUST-{id}").into()),
            ext_acct_id: None,
            email: format!("buyer{id}@shop.example").into(),
            phone: format!("303-555-{:04}", id % 10_000).into(),
            address: Address {
                address: format!("{} Colfax Ave", rng.random_range(100..9999)).into(),
                unit_number: text(""),
                city: text(city),
                state: text(state),
                zipcode: text(zipcode),
            },
            delivery_preferences: text(if rng.random_bool(0.3) { "Deliver Tuesday–Thursday, 9–12 (back door)" } else { "" }),
            managers: vec![*pick(rng, &[13, 5659, 22, 23])],
            archived: rng.random_bool(0.07),
            delinquent: rng.random_bool(0.03),
            created_on: Stamp::new(created, offset),
            modified: Stamp::new(modified.min(ANCHOR_MICROS), offset),
        });
    }
}

const BRANDS: [&str; 8] =
    ["Summit Farms", "Lazy Daze", "Alpine Extracts", "Mountain Mist", "Sol Edibles", "Bonanza", "Kind Roots", "Élan"];
const STRAINS: [&str; 10] = [
    "Blue Dream", "Sour Diesel", "OG Kush", "Girl Scout Cookies", "Pineapple Express", "Durban Poison",
    "Granddaddy Purple", "Jack Herer", "Wedding Cake", "Gelato #33",
];
/// Form, category id, unit of measure and typical unit price in cents.
const FORMS: [(&str, u32, &str, i64); 6] = [
    ("Flower 3.5g", 4, "Gram", 1800),
    ("Pre-Roll 1g", 6, "Unit", 650),
    ("Vape Cartridge 0.5g", 1, "Unit", 2200),
    ("Gummies 100mg", 5, "Unit", 1200),
    ("Live Resin 1g", 3, "Gram", 3000),
    ("Body Balm 500mg", 2, "Unit", 2600),
];
const UNIT_MULTIPLIERS: [u32; 8] = [1, 1, 1, 1, 6, 10, 12, 24];

fn add_products(store: &mut Store, rng: &mut StdRng, count: usize) {
    let first = store.next_product_id().max(FIRST_GENERATED_PRODUCT);
    for number in 0..count {
        let id = first + number as u32;
        let brand = pick(rng, &BRANDS);
        let strain = pick(rng, &STRAINS);
        let (form, category, unit, base_cents) = *pick(rng, &FORMS);
        let mut name = format!("{brand} {strain} {form}");
        let mut sku = format!(
            "{}-{}-{}-{id}",
            brand.chars().filter(char::is_ascii_alphabetic).take(3).collect::<String>().to_uppercase(),
            strain.chars().filter(char::is_ascii_alphabetic).take(3).collect::<String>().to_uppercase(),
            form.chars().filter(char::is_ascii_alphanumeric).take(4).collect::<String>().to_uppercase(),
        );
        if rng.random_bool(0.05) {
            // Long names and SKUs, near what LeafLink allows (SKU at most 255).
            name.push_str(" – Limited Reserve Small-Batch Hand-Trimmed Indoor Harvest, Terpene-Rich Cultivar Selection, Lab-Tested for Potency and Purity");
            sku.push_str("-LIMITED-RESERVE-SMALL-BATCH-INDOOR-HARVEST-2025-LOT-A");
        }
        let multiplier = *pick(rng, &UNIT_MULTIPLIERS);
        let unit_cents = base_cents + rng.random_range(-300..300);
        let unit_price = Decimal::new(unit_cents, 2);
        let offset = *pick(rng, &OFFSETS);
        let created = ANCHOR_MICROS - rng.random_range(190..700) * DAY_MICROS + rng.random_range(0..DAY_MICROS);
        let modified = Stamp::new(created + rng.random_range(0..9) * DAY_MICROS, offset);
        store.push_product(Product {
            id,
            seller: SELLER_COMPANY,
            manufacturer: SELLER_COMPANY,
            brand: 100 + BRANDS.iter().position(|known| known == brand).unwrap_or(0) as u32,
            name: name.into(),
            sku: sku.into(),
            description: format!("<p>{strain} from {brand}.</p>").into(),
            seller_internal_id: format!("INT-{id}").into(),
            quantity: Decimal::from(rng.random_range(0..400) * multiplier),
            reserved_qty: Decimal::ZERO,
            unit_multiplier: multiplier,
            retail_price: round2(unit_price * Decimal::TWO),
            // With a multiplier above 1 the wholesale price is a case price.
            wholesale_price: unit_price * Decimal::from(multiplier),
            sale_price: Decimal::ZERO,
            minimum_order: Decimal::from(multiplier),
            maximum_order: None,
            listing_state: if rng.random_bool(0.05) { "Archived" } else { "Available" },
            inventory_management: 1,
            unit_of_measure: unit,
            category,
            sub_category: category * 10,
            strain_classification: *pick(rng, &["sativa", "indica", "hybrid", "na"]),
            external_ids: Vec::new(),
            created_on: Stamp::new(created, offset),
            last_edit: modified,
            modified,
        });
    }
}

/// Order notes, mostly outside ASCII.
const ORDER_NOTES: [&str; 6] = [
    "Entregar por la puerta trasera — gracias",
    "請在週三前送達",
    "Bitte vor 10 Uhr liefern 🚚",
    "Call ahead: ask for Zoë at receiving",
    "Invoice to “Accounts Payable”, not the store",
    "Please include sample",
];

/// Status mix of generated orders, in percent.
const STATUS_WEIGHTS: [(Status, u32); 9] = [
    (Status::Draft, 3),
    (Status::Submitted, 30),
    (Status::Accepted, 25),
    (Status::Backorder, 1),
    (Status::Fulfilled, 10),
    (Status::Shipped, 10),
    (Status::Complete, 15),
    (Status::Rejected, 3),
    (Status::Cancelled, 3),
];

/// Picks a status from `allowed` (every status when empty) with the weights
/// of `STATUS_WEIGHTS`. Allowed statuses that have no weight there are picked
/// evenly when no allowed status has a weight.
fn pick_status(rng: &mut StdRng, allowed: &[Status]) -> Status {
    let is_allowed = |status: &Status| allowed.is_empty() || allowed.contains(status);
    let total: u32 = STATUS_WEIGHTS.iter().filter(|(status, _)| is_allowed(status)).map(|(_, weight)| weight).sum();
    if total == 0 {
        return allowed.first().map_or(Status::Submitted, |_| *pick(rng, allowed));
    }
    let mut roll = rng.random_range(0..total);
    for (status, weight) in STATUS_WEIGHTS.into_iter().filter(|(status, _)| is_allowed(status)) {
        if roll < weight {
            return status;
        }
        roll -= weight;
    }
    Status::Submitted
}

/// 1 to 30 lines, about 8.6 on average.
fn pick_line_count(rng: &mut StdRng) -> usize {
    match rng.random_range(0..100) {
        0..70 => rng.random_range(1..=10),
        70..95 => rng.random_range(8..=20),
        _ => rng.random_range(20..=30),
    }
}

fn add_orders(store: &mut Store, rng: &mut StdRng, count: usize, statuses: &[Status]) {
    let customers: Vec<u32> = store.customers.iter().filter(|customer| customer.owner == SELLER_COMPANY).map(|c| c.id).collect();
    let products: Vec<usize> = store
        .products
        .iter()
        .enumerate()
        .filter(|(_, product)| product.seller == SELLER_COMPANY && product.listing_state != "Archived")
        .map(|(index, _)| index)
        .collect();
    if customers.is_empty() || products.is_empty() {
        return;
    }
    let mut reserved = vec![Decimal::ZERO; store.products.len()];
    for sequence in 0..count {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        let number = uuid::Builder::from_random_bytes(bytes).into_uuid().to_string();
        let customer_id = *pick(rng, &customers);
        let customer = store.customer(customer_id).expect("customer ids come from the store");
        let (partner, preferences) = (customer.partner, customer.delivery_preferences.clone());
        let status = pick_status(rng, statuses);
        let offset = *pick(rng, &OFFSETS);
        let created = ANCHOR_MICROS - rng.random_range(1..180) * DAY_MICROS + rng.random_range(0..DAY_MICROS);
        let modified = (created + rng.random_range(0..7 * DAY_MICROS)).min(ANCHOR_MICROS - 1);

        let line_count = pick_line_count(rng).min(products.len());
        let mut chosen: Vec<usize> = Vec::with_capacity(line_count);
        while chosen.len() < line_count {
            let product = *pick(rng, &products);
            if !chosen.contains(&product) {
                chosen.push(product);
            }
        }
        let mut lines = Vec::with_capacity(line_count);
        for (position, &product_index) in chosen.iter().enumerate() {
            let product = &store.products[product_index];
            let multiplier = product.unit_multiplier;
            let cases = if multiplier > 1 { rng.random_range(1..=20) } else { rng.random_range(1..=100) };
            let quantity = Decimal::from(cases * multiplier);
            let is_sample = rng.random_bool(0.03);
            let price = if is_sample {
                Decimal::ZERO
            } else if rng.random_bool(0.15) {
                // A negotiated price, 5 to 15 percent off, in cents.
                round2(product.wholesale_price * Decimal::new(100 - rng.random_range(5..=15), 2))
            } else {
                product.wholesale_price
            };
            if matches!(status, Status::Submitted | Status::Accepted) {
                reserved[product_index] += quantity;
            }
            lines.push(LineItem {
                order: 0,
                product: product.id,
                quantity,
                unit_multiplier: multiplier,
                ordered_unit_price: price,
                sale_price: product.sale_price,
                wholesale_price: Some(product.wholesale_price),
                notes: is_sample.then(|| text("Sample – not for resale")),
                is_sample,
                is_packed: matches!(status, Status::Fulfilled | Status::Shipped | Status::Complete),
                packed_at: None,
                packed_by: None,
                position: Some(position as u32 + 1),
                batch: None,
            });
        }

        let paid = status == Status::Complete && rng.random_bool(0.7);
        let paid_date = paid.then(|| {
            jiff::Timestamp::from_microsecond(modified).map(|instant| instant.to_zoned(jiff::tz::TimeZone::UTC).date()).ok()
        });
        let order = Order {
            number: number.into(),
            external_id_seller: rng.random_bool(0.1).then(|| format!("INV-{}", 10_000 + sequence).into()),
            external_id_buyer: None,
            ext_acct_id: None,
            created_on: Stamp::new(created, offset),
            modified: Stamp::new(modified, offset),
            user: *pick(rng, &[20, 21, 22, 23]),
            buyer: partner,
            seller: SELLER_COMPANY,
            customer: customer_id,
            status,
            manual: rng.random_bool(0.2),
            discount: if rng.random_bool(0.1) { Decimal::from(5) } else { Decimal::ZERO },
            discount_type: DiscountType::Percent,
            tax_amount: Decimal::ZERO,
            shipping_charge: if rng.random_bool(0.15) { Decimal::new(2500, 2) } else { Decimal::ZERO },
            payment_term: Some(text(*pick(rng, &["Net 7", "Net 15", "Net 30", "COD"]))),
            payment_due_date: None,
            paid,
            paid_date: paid_date.flatten(),
            ship_date: matches!(status, Status::Shipped | Status::Complete).then_some(Stamp::new(modified, offset)),
            shipping_details: None,
            notes: rng.random_bool(0.3).then(|| text(*pick(rng, &ORDER_NOTES))),
            internal_notes: None,
            delivery_preferences: (!preferences.is_empty()).then_some(preferences),
            sales_reps: vec![*pick(rng, &[13, 5659, 22, 23])],
            classification: text("Adult Use"),
            has_special_requests: false,
            credits: Decimal::ZERO,
            facility_id: None,
            external_ids: Vec::new(),
            addresses: None,
            lines: Vec::new(),
            payments: Vec::new(),
        };
        store.push_order(order, lines);
    }
    // Stock on hand covers what open orders hold, as the state rules keep it.
    for (index, held) in reserved.into_iter().enumerate() {
        if held > Decimal::ZERO {
            let product = &mut store.products[index];
            product.reserved_qty += held;
            product.quantity += held;
        }
    }
}
