//! `leafbridge demo`: plays a realistic day for the two example tenants in
//! `tenants/`, each against its own in-process sandbox, and prints what every
//! flow did.
//!
//! The day: BC already holds some of the customers and items (as it does for
//! a business going live) and `link` pairs them, leaving one near-duplicate
//! for a person; products are created on the non-master side; new orders are
//! imported with their new customers and products; BC ships and invoices some
//! of them; payments are posted in BC and reach LeafLink; stock changes in BC
//! (an item edit and the sales) reach LeafLink; a product renamed in BC is
//! pushed; prices changed in LeafLink are pulled; a buyer's change to an order
//! is pulled; and orders for an item blocked in BC land in dead letters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::{Method, StatusCode};
use clap::Args;
use leafbridge_sandbox::business_central::ReplyBody;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::{Sandbox, SandboxConfig, SeedConfig};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::Home;
use super::run::{TABLE_NOTE, open_runtime, print_table, table_header, table_row};
use crate::capabilities::{Secret, TenantSecrets};
use crate::flows::runner::TenantRunner;
use crate::flows::{Flow, FlowReport};
use crate::runtime::{Runtime, default_plugin_dir};
use crate::store::secrets::{SecretKey, SecretName};
use crate::store::{RecordKind, RunCounts, Store};
use crate::tenant::TenantSettings;

/// The example tenants, built into the binary so the demo runs from anywhere.
const EXAMPLE_TENANTS: [(&str, &str); 2] = [
    ("evergreen-farms", include_str!("../../../tenants/evergreen-farms/tenant.toml")),
    ("cascade-cultivation", include_str!("../../../tenants/cascade-cultivation/tenant.toml")),
];

/// The LeafLink company the sandbox's API key belongs to; products are
/// created with it as `seller`.
const SANDBOX_SELLER_COMPANY: i64 = 1;
/// The sandbox company-staff member who owns its API key; payments are
/// recorded in their name.
const SANDBOX_KEY_OWNER: i64 = 13;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one JSON object with a `tenants` list instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Directory of the plugin components; defaults to $LEAFBRIDGE_PLUGIN_DIR,
    /// else where `cargo xtask plugins` writes them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
}

/// One flow's totals for one tenant, as the JSON summary lists them.
#[derive(Debug, Clone, Serialize)]
struct FlowSummary {
    flow: String,
    /// Kind of record that `read`, `written`, `skipped` and `failed` count ("orders", ...).
    records: String,
    read: u64,
    written: u64,
    skipped: u64,
    failed: u64,
    /// Customers and items written for the flow's records.
    related_written: u64,
    requests_leaflink: u64,
    requests_business_central: u64,
    millis: u64,
}

#[derive(Debug, Serialize)]
struct TenantSummary {
    name: String,
    flows: Vec<FlowSummary>,
    dead_letters: usize,
    conflicts: usize,
    link_proposals: usize,
}

#[derive(Debug, Serialize)]
struct Summary {
    /// The home the day was played in; `None` for the temporary home, which
    /// is gone by the time the summary is read.
    home: Option<String>,
    seconds: f64,
    tenants: Vec<TenantSummary>,
}

pub async fn run(home_flag: Option<PathBuf>, args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Declared first so it is dropped last, after the store and the runtime
    // have closed their files; dropping it removes the temporary home.
    let temporary_home = match home_flag {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("leafbridge-demo-").tempdir().context("failed to create a temporary home")?),
    };
    let temporary = temporary_home.is_some();
    let home = match (home_flag, &temporary_home) {
        (Some(dir), _) => Home::at(dir)?,
        (None, Some(dir)) => Home::at(dir.path().to_path_buf())?,
        (None, None) => unreachable!("a temporary home exists when --home is absent"),
    };
    let store = Store::open(&home.store_dir())?;
    reject_foreign_tenants(&home, &store)?;
    let cleared = clear_earlier_demo(&store)?;
    if !cleared.is_empty() {
        // Each demo day plays against fresh sandboxes, so the cursors and
        // cross-references of an earlier day point at records that no
        // longer exist. Keeping them would skip or double count records.
        eprintln!(
            "{} already held an earlier demo day for {}; its sync state (cross-references, cursors, runs, conflicts, dead letters, link proposals) was cleared, and this run starts clean.",
            home.root().display(),
            cleared.join(" and ")
        );
    }
    let runtime = open_runtime(&home)?;
    let plugin_dir = args.plugin_dir.clone().unwrap_or_else(default_plugin_dir);

    let mut tenants = Vec::new();
    let mut reports = Vec::new();
    for (index, (name, definition)) in EXAMPLE_TENANTS.iter().enumerate() {
        let (summary, tenant_reports) = play_tenant(&home, &store, &runtime, &plugin_dir, name, definition, index as u64 + 7)
            .await
            .with_context(|| format!("the demo day of tenant {name} failed"))?;
        tenants.push(summary);
        reports.extend(tenant_reports);
    }
    store.flush()?;

    let kept_home = (!temporary).then(|| home.root().display().to_string());
    let summary = Summary { home: kept_home, seconds: started.elapsed().as_secs_f64(), tenants };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &reports);
    }
    Ok(())
}

