//! The LeafLink sandbox's records and the rules that change them: order
//! states and their effect on product inventory, line amounts and order totals,
//! and the `modified` clock. Records are compact structs held in vectors, with
//! hash indexes by key and natural key, so 100,000 orders stay small and a
//! lookup never scans.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

/// Line item ids are this base plus the line's index in `Store::lines`, so a
/// lookup by id needs no map.
pub const LINE_ID_BASE: u64 = 5_000_001;

/// A point in time with the UTC offset it is shown in. LeafLink shows
/// date-times with microseconds and an offset such as `-06:00`, not always `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub micros: i64,
    pub offset_minutes: i16,
}

impl Stamp {
    pub fn new(micros: i64, offset_minutes: i16) -> Self {
        Self { micros, offset_minutes }
    }
}

/// Order status. Responses show it Capitalised, filters take it lowercase and
/// `available_transitions` lists the lowercase names (reference notes, section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    Submitted,
    Accepted,
    Backorder,
    Fulfilled,
    Shipped,
    Complete,
    Rejected,
    Combined,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Draft,
        Status::Submitted,
        Status::Accepted,
        Status::Backorder,
        Status::Fulfilled,
        Status::Shipped,
        Status::Complete,
        Status::Rejected,
        Status::Combined,
        Status::Cancelled,
    ];

    /// The Capitalised name used in responses and in an order POST.
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "Draft",
            Status::Submitted => "Submitted",
            Status::Accepted => "Accepted",
            Status::Backorder => "Backorder",
            Status::Fulfilled => "Fulfilled",
            Status::Shipped => "Shipped",
            Status::Complete => "Complete",
            Status::Rejected => "Rejected",
            Status::Combined => "Combined",
            Status::Cancelled => "Cancelled",
        }
    }

    /// The lowercase name used by the `status` filter and `available_transitions`.
    pub fn filter_name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Accepted => "accepted",
            Status::Backorder => "backorder",
            Status::Fulfilled => "fulfilled",
            Status::Shipped => "shipped",
            Status::Complete => "complete",
            Status::Rejected => "rejected",
            Status::Combined => "combined",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses a status in any letter case.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.filter_name().eq_ignore_ascii_case(text.trim()))
    }

    /// The states this one can move to, as `available_transitions` lists them.
    pub fn available_transitions(self) -> Vec<&'static str> {
        Action::ALL
            .into_iter()
            .filter(|action| action.allowed_from(self))
            .map(|action| action.target().filter_name())
            .collect()
    }

    /// Orders in these states hold their quantities in the product's
    /// `reserved_qty` (reference notes, section 3.2, inventory side-effects).
    fn reserves_inventory(self) -> bool {
        matches!(self, Status::Submitted | Status::Accepted)
    }

    /// Orders in these states have taken their quantities out of the
    /// product's `quantity`: fulfilling removes it, rejecting a Fulfilled or
    /// Shipped order puts it back.
    fn has_left_inventory(self) -> bool {
        matches!(self, Status::Fulfilled | Status::Shipped | Status::Complete)
    }
}

/// A transition verb from `POST /orders-received/{number}/transition/{action}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Submit,
    Accept,
    Fulfill,
    Ship,
    Complete,
    Reject,
    Cancel,
}