/// Rejects a home where a tenant named like an example tenant points at
/// anything but a loopback sandbox: the demo rewrites that tenant's settings
/// and credentials, which would silently break a real registration.
fn reject_foreign_tenants(home: &Home, store: &Store) -> anyhow::Result<()> {
    let tenants = store.tenants()?;
    for (name, _) in EXAMPLE_TENANTS {
        let Some(settings) = tenants.get(name)? else { continue };
        let base_url = &settings.leaflink.base_url;
        let on_loopback = url::Url::parse(base_url)
            .ok()
            .and_then(|url| url.host_str().map(|host| host == "127.0.0.1" || host == "localhost" || host == "[::1]"))
            .unwrap_or(false);
        if !on_loopback {
            bail!(
                "tenant {name} in {} is not a demo tenant (its LeafLink URL is {base_url}); the demo would overwrite it, so run the demo with another --home",
                home.root().display()
            );
        }
    }
    Ok(())
}

/// Clears the sync state of each example tenant that has some and returns
/// their names. Tenant settings and secrets stay; the demo rewrites them.
fn clear_earlier_demo(store: &Store) -> anyhow::Result<Vec<&'static str>> {
    let mut cleared = Vec::new();
    for (name, _) in EXAMPLE_TENANTS {
        let has_state = !store.runs(name)?.is_empty()
            || [RecordKind::Customer, RecordKind::Item, RecordKind::Order, RecordKind::Payment]
                .into_iter()
                .map(|kind| store.xref_count(name, kind))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .any(|count| count > 0);
        if has_state {
            store.clear_sync_state(name)?;
            cleared.push(name);
        }
    }
    Ok(cleared)
}