impl Action {
    pub const ALL: [Action; 7] =
        [Action::Submit, Action::Accept, Action::Fulfill, Action::Ship, Action::Complete, Action::Reject, Action::Cancel];

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.verb() == text)
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Accept => "accept",
            Action::Fulfill => "fulfill",
            Action::Ship => "ship",
            Action::Complete => "complete",
            Action::Reject => "reject",
            Action::Cancel => "cancel",
        }
    }

    /// The verb-to-state mapping is marked [INFERRED] in the reference notes,
    /// section 3.2; it is the only one the names allow.
    pub fn target(self) -> Status {
        match self {
            Action::Submit => Status::Submitted,
            Action::Accept => Status::Accepted,
            Action::Fulfill => Status::Fulfilled,
            Action::Ship => Status::Shipped,
            Action::Complete => Status::Complete,
            Action::Reject => Status::Rejected,
            Action::Cancel => Status::Cancelled,
        }
    }

    /// Which states each verb applies to. The notes (section 3.2) give the
    /// rules in prose: buyers submit and cancel, sellers accept, reject,
    /// fulfill, ship and complete, and an Accepted order offers only
    /// `["fulfilled", "rejected"]` in the published example, so a buyer cannot
    /// cancel once the seller accepted. Backorder and Combined have no
    /// documented verb into them; a Backorder order may still be accepted,
    /// fulfilled or rejected (most plausible reading).
    pub fn allowed_from(self, from: Status) -> bool {
        use Status::*;
        match self {
            Action::Submit => from == Draft,
            Action::Accept => matches!(from, Submitted | Backorder),
            Action::Fulfill => matches!(from, Accepted | Backorder),
            Action::Ship => from == Fulfilled,
            Action::Complete => matches!(from, Fulfilled | Shipped),
            Action::Reject => matches!(from, Submitted | Accepted | Backorder | Fulfilled | Shipped),
            Action::Cancel => matches!(from, Draft | Submitted),
        }
    }
}

/// A product's `listing_state`; archiving a product sets `Archived`, because
/// products have no `archived` boolean (reference notes, section 3.6).
pub const LISTING_STATES: [&str; 6] = ["Available", "Archived", "Sample", "Backorder", "Internal", "Unavailable"];
pub const UNITS_OF_MEASURE: [&str; 8] = ["Milligram", "Gram", "Kilogram", "Ounce", "Pound", "Unit", "Liter", "Milliliter"];
pub const STRAIN_CLASSIFICATIONS: [&str; 8] =
    ["sativa", "indica", "hybrid", "na", "11-cbd", "high-cbd", "sativa-hybrid", "indica-hybrid"];
pub const PAYMENT_TYPES: [&str; 8] = ["other", "cash", "check", "credit", "trade", "ach", "wire", "cashier"];