/// Plays the day for one tenant and returns its per-flow totals.
async fn play_tenant(
    home: &Home,
    store: &Store,
    runtime: &Arc<Runtime>,
    plugin_dir: &std::path::Path,
    name: &str,
    definition: &str,
    random_seed: u64,
) -> anyhow::Result<(TenantSummary, Vec<FlowReport>)> {
    // Rate limits are off so the day runs in seconds; the host still paces
    // requests under each API's documented limit.
    let config = SandboxConfig {
        seed: SeedConfig { customers: 30, products: 60, orders: 40, random_seed },
        rate_limits: false,
        notification_delay: Duration::from_millis(50),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await?;
    let settings = register_tenant(home, store, &sandbox, name, definition)?;
    let secrets = TenantSecrets {
        leaflink_api_key: Secret::new(sandbox.info().leaflink.api_key),
        business_central_client_secret: Secret::new(sandbox.info().business_central.client_secret),
    };
    let runner = TenantRunner::open(runtime, plugin_dir, settings.clone(), secrets)?;
    let day = Day { sandbox: &sandbox, company: sandbox.info().business_central.company_id };

    let mut reports = Vec::new();
    let prepared = day.prepare_go_live(&settings).await?;
    reports.extend(runner.run_all(store, &[Flow::Link]).await?);
    let product_flow = match settings.product_master {
        crate::tenant::ProductMaster::BusinessCentral => Flow::ProductsExport,
        crate::tenant::ProductMaster::LeafLink => Flow::ProductsImport,
    };
    reports.extend(runner.run_all(store, &[product_flow]).await?);

    let placed = day.place_orders(&prepared)?;
    reports.extend(runner.run_all(store, &[Flow::OrdersImport]).await?);

    day.ship_and_invoice(&placed.shipped).await?;
    reports.extend(runner.run_all(store, &[Flow::OrdersPush]).await?);

    day.receive_payments().await?;
    reports.extend(runner.run_all(store, &[Flow::PaymentsPush]).await?);

    day.change_stock(&prepared).await?;
    reports.extend(runner.run_all(store, &[Flow::InventoryPush]).await?);

    day.rename_item(&prepared).await?;
    reports.extend(runner.run_all(store, &[Flow::ProductsPush]).await?);

    day.change_prices(&prepared)?;
    reports.extend(runner.run_all(store, &[Flow::ProductsPull]).await?);

    day.change_order(&placed.open)?;
    reports.extend(runner.run_all(store, &[Flow::OrdersPull, Flow::CustomersImport, Flow::OrdersImport]).await?);

    let summary = TenantSummary {
        name: name.to_owned(),
        flows: summarize(&reports),
        dead_letters: store.dead_letters(name)?.len(),
        conflicts: store.conflicts(name)?.len(),
        link_proposals: store.link_proposals(name)?.len(),
    };
    Ok((summary, reports))
}

/// Registers the example tenant with the sandbox's endpoints and credentials.
fn register_tenant(home: &Home, store: &Store, sandbox: &Sandbox, name: &str, definition: &str) -> anyhow::Result<TenantSettings> {
    let mut settings: TenantSettings =
        toml::from_str(definition).with_context(|| format!("the example tenant {name} is not a valid definition"))?;
    let info = sandbox.info();
    settings.leaflink.base_url = info.leaflink.base_url.clone();
    settings.leaflink.company_id = Some(SANDBOX_SELLER_COMPANY);
    settings.leaflink.recorded_by = Some(SANDBOX_KEY_OWNER);
    let bc = &mut settings.business_central;
    bc.base_url = info.business_central.base_url.clone();
    bc.token_url = info.business_central.token_url.clone();
    bc.tenant_id = info.business_central.tenant_id.clone();
    bc.environment = info.business_central.environment.clone();
    bc.company_id = info.business_central.company_id.clone();
    bc.client_id = info.business_central.client_id.clone();

    let tenants = store.tenants()?;
    if tenants.get(name)?.is_some() {
        tenants.update(&settings)?;
    } else {
        tenants.register(&settings)?;
    }
    let (key, _) = SecretKey::load_or_create(&home.key_file())?;
    let secrets = store.secrets(&key)?;
    secrets.set(name, SecretName::LeafLinkApiKey, &info.leaflink.api_key)?;
    secrets.set(name, SecretName::BusinessCentralClientSecret, &info.business_central.client_secret)?;
    Ok(settings)
}

/// Adds up the reports of each flow (a flow may run more than once a day).
fn summarize(reports: &[FlowReport]) -> Vec<FlowSummary> {
    let mut totals: BTreeMap<usize, (Flow, RunCounts, u64)> = BTreeMap::new();
    for report in reports {
        let position = Flow::ALL.iter().position(|flow| *flow == report.flow).unwrap_or(usize::MAX);
        let entry = totals.entry(position).or_insert((report.flow, RunCounts::default(), 0));
        entry.1.add(&report.counts);
        entry.2 += report.millis;
    }
    totals
        .into_values()
        .map(|(flow, counts, millis)| FlowSummary {
            flow: flow.name().to_owned(),
            records: flow.record_noun().to_owned(),
            read: counts.read,
            written: counts.written,
            skipped: counts.skipped,
            failed: counts.failed,
            related_written: counts.related_written,
            requests_leaflink: counts.requests_leaflink,
            requests_business_central: counts.requests_business_central,
            millis,
        })
        .collect()
}

fn print_summary(summary: &Summary, reports: &[FlowReport]) {
    println!("Every flow run of the day, in order:\n");
    print_table(reports);
    println!("\nTotals per tenant and flow:\n");
    println!("{}", table_header());
    for tenant in &summary.tenants {
        for flow in &tenant.flows {
            let counts = RunCounts {
                read: flow.read,
                written: flow.written,
                skipped: flow.skipped,
                failed: flow.failed,
                related_written: flow.related_written,
                requests_leaflink: flow.requests_leaflink,
                requests_business_central: flow.requests_business_central,
            };
            let name: Flow = flow.flow.parse().unwrap_or(Flow::Link);
            println!("{}", table_row(&tenant.name, name, &counts, flow.millis));
        }
    }
    println!("{TABLE_NOTE}");
    println!("\nFinished in {:.1} s. Where to look next:", summary.seconds);
    for tenant in &summary.tenants {
        println!(
            "  {}: {}, {}, {} for a person to decide",
            tenant.name,
            count(tenant.dead_letters, "dead letter", "dead letters"),
            count(tenant.conflicts, "conflict", "conflicts"),
            count(tenant.link_proposals, "link proposal", "link proposals"),
        );
    }
    match &summary.home {
        Some(home) => {
            println!("  The day's state is in {home}. To inspect it:");
            let tenant = summary.tenants.first().map(|tenant| tenant.name.as_str()).unwrap_or("TENANT");
            for command in ["status", &format!("dead-letters list {tenant}"), &format!("conflicts {tenant}"), &format!("link list {tenant}"), &format!("runs {tenant}")] {
                println!("    leafbridge --home {home} {command}");
            }
        }
        None => println!(
            "  The day ran in a temporary home, removed when the demo ended. To keep it, rerun with `--home DIR` (in a clone: `cargo xtask demo --home DIR`), and the demo prints the commands that inspect it."
        ),
    }
}

/// `1 conflict`, `2 conflicts`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The records the go-live step made in BC that the rest of the day uses.
struct Prepared {
    /// LeafLink product ids whose SKU BC already had as an item.
    linked_products: Vec<u32>,
    /// The LeafLink product whose BC item is blocked.
    blocked_product: Option<u32>,
    /// Active LeafLink customer ids.
    customers: Vec<u32>,
    /// Products available for new orders.
    products: Vec<u32>,
}

struct Placed {
    /// Orders BC will ship and invoice.
    shipped: Vec<String>,
    /// Orders that stay open for the buyer to change.
    open: Vec<String>,
}

/// The people and systems around leafbridge during the day, acting on the
/// sandbox directly.
struct Day<'a> {
    sandbox: &'a Sandbox,
    company: String,
}

impl Day<'_> {
    /// Sends one request to the BC sandbox in process, as a BC user would.
    async fn bc(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let full = format!("companies({})/{path}", self.company);
        let reply = self.sandbox.business_central().request(method.clone(), &full, body).await;
        let body = match reply.body {
            ReplyBody::Json(value) => value,
            ReplyBody::Text(text) => Value::String(text),
            ReplyBody::Empty => Value::Null,
        };
        if !reply.status.is_success() && reply.status != StatusCode::NO_CONTENT {
            bail!("BC sandbox {method} {path} returned {}: {body}", reply.status);
        }
        Ok(body)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.bc(Method::POST, path, Some(body)).await
    }

    fn leaflink_json(value: Option<Value>, what: &str) -> anyhow::Result<Value> {
        value.with_context(|| format!("the LeafLink sandbox has no {what}"))
    }

    /// BC as a business going live has it: some LeafLink customers and
    /// products already exist there, one customer has a near-duplicate (same
    /// name, different license number), and one item is blocked.
    async fn prepare_go_live(&self, settings: &TenantSettings) -> anyhow::Result<Prepared> {
        let leaflink = self.sandbox.leaflink();
        let customers = leaflink.active_customer_ids();
        let products = leaflink.available_product_ids();
        if customers.len() < 12 || products.len() < 40 {
            bail!("the LeafLink sandbox seeded too few customers or products for the demo");
        }

        // Customers BC already has, keyed the way the tenant matches them.
        for (position, id) in customers.iter().take(6).enumerate() {
            let customer = Self::leaflink_json(leaflink.customer_json(*id), "customer")?;
            let name = customer["name"].as_str().unwrap_or_default();
            let license = customer["license_number"].as_str().unwrap_or_default();
            let number = match settings.customer_match_key {
                crate::tenant::CustomerMatchKey::ExternalId => match customer["external_id"].as_str() {
                    Some(external) => external.to_owned(),
                    None => continue,
                },
                _ => format!("C{:05}", 20001 + position),
            };
            self.post("customers", json!({
                "number": number,
                "displayName": name,
                "taxRegistrationNumber": license,
                "email": customer["email"].as_str().unwrap_or_default(),
                "country": "US",
            })).await?;
        }
        // A near-duplicate: the same name as a LeafLink customer, another license.
        let duplicate = Self::leaflink_json(leaflink.customer_json(customers[8]), "customer")?;
        self.post("customers", json!({
            "number": "C29999",
            "displayName": duplicate["name"].as_str().unwrap_or_default(),
            "taxRegistrationNumber": "999R-99999",
            "country": "US",
        })).await?;

        // Items BC already has, with the SKU as item number; the last is blocked.
        let mut linked_products = Vec::new();
        let mut blocked_product = None;
        for id in products.iter().take(30) {
            let product = Self::leaflink_json(leaflink.product_json(*id), "product")?;
            let sku = product["sku"].as_str().unwrap_or_default();
            if sku.chars().count() > 20 {
                continue;
            }
            let unit = product["unit_of_measure"].as_str().unwrap_or("Unit");
            let unit_code = settings.unit_map.get(unit).cloned().unwrap_or_else(|| "PCS".to_owned());
            let blocked = linked_products.len() == 7;
            self.post("items", json!({
                "number": sku,
                "displayName": product["name"].as_str().unwrap_or_default(),
                "type": "Inventory",
                "baseUnitOfMeasureCode": unit_code,
                "blocked": blocked,
            })).await?;
            if blocked {
                blocked_product = Some(*id);
                break;
            }
            linked_products.push(*id);
        }
        Ok(Prepared { linked_products, blocked_product, customers, products })
    }

    /// New orders placed by buyers today: some to ship, some that stay open,
    /// and two for the item blocked in BC.
    fn place_orders(&self, prepared: &Prepared) -> anyhow::Result<Placed> {
        let leaflink = self.sandbox.leaflink();
        let line = |product: u32, cases: i64| -> anyhow::Result<NewLine> {
            let json = Self::leaflink_json(leaflink.product_json(product), "product")?;
            let multiplier: i64 = json["unit_multiplier"].as_str().and_then(|text| text.parse::<Decimal>().ok()).map_or(1, |value| {
                i64::try_from(value.trunc().mantissa()).unwrap_or(1).max(1)
            });
            Ok(NewLine {
                product,
                quantity: Decimal::from(cases * multiplier),
                ordered_unit_price: None,
                sale_price: None,
                notes: None,
                is_sample: false,
            })
        };
        let mut placed = Placed { shipped: Vec::new(), open: Vec::new() };
        for index in 0..8 {
            let customer = prepared.customers[(index * 3) % prepared.customers.len()];
            let mut lines = vec![line(prepared.linked_products[index % prepared.linked_products.len()], 2)?];
            lines.push(line(prepared.products[30 + index], 1 + index as i64)?);
            let mut order = NewOrder::new(customer, lines);
            if index == 0 {
                order.notes = Some("Deliver to the back door. Call Ana on arrival; the loading dock closes at 4 pm. Über-careful with the glass jars, s'il vous plaît.".to_owned());
                order.delivery_preferences = Some("Tuesday or Thursday mornings".to_owned());
                order.shipping_charge = Decimal::new(2500, 2);
            }
            let number = leaflink.place_order(order)?;
            if index < 4 { placed.shipped.push(number) } else { placed.open.push(number) }
        }
        if let Some(blocked) = prepared.blocked_product {
            for index in 0..2 {
                let customer = prepared.customers[index + 1];
                leaflink.place_order(NewOrder::new(customer, vec![line(blocked, 1)?]))?;
            }
        }
        Ok(placed)
    }

    /// BC ships and invoices the orders in `numbers` (found by their
    /// `externalDocumentNumber`, the LeafLink `short_id`).
    async fn ship_and_invoice(&self, numbers: &[String]) -> anyhow::Result<()> {
        for number in numbers {
            let order = Self::leaflink_json(self.sandbox.leaflink().order_json(number), "order")?;
            let short_id = order["short_id"].as_str().unwrap_or_default();
            let found = self.bc(Method::GET, &format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'"), None).await?;
            let Some(id) = found["value"].get(0).and_then(|order| order["id"].as_str()) else {
                continue;
            };
            self.bc(Method::POST, &format!("salesOrders({id})/Microsoft.NAV.shipAndInvoice"), None).await?;
        }
        Ok(())
    }

    /// Payments arrive: the first posted invoice is paid in full, the second
    /// in part, through the customer payment journal.
    async fn receive_payments(&self) -> anyhow::Result<()> {
        let invoices = self.bc(Method::GET, "salesInvoices?$filter=status eq 'Open'", None).await?;
        let journals = self.bc(Method::GET, "customerPaymentJournals", None).await?;
        let journal = journals["value"].get(0).and_then(|journal| journal["id"].as_str()).context("BC has no customer payment journal")?;
        // A person clears lines left in the journal from before, so that
        // posting it posts only today's payments.
        let stale = self.bc(Method::GET, "customerPayments", None).await?;
        for line in stale["value"].as_array().into_iter().flatten() {
            if let Some(id) = line["id"].as_str() {
                self.bc(Method::DELETE, &format!("customerPayments({id})"), None).await?;
            }
        }
        let mut posted = false;
        for (index, invoice) in invoices["value"].as_array().into_iter().flatten().take(2).enumerate() {
            let total: Decimal = invoice["totalAmountIncludingTax"].to_string().trim_matches('"').parse().unwrap_or_default();
            let amount = if index == 0 { total } else { (total / Decimal::TWO).round_dp(2) };
            if amount <= Decimal::ZERO {
                continue;
            }
            self.bc(Method::POST, "customerPayments", Some(json!({
                "journalId": journal,
                "customerNumber": invoice["customerNumber"],
                "postingDate": jiff::Zoned::now().date().to_string(),
                "amount": amount.to_string().parse::<serde_json::Number>().ok(),
                "appliesToInvoiceId": invoice["id"],
                "description": "Payment received",
            }))).await?;
            posted = true;
        }
        if posted {
            self.bc(Method::POST, &format!("journals({journal})/Microsoft.NAV.post"), None).await?;
        }
        Ok(())
    }

    /// Stock changes in BC besides the sales: a person corrects one item's
    /// inventory (BC posts an adjustment to the item ledger).
    async fn change_stock(&self, prepared: &Prepared) -> anyhow::Result<()> {
        let product = Self::leaflink_json(self.sandbox.leaflink().product_json(prepared.linked_products[1]), "product")?;
        let sku = product["sku"].as_str().unwrap_or_default();
        let item = self.item_id(sku).await?;
        self.bc(Method::PATCH, &format!("items({item})"), Some(json!({ "inventory": 137 }))).await?;
        Ok(())
    }

    /// Renames a product in BC.
    async fn rename_item(&self, prepared: &Prepared) -> anyhow::Result<()> {
        let product = Self::leaflink_json(self.sandbox.leaflink().product_json(prepared.linked_products[2]), "product")?;
        let sku = product["sku"].as_str().unwrap_or_default();
        let item = self.item_id(sku).await?;
        let name = format!("{} (new label)", product["name"].as_str().unwrap_or_default());
        self.bc(Method::PATCH, &format!("items({item})"), Some(json!({ "displayName": name }))).await?;
        Ok(())
    }

    async fn item_id(&self, number: &str) -> anyhow::Result<String> {
        let found = self.bc(Method::GET, &format!("items?$filter=number eq '{number}'"), None).await?;
        found["value"].get(0).and_then(|item| item["id"].as_str()).map(str::to_owned).with_context(|| format!("BC has no item {number}"))
    }

    /// Changes two wholesale prices in LeafLink, as the seller would.
    fn change_prices(&self, prepared: &Prepared) -> anyhow::Result<()> {
        for product in prepared.linked_products.iter().skip(3).take(2) {
            let json = Self::leaflink_json(self.sandbox.leaflink().product_json(*product), "product")?;
            let price: Decimal = json["wholesale_price"]["amount"].to_string().trim_matches('"').parse().unwrap_or(Decimal::TEN);
            self.sandbox.leaflink().set_product_price(*product, price + Decimal::new(150, 2))?;
        }
        Ok(())
    }

    /// Changes the quantity of the first line of an open order, as a buyer would.
    fn change_order(&self, open: &[String]) -> anyhow::Result<()> {
        let Some(number) = open.first() else { return Ok(()) };
        let order = Self::leaflink_json(self.sandbox.leaflink().order_json(number), "order")?;
        let line = &order["line_items"][0];
        let id = line["id"].as_u64().context("the order has no line id")?;
        let quantity: Decimal = line["quantity"].as_str().and_then(|text| text.parse().ok()).unwrap_or(Decimal::ONE);
        let multiplier: Decimal = line["unit_multiplier"].as_str().and_then(|text| text.parse().ok()).unwrap_or(Decimal::ONE);
        self.sandbox.leaflink().change_line(id, Some(quantity + multiplier), None)?;
        Ok(())
    }
}