#[derive(Debug, Clone)]
pub struct Company {
    pub id: u32,
    pub name: Box<str>,
    pub slug: Box<str>,
    pub seller: bool,
    pub buyer: bool,
    pub address: Box<str>,
    pub city: Box<str>,
    pub state: Box<str>,
    pub zipcode: Box<str>,
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub id: u32,
    pub user: u32,
    pub company: u32,
    pub display_name: Box<str>,
    pub username: Box<str>,
    pub email: Box<str>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Address {
    pub address: Box<str>,
    pub unit_number: Box<str>,
    pub city: Box<str>,
    pub state: Box<str>,
    pub zipcode: Box<str>,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: u32,
    pub owner: u32,
    pub partner: Option<u32>,
    pub name: Box<str>,
    pub nickname: Option<Box<str>>,
    pub dba: Box<str>,
    pub license_number: Box<str>,
    pub external_id: Option<Box<str>>,
    pub ext_acct_id: Option<Box<str>>,
    pub email: Box<str>,
    pub phone: Box<str>,
    pub address: Address,
    pub delivery_preferences: Box<str>,
    pub managers: Vec<u32>,
    pub archived: bool,
    pub delinquent: bool,
    pub created_on: Stamp,
    pub modified: Stamp,
}

impl Customer {
    /// The nickname if one is set, else the name, as the order's
    /// `customer.display_name` shows it.
    pub fn display_name(&self) -> &str {
        match &self.nickname {
            Some(nickname) if !nickname.is_empty() => nickname,
            _ => &self.name,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: u32,
    pub seller: u32,
    pub manufacturer: u32,
    pub brand: u32,
    pub name: Box<str>,
    pub sku: Box<str>,
    pub description: Box<str>,
    pub seller_internal_id: Box<str>,
    /// Inventory level in individual units.
    pub quantity: Decimal,
    /// Units held by Submitted and Accepted orders.
    pub reserved_qty: Decimal,
    pub unit_multiplier: u32,
    pub retail_price: Decimal,
    /// For `unit_multiplier` > 1, the price of one case (reference notes, section 3.4).
    pub wholesale_price: Decimal,
    pub sale_price: Decimal,
    pub minimum_order: Decimal,
    pub maximum_order: Option<Decimal>,
    pub listing_state: &'static str,
    /// 1 Managed, 2 Unlimited, 3 Inherited.
    pub inventory_management: u8,
    pub unit_of_measure: &'static str,
    pub category: u32,
    pub sub_category: u32,
    pub strain_classification: &'static str,
    pub external_ids: Vec<(Box<str>, Box<str>)>,
    pub created_on: Stamp,
    pub last_edit: Stamp,
    pub modified: Stamp,
}

impl Product {
    pub fn available_inventory(&self) -> Decimal {
        self.quantity - self.reserved_qty
    }
}

#[derive(Debug, Clone)]
pub struct LineItem {
    /// Index of the order in `Store::orders`.
    pub order: u32,
    pub product: u32,
    /// Individual units.
    pub quantity: Decimal,
    pub unit_multiplier: u32,
    pub ordered_unit_price: Decimal,
    pub sale_price: Decimal,
    pub wholesale_price: Option<Decimal>,
    pub notes: Option<Box<str>>,
    pub is_sample: bool,
    pub is_packed: bool,
    pub packed_at: Option<Stamp>,
    pub packed_by: Option<u32>,
    pub position: Option<u32>,
    pub batch: Option<u32>,
}

impl LineItem {
    /// `round2(ordered_unit_price × quantity / unit_multiplier)`, half away
    /// from zero: with a multiplier above 1 the price is a case price, so the
    /// line is priced per case (reference notes, section 3.4).
    pub fn amount(&self) -> Decimal {
        round2(self.ordered_unit_price * self.quantity / Decimal::from(self.unit_multiplier.max(1)))
    }

    /// Whole cases: `quantity / unit_multiplier`, truncated.
    pub fn bulk_units(&self) -> i64 {
        let cases = (self.quantity / Decimal::from(self.unit_multiplier.max(1))).trunc();
        i64::try_from(cases).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountType {
    Percent,
    Amount,
}

impl DiscountType {
    pub fn symbol(self) -> &'static str {
        match self {
            DiscountType::Percent => "%",
            DiscountType::Amount => "$",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub number: Box<str>,
    pub external_id_seller: Option<Box<str>>,
    pub external_id_buyer: Option<Box<str>>,
    pub ext_acct_id: Option<Box<str>>,
    pub created_on: Stamp,
    pub modified: Stamp,
    /// Company-staff id of the last editor.
    pub user: u32,
    pub buyer: Option<u32>,
    pub seller: u32,
    pub customer: u32,
    pub status: Status,
    pub manual: bool,
    pub discount: Decimal,
    pub discount_type: DiscountType,
    /// A percentage; `tax_type` is always `%`.
    pub tax_amount: Decimal,
    pub shipping_charge: Decimal,
    pub payment_term: Option<Box<str>>,
    pub payment_due_date: Option<Stamp>,
    pub paid: bool,
    pub paid_date: Option<jiff::civil::Date>,
    pub ship_date: Option<Stamp>,
    pub shipping_details: Option<Box<str>>,
    pub notes: Option<Box<str>>,
    pub internal_notes: Option<Box<str>>,
    pub delivery_preferences: Option<Box<str>>,
    pub sales_reps: Vec<u32>,
    pub classification: Box<str>,
    pub has_special_requests: bool,
    pub credits: Decimal,
    pub facility_id: Option<u32>,
    pub external_ids: Vec<(Box<str>, Box<str>)>,
    /// Captured at creation; `None` shows the customer's address.
    pub addresses: Option<Box<(Address, Address)>>,
    /// Indexes into `Store::lines`.
    pub lines: Vec<u32>,
    /// Indexes into `Store::payments`.
    pub payments: Vec<u32>,
}

impl Order {
    /// The last 8 characters of `number`, as in every published example.
    pub fn short_id(&self) -> &str {
        let start = self.number.len().saturating_sub(8);
        &self.number[start..]
    }
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub order: u32,
    pub recorded_by: u32,
    pub total: Decimal,
    pub currency: Box<str>,
    pub payment_date: Stamp,
    pub reason: Option<Box<str>>,
    pub payment_type: &'static str,
    pub created_on: Stamp,
    pub modified: Stamp,
}

/// An order's money, computed from its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub paid: Decimal,
}

impl Totals {
    pub fn balance(&self) -> Decimal {
        self.total - self.paid
    }
}

/// Field errors in Django REST framework's shape: each field maps to a list
/// of messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    pub fn into_result(self) -> Result<(), LeafLinkError> {
        if self.is_empty() { Ok(()) } else { Err(LeafLinkError::Invalid(self)) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    formatter.write_str("; ")?;
                }
                first = false;
                write!(formatter, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

/// Why a sandbox operation failed; the HTTP layer turns each into the status
/// and body LeafLink sends.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LeafLinkError {
    #[error("{kind} {key} not found")]
    NotFound { kind: &'static str, key: String },
    #[error("order {number}: cannot {action} an order in status {from}")]
    InvalidTransition { number: String, action: &'static str, from: &'static str },
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
}

pub fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Every record the LeafLink sandbox serves.
#[derive(Debug, Default)]
pub struct Store {
    pub companies: Vec<Company>,
    pub staff: Vec<Staff>,
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    pub orders: Vec<Order>,
    pub lines: Vec<LineItem>,
    pub payments: Vec<Payment>,
    customer_index: HashMap<u32, u32>,
    product_index: HashMap<u32, u32>,
    sku_index: HashMap<Box<str>, Vec<u32>>,
    order_index: HashMap<Box<str>, u32>,
    external_id_index: HashMap<Box<str>, Vec<u32>>,
    next_customer_id: u32,
    next_product_id: u32,
    /// The last `modified` handed out, so writes get strictly increasing times.
    last_micros: i64,
}

impl Store {
    /// The current time, strictly after every time handed out before, so two
    /// writes never share a `modified` and an incremental poll never misses one.
    pub fn now(&mut self, offset_minutes: i16) -> Stamp {
        let wall = jiff::Timestamp::now().as_microsecond();
        self.last_micros = wall.max(self.last_micros + 1);
        Stamp::new(self.last_micros, offset_minutes)
    }

    pub fn push_customer(&mut self, customer: Customer) -> u32 {
        let index = self.customers.len() as u32;
        self.next_customer_id = self.next_customer_id.max(customer.id + 1);
        self.customer_index.insert(customer.id, index);
        self.customers.push(customer);
        index
    }

    pub fn push_product(&mut self, product: Product) -> u32 {
        let index = self.products.len() as u32;
        self.next_product_id = self.next_product_id.max(product.id + 1);
        self.product_index.insert(product.id, index);
        self.sku_index.entry(product.sku.clone()).or_default().push(index);
        self.products.push(product);
        index
    }

    /// Adds an order and its lines exactly as given: no inventory effect, no
    /// clock. Seeding uses it; `create_order` is the path with the state rules.
    pub fn push_order(&mut self, mut order: Order, lines: Vec<LineItem>) -> u32 {
        let index = self.orders.len() as u32;
        order.lines = Vec::with_capacity(lines.len());
        for mut line in lines {
            line.order = index;
            order.lines.push(self.lines.len() as u32);
            self.lines.push(line);
        }
        self.order_index.insert(order.number.clone(), index);
        if let Some(external) = &order.external_id_seller {
            self.external_id_index.entry(external.clone()).or_default().push(index);
        }
        self.orders.push(order);
        index
    }

    pub fn next_customer_id(&self) -> u32 {
        self.next_customer_id
    }

    pub fn next_product_id(&self) -> u32 {
        self.next_product_id
    }

    pub fn customer_index(&self, id: u32) -> Option<usize> {
        self.customer_index.get(&id).map(|&index| index as usize)
    }

    pub fn customer(&self, id: u32) -> Option<&Customer> {
        self.customer_index(id).map(|index| &self.customers[index])
    }

    pub fn product_index(&self, id: u32) -> Option<usize> {
        self.product_index.get(&id).map(|&index| index as usize)
    }

    pub fn product(&self, id: u32) -> Option<&Product> {
        self.product_index(id).map(|index| &self.products[index])
    }

    pub fn products_by_sku(&self, sku: &str) -> &[u32] {
        self.sku_index.get(sku).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn order_index(&self, number: &str) -> Option<usize> {
        self.order_index.get(number).map(|&index| index as usize)
    }

    pub fn orders_by_external_id(&self, external_id: &str) -> &[u32] {
        self.external_id_index.get(external_id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn line_index(&self, id: u64) -> Option<usize> {
        let index = id.checked_sub(LINE_ID_BASE)?;
        let index = usize::try_from(index).ok()?;
        (index < self.lines.len()).then_some(index)
    }

    pub fn line_id(index: usize) -> u64 {
        LINE_ID_BASE + index as u64
    }

    pub fn staff(&self, id: u32) -> Option<&Staff> {
        self.staff.iter().find(|staff| staff.id == id)
    }

    pub fn company(&self, id: u32) -> Option<&Company> {
        self.companies.iter().find(|company| company.id == id)
    }

    pub fn totals(&self, order: &Order) -> Totals {
        let subtotal: Decimal = order.lines.iter().map(|&line| self.lines[line as usize].amount()).sum();
        // NOTE: LeafLink does not document how `discount`, `tax_amount` and
        // `shipping_charge` combine. This assumes the discount comes off the
        // subtotal, the tax percentage applies after it, and shipping is added
        // last. Every published example has all three at zero.
        let discount = match order.discount_type {
            DiscountType::Percent => round2(subtotal * order.discount / Decimal::ONE_HUNDRED),
            DiscountType::Amount => order.discount,
        };
        let tax = round2((subtotal - discount) * order.tax_amount / Decimal::ONE_HUNDRED);
        let total = subtotal - discount + tax + order.shipping_charge;
        let paid = order.payments.iter().map(|&payment| self.payments[payment as usize].total).sum();
        Totals { subtotal, discount, tax, total, paid }
    }

    /// Moves one order's line quantities between the product's `quantity`
    /// and `reserved_qty` as its status goes from `from` to `to`, or as one
    /// line changes by `delta` units while the status stays.
    fn apply_inventory(&mut self, product: u32, delta: Decimal, from: Status, to: Status) {
        let Some(index) = self.product_index(product) else { return };
        let product = &mut self.products[index];
        match (from.reserves_inventory(), to.reserves_inventory()) {
            (false, true) => product.reserved_qty += delta,
            (true, false) => product.reserved_qty -= delta,
            _ => {}
        }
        match (from.has_left_inventory(), to.has_left_inventory()) {
            (false, true) => product.quantity -= delta,
            (true, false) => product.quantity += delta,
            _ => {}
        }
    }

    /// Applies a transition verb with its effect on each product's inventory.
    pub fn transition(&mut self, order_index: usize, action: Action, editor: u32) -> Result<(), LeafLinkError> {
        let from = self.orders[order_index].status;
        if !action.allowed_from(from) {
            return Err(LeafLinkError::InvalidTransition {
                number: self.orders[order_index].number.to_string(),
                action: action.verb(),
                from: from.name(),
            });
        }
        let to = action.target();
        let lines = self.orders[order_index].lines.clone();
        for line in lines {
            let line = &self.lines[line as usize];
            let (product, quantity) = (line.product, line.quantity);
            self.apply_inventory(product, quantity, from, to);
        }
        let offset = self.orders[order_index].modified.offset_minutes;
        let now = self.now(offset);
        let order = &mut self.orders[order_index];
        order.status = to;
        order.user = editor;
        order.modified = now;
        if action == Action::Ship && order.ship_date.is_none() {
            order.ship_date = Some(now);
        }
        Ok(())
    }

    /// Changes one line's quantity, keeping the product's inventory in step
    /// with the order's status.
    pub fn set_line_quantity(&mut self, line_index: usize, quantity: Decimal) {
        let line = &self.lines[line_index];
        let status = self.orders[line.order as usize].status;
        let (product, delta) = (line.product, quantity - line.quantity);
        // Treating the delta as a move from Draft (which reserves nothing) to
        // the order's state counts it exactly as a transition counts a line.
        self.apply_inventory(product, delta, Status::Draft, status);
        self.lines[line_index].quantity = quantity;
    }

    /// Bumps an order's `modified`, as every write to it or its lines does.
    pub fn touch_order(&mut self, order_index: usize, editor: Option<u32>) {
        let offset = self.orders[order_index].modified.offset_minutes;
        let now = self.now(offset);
        let order = &mut self.orders[order_index];
        order.modified = now;
        if let Some(editor) = editor {
            order.user = editor;
        }
    }

    pub fn touch_product(&mut self, product_index: usize) {
        let offset = self.products[product_index].modified.offset_minutes;
        let now = self.now(offset);
        let product = &mut self.products[product_index];
        product.modified = now;
        product.last_edit = now;
    }

    /// Adds a new order with its lines and applies the inventory effect of
    /// its starting status.
    pub fn create_order(&mut self, mut order: Order, lines: Vec<LineItem>) -> usize {
        let status = order.status;
        let now = self.now(order.modified.offset_minutes);
        order.created_on = now;
        order.modified = now;
        for line in &lines {
            self.apply_inventory(line.product, line.quantity, Status::Draft, status);
        }
        self.push_order(order, lines) as usize
    }

    pub fn add_payment(&mut self, payment: Payment) -> usize {
        let index = self.payments.len();
        let order = payment.order as usize;
        self.payments.push(payment);
        self.orders[order].payments.push(index as u32);
        index
    }

    /// Re-points the SKU index after a product's SKU changed.
    pub fn reindex_sku(&mut self, product_index: usize, old_sku: &str) {
        if let Some(list) = self.sku_index.get_mut(old_sku) {
            list.retain(|&index| index as usize != product_index);
            if list.is_empty() {
                self.sku_index.remove(old_sku);
            }
        }
        let sku = self.products[product_index].sku.clone();
        self.sku_index.entry(sku).or_default().push(product_index as u32);
    }

    /// Re-points the `external_id_seller` index after it changed.
    pub fn reindex_external_id(&mut self, order_index: usize, old: Option<&str>) {
        if let Some(old) = old
            && let Some(list) = self.external_id_index.get_mut(old)
        {
            list.retain(|&index| index as usize != order_index);
            if list.is_empty() {
                self.external_id_index.remove(old);
            }
        }
        if let Some(new) = self.orders[order_index].external_id_seller.clone() {
            self.external_id_index.entry(new).or_default().push(order_index as u32);
        }
    }
}

/// A new order as a buyer places it, through `POST /orders-received/` or in
/// process.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub customer: u32,
    /// `Draft` or `Submitted`, the only states an order may start in.
    pub status: Status,
    pub lines: Vec<NewLine>,
    pub external_id_seller: Option<String>,
    pub notes: Option<String>,
    pub delivery_preferences: Option<String>,
    pub shipping_charge: Decimal,
    pub discount: Decimal,
    pub discount_type: DiscountType,
    pub tax_amount: Decimal,
    pub sales_reps: Vec<u32>,
}

impl NewOrder {
    pub fn new(customer: u32, lines: Vec<NewLine>) -> Self {
        Self {
            customer,
            status: Status::Submitted,
            lines,
            external_id_seller: None,
            notes: None,
            delivery_preferences: None,
            shipping_charge: Decimal::ZERO,
            discount: Decimal::ZERO,
            discount_type: DiscountType::Percent,
            tax_amount: Decimal::ZERO,
            sales_reps: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewLine {
    pub product: u32,
    /// Individual units.
    pub quantity: Decimal,
    /// Defaults to the product's wholesale price.
    pub ordered_unit_price: Option<Decimal>,
    pub sale_price: Option<Decimal>,
    pub notes: Option<String>,
    pub is_sample: bool,
}

impl NewLine {
    pub fn new(product: u32, quantity: Decimal) -> Self {
        Self { product, quantity, ordered_unit_price: None, sale_price: None, notes: None, is_sample: false }
    }
}

impl Store {
    /// Validates and adds a new order for `seller`, with the inventory effect
    /// of its starting status. Returns the order's index.
    pub fn place_order(&mut self, seller: u32, editor: u32, new: NewOrder, number: String) -> Result<usize, LeafLinkError> {
        let mut errors = FieldErrors::default();
        let customer = self.customer(new.customer);
        if customer.is_none() {
            errors.add("customer", format!("Invalid pk \"{}\" - object does not exist.", new.customer));
        }
        if !matches!(new.status, Status::Draft | Status::Submitted) {
            errors.add("status", format!("\"{}\" is not a valid choice.", new.status.name()));
        }
        if new.lines.is_empty() {
            errors.add("line_items", "This list may not be empty.");
        }
        let mut lines = Vec::with_capacity(new.lines.len());
        for (position, line) in new.lines.iter().enumerate() {
            let Some(product) = self.product(line.product) else {
                errors.add("line_items", format!("Invalid pk \"{}\" - object does not exist.", line.product));
                continue;
            };
            if line.quantity <= Decimal::ZERO {
                errors.add("line_items", "Ensure this value is greater than 0.");
                continue;
            }
            lines.push(LineItem {
                order: 0,
                product: product.id,
                quantity: line.quantity,
                unit_multiplier: product.unit_multiplier,
                ordered_unit_price: line.ordered_unit_price.unwrap_or(product.wholesale_price),
                sale_price: line.sale_price.unwrap_or(product.sale_price),
                wholesale_price: Some(product.wholesale_price),
                notes: line.notes.as_deref().map(Into::into),
                is_sample: line.is_sample,
                is_packed: false,
                packed_at: None,
                packed_by: None,
                position: Some(position as u32 + 1),
                batch: None,
            });
        }
        errors.into_result()?;
        let customer = customer.expect("checked above");
        let order = Order {
            number: number.into(),
            external_id_seller: new.external_id_seller.map(Into::into),
            external_id_buyer: None,
            ext_acct_id: None,
            created_on: Stamp::new(0, -360),
            modified: Stamp::new(0, -360),
            user: editor,
            buyer: customer.partner,
            seller,
            customer: customer.id,
            status: new.status,
            manual: false,
            discount: new.discount,
            discount_type: new.discount_type,
            tax_amount: new.tax_amount,
            shipping_charge: new.shipping_charge,
            payment_term: None,
            payment_due_date: None,
            paid: false,
            paid_date: None,
            ship_date: None,
            shipping_details: None,
            notes: new.notes.map(Into::into),
            internal_notes: None,
            delivery_preferences: new
                .delivery_preferences
                .map(Into::into)
                .or_else(|| (!customer.delivery_preferences.is_empty()).then(|| customer.delivery_preferences.clone())),
            sales_reps: if new.sales_reps.is_empty() { customer.managers.clone() } else { new.sales_reps },
            classification: "Adult Use".into(),
            has_special_requests: false,
            credits: Decimal::ZERO,
            facility_id: None,
            external_ids: Vec::new(),
            addresses: Some(Box::new((customer.address.clone(), customer.address.clone()))),
            lines: Vec::new(),
            payments: Vec::new(),
        };
        Ok(self.create_order(order, lines))
    }
}
