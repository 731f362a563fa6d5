//! `leafbridge tenant add|list|show|edit|remove|credentials`.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::Home;
use super::output::{print_json, print_table, terminal_safe};
use crate::store::Store;
use crate::store::secrets::{SecretName, Secrets};
use crate::tenant::validate::{parse_go_live, validate};
use crate::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Register a tenant from flags or from a TOML or JSON file.
    ///
    /// Examples:
    ///   leafbridge tenant add --from-file tenants/acme.toml
    ///   leafbridge tenant add acme --go-live 2025-01-01T00:00:00Z --time-zone America/Los_Angeles \
    ///     --product-master business-central --freight-account 6100 \
    ///     --leaflink-url https://app.leaflink.com/api/v2 \
    ///     --bc-url https://api.businesscentral.dynamics.com/v2.0/TENANT/Production/api/v2.0 \
    ///     --bc-token-url https://login.microsoftonline.com/TENANT/oauth2/v2.0/token \
    ///     --bc-tenant-id TENANT --bc-environment Production --bc-company-id COMPANY --bc-client-id CLIENT
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
    /// List registered tenants.
    ///
    /// Example: leafbridge tenant list --json
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one tenant's settings, which credentials are set, and its schedules.
    ///
    /// Example: leafbridge tenant show acme
    Show {
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's settings with the same flags as `add`, or replace
    /// them from a file whose `name` matches.
    ///
    /// Example: leafbridge tenant edit acme --time-zone America/Denver
    Edit(EditArgs),
    /// Remove a tenant and everything stored for it: settings, credentials,
    /// schedules, cross-references, cursors, runs and dead letters.
    ///
    /// Example: leafbridge tenant remove acme --yes
    Remove {
        tenant: String,
        /// Confirm the removal; nothing is removed without it.
        #[arg(long)]
        yes: bool,
    },
    /// Set credentials from standard input, one `name=value` per line, or by
    /// prompting without echo on a terminal. Names: leaflink.api_key,
    /// business_central.client_secret, leaflink.webhook_key. Values are never
    /// taken from the command line, so they stay out of shell history and ps.
    ///
    /// Example: printf 'leaflink.api_key=%s\n' "$KEY" | leafbridge tenant credentials acme
    Credentials {
        tenant: String,
        #[arg(long)]
        json: bool,
        /// Catches values given on the command line, so the error that
        /// rejects them does not repeat a secret the way clap's would.
        #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
        misplaced: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProductMasterArg {
    BusinessCentral,
    Leaflink,
}

impl From<ProductMasterArg> for ProductMaster {
    fn from(value: ProductMasterArg) -> Self {
        match value {
            ProductMasterArg::BusinessCentral => ProductMaster::BusinessCentral,
            ProductMasterArg::Leaflink => ProductMaster::LeafLink,
        }
    }
}

/// Settings that `add` and `edit` take as flags.
#[derive(Debug, Args, Default)]
pub struct TenantFields {
    /// Nothing created in LeafLink before this RFC 3339 time is imported.
    #[arg(long, value_name = "RFC3339")]
    pub go_live: Option<String>,
    /// IANA time zone for BC dates, e.g. America/Los_Angeles.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// The side that creates products.
    #[arg(long, value_enum)]
    pub product_master: Option<ProductMasterArg>,
    /// BC G/L account number for shipping charges.
    #[arg(long, value_name = "ACCOUNT")]
    pub freight_account: Option<String>,
    /// LeafLink `/api/v2` root URL.
    #[arg(long, value_name = "URL")]
    pub leaflink_url: Option<String>,
    /// LeafLink seller company id.
    #[arg(long, value_name = "ID")]
    pub leaflink_company_id: Option<i64>,
    /// LeafLink company-staff id recorded as the author of the order
    /// payments that payments-push creates (required by that flow).
    #[arg(long, value_name = "ID")]
    pub leaflink_recorded_by: Option<i64>,
    /// BC `/api/v2.0` root URL of the environment.
    #[arg(long, value_name = "URL")]
    pub bc_url: Option<String>,
    /// OAuth2 token endpoint.
    #[arg(long, value_name = "URL")]
    pub bc_token_url: Option<String>,
    /// Microsoft Entra tenant id.
    #[arg(long, value_name = "ID")]
    pub bc_tenant_id: Option<String>,
    /// BC environment name, e.g. Production.
    #[arg(long, value_name = "NAME")]
    pub bc_environment: Option<String>,
    /// BC company id (GUID).
    #[arg(long, value_name = "ID")]
    pub bc_company_id: Option<String>,
    /// OAuth2 client id of the tenant's Entra application.
    #[arg(long, value_name = "ID")]
    pub bc_client_id: Option<String>,
    /// Admin contact for failed records, conflicts and link proposals, each
    /// reported once. An http(s) webhook URL receives a JSON digest after a
    /// run that left any. An email address receives it as an email through
    /// the SMTP server in LEAFBRIDGE_SMTP_URL, sent from LEAFBRIDGE_SMTP_FROM.
    #[arg(long, value_name = "URL|ADDRESS")]
    pub notify: Option<String>,
    /// A plugin setting, such as `export.item_categories=CANNABIS` or
    /// `products.price_field=sale_price`, or a map entry such as
    /// `unit_map.Ounce=OZ`; repeat for more. An empty value removes it.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Tenant name: lowercase letters, digits and '-'. Taken from the file with --from-file.
    pub tenant: Option<String>,
    /// Read the whole definition from a .toml or .json file.
    #[arg(long, value_name = "FILE", conflicts_with = "tenant")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub fields: TenantFields,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub tenant: String,
    /// Replace the definition with the one in this .toml or .json file.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    #[command(flatten)]
    pub fields: TenantFields,
}

pub fn run(home: &Home, command: TenantCommand) -> anyhow::Result<()> {
    let store = || super::open_store(home);
    match command {
        TenantCommand::Add(args) => add(&store()?, args),
        // `list` reads through serve while serve has the store locked: see `list_tenants`.
        TenantCommand::List { json } => list(&store()?.tenants()?.list()?, json),
        TenantCommand::Show { tenant, json } => show(home, &store()?, &tenant, json),
        TenantCommand::Edit(args) => edit(&store()?, args),
        TenantCommand::Remove { tenant, yes } => remove(&store()?, &tenant, yes),
        TenantCommand::Credentials { misplaced, .. } if !misplaced.is_empty() => bail!(
            "credentials are read from standard input or a prompt, never from the command line, and the {} argument(s) given \
             were not used or shown; clear them from your shell history",
            misplaced.len()
        ),
        TenantCommand::Credentials { tenant, json, .. } => credentials(home, &tenant, json),
    }
}

fn add(store: &Store, args: AddArgs) -> anyhow::Result<()> {
    let settings = match (&args.from_file, args.tenant) {
        (Some(path), _) => {
            let mut settings = read_file(path)?;
            apply_fields(&mut settings, &args.fields)?;
            settings
        }
        (None, Some(name)) => from_flags(name, &args.fields)?,
        (None, None) => bail!("give a tenant name and flags, or --from-file FILE"),
    };
    match validate(&settings) {
        // The name error already names the tenant.
        Err(error @ crate::tenant::validate::ValidationError::Name(_)) => return Err(error.into()),
        result => result.with_context(|| format!("tenant {} is not valid", crate::tenant::validate::shortened(&settings.name)))?,
    }
    store.tenants()?.register(&settings)?;
    println!("registered tenant {}", settings.name);
    Ok(())
}

fn from_flags(name: String, fields: &TenantFields) -> anyhow::Result<TenantSettings> {
    let missing = |flag: &str| anyhow::anyhow!("missing {flag}; `leafbridge tenant add --help` lists the required flags");
    let go_live = parse_go_live(fields.go_live.as_deref().ok_or_else(|| missing("--go-live"))?)?;
    let mut settings = TenantSettings {
        name,
        go_live,
        time_zone: fields.time_zone.clone().ok_or_else(|| missing("--time-zone"))?,
        product_master: fields.product_master.ok_or_else(|| missing("--product-master"))?.into(),
        order_statuses_to_import: default_order_statuses(),
        freight_account: fields.freight_account.clone().ok_or_else(|| missing("--freight-account"))?,
        unit_map: default_unit_map(),
        salesperson_map: BTreeMap::new(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint {
            base_url: fields.leaflink_url.clone().ok_or_else(|| missing("--leaflink-url"))?,
            company_id: fields.leaflink_company_id,
            recorded_by: fields.leaflink_recorded_by,
        },
        business_central: BusinessCentralEndpoint {
            base_url: fields.bc_url.clone().ok_or_else(|| missing("--bc-url"))?,
            token_url: fields.bc_token_url.clone().ok_or_else(|| missing("--bc-token-url"))?,
            tenant_id: fields.bc_tenant_id.clone().ok_or_else(|| missing("--bc-tenant-id"))?,
            environment: fields.bc_environment.clone().ok_or_else(|| missing("--bc-environment"))?,
            company_id: fields.bc_company_id.clone().ok_or_else(|| missing("--bc-company-id"))?,
            client_id: fields.bc_client_id.clone().ok_or_else(|| missing("--bc-client-id"))?,
            scope: None,
        },
        limits: LimitSettings::default(),
        notify: fields.notify.clone(),
        plugin_settings: BTreeMap::new(),
    };
    apply_setting_flags(&mut settings, &fields.settings)?;
    Ok(settings)
}

/// Overrides the settings with every flag that was given.
fn apply_fields(settings: &mut TenantSettings, fields: &TenantFields) -> anyhow::Result<()> {
    if let Some(go_live) = &fields.go_live {
        settings.go_live = parse_go_live(go_live)?;
    }
    let text_fields = [
        (&fields.time_zone, &mut settings.time_zone),
        (&fields.freight_account, &mut settings.freight_account),
        (&fields.leaflink_url, &mut settings.leaflink.base_url),
        (&fields.bc_url, &mut settings.business_central.base_url),
        (&fields.bc_token_url, &mut settings.business_central.token_url),
        (&fields.bc_tenant_id, &mut settings.business_central.tenant_id),
        (&fields.bc_environment, &mut settings.business_central.environment),
        (&fields.bc_company_id, &mut settings.business_central.company_id),
        (&fields.bc_client_id, &mut settings.business_central.client_id),
    ];
    for (flag, field) in text_fields {
        if let Some(value) = flag {
            *field = value.clone();
        }
    }
    if let Some(master) = fields.product_master {
        settings.product_master = master.into();
    }
    if let Some(company_id) = fields.leaflink_company_id {
        settings.leaflink.company_id = Some(company_id);
    }
    if let Some(staff_id) = fields.leaflink_recorded_by {
        settings.leaflink.recorded_by = Some(staff_id);
    }
    apply_setting_flags(settings, &fields.settings)?;
    if let Some(notify) = &fields.notify {
        settings.notify = if notify.is_empty() { None } else { Some(notify.clone()) };
    }
    Ok(())
}

/// Applies `--setting KEY=VALUE` flags in order; an empty value removes the
/// key. `unit_map.<unit>` and `salesperson_map.<staff id>` keys change those
/// maps, and any other key is a plugin setting.
fn apply_setting_flags(settings: &mut TenantSettings, flags: &[String]) -> anyhow::Result<()> {
    for flag in flags {
        let Some((key, value)) = flag.split_once('=') else {
            bail!("--setting {flag:?} is not KEY=VALUE");
        };
        let key = key.trim();
        let (map, key) = if let Some(unit) = key.strip_prefix("unit_map.") {
            (&mut settings.unit_map, unit)
        } else if let Some(staff) = key.strip_prefix("salesperson_map.") {
            (&mut settings.salesperson_map, staff)
        } else {
            (&mut settings.plugin_settings, key)
        };
        if key.is_empty() {
            bail!("--setting {flag:?} has an empty key");
        }
        if value.is_empty() {
            map.remove(key);
        } else {
            map.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(())
}

/// Keys that `tenant show --json` prints next to the definition.
const SHOWN_ONLY: [&str; 2] = ["credentials", "schedules"];

/// Reads a tenant definition; the extension picks the format.
fn read_file(path: &Path) -> anyhow::Result<TenantSettings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extension = path.extension().and_then(|extension| extension.to_str()).unwrap_or("");
    let settings = match extension {
        "toml" => toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?,
        "json" => {
            let invalid = || format!("{} is not a valid tenant definition", path.display());
            let mut value: serde_json::Value = serde_json::from_str(&text).with_context(invalid)?;
            // `tenant show --json` adds these two; they are set by other
            // commands. Only schedules can differ from what the home has, so
            // only a file that lists some gets a note.
            if let Some(object) = value.as_object_mut() {
                let removed: Vec<(&str, serde_json::Value)> =
                    SHOWN_ONLY.into_iter().filter_map(|key| object.remove(key).map(|value| (key, value))).collect();
                let lists_schedules = removed.iter().any(|(key, value)| *key == "schedules" && value.as_array().is_some_and(|list| !list.is_empty()));
                if lists_schedules {
                    eprintln!("note: ignored the schedules in {}; change schedules with `leafbridge schedule`", path.display());
                }
            }
            serde_json::from_value(value).with_context(invalid)?
        }
        _ => bail!("{} must end in .toml or .json", path.display()),
    };
    Ok(settings)
}

/// Names the file, line and column (both from 1) of a TOML error, like a
/// compiler does, so an editor can jump there.
fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> anyhow::Error {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            anyhow::anyhow!("{}:{line}:{column}: {message}", path.display())
        }
        None => anyhow::anyhow!("{}: {message}", path.display()),
    }
}

/// Runs `tenant list`, through serve's admin API while serve has the store locked.
pub async fn list_tenants(home: &Home, json: bool) -> anyhow::Result<()> {
    let records = super::records::Records::open(home).await?;
    list(&records.tenants().await?, json)
}

fn list(tenants: &[TenantSettings], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&tenants);
    }
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|tenant| {
            vec![
                tenant.name.clone(),
                tenant.time_zone.clone(),
                product_master_name(tenant.product_master).to_owned(),
                tenant.go_live.to_string(),
            ]
        })
        .collect();
    print_table(&["NAME", "TIME ZONE", "PRODUCT MASTER", "GO LIVE"], &rows);
    Ok(())
}

#[derive(Serialize)]
struct TenantView<'a> {
    #[serde(flatten)]
    settings: &'a TenantSettings,
    credentials: BTreeMap<&'static str, bool>,
    schedules: Vec<crate::schedule::ScheduleEntry>,
}

fn show(home: &Home, store: &Store, tenant: &str, json: bool) -> anyhow::Result<()> {
    let settings = store.tenants()?.require(tenant)?;
    let secrets = super::open_secrets(home, store)?;
    let credentials = credential_status(&secrets, tenant)?;
    let schedules = store.schedules()?.list(Some(tenant))?;
    if json {
        return print_json(&TenantView { settings: &settings, credentials, schedules });
    }

    println!("tenant          {}", settings.name);
    println!("go live         {}", settings.go_live);
    println!("time zone       {}", settings.time_zone);
    println!("product master  {}", product_master_name(settings.product_master));
    // Tenants stored before control characters were rejected may still have them.
    println!("freight account {}", terminal_safe(&settings.freight_account));
    println!("leaflink        {}", settings.leaflink.base_url);
    println!("bc              {}", settings.business_central.base_url);
    println!("bc company      {}", terminal_safe(&settings.business_central.company_id));
    println!("notify          {}", terminal_safe(settings.notify.as_deref().unwrap_or("-")));
    let staff = settings.leaflink.recorded_by.map_or("-".to_owned(), |staff| staff.to_string());
    println!("recorded by     {staff}");
    let maps = [("unit map", &settings.unit_map), ("salesperson map", &settings.salesperson_map), ("setting", &settings.plugin_settings)];
    for (label, map) in maps {
        for (key, value) in map {
            println!("{label:<15} {}={}", terminal_safe(key), terminal_safe(value));
        }
    }
    for (name, set) in &credentials {
        println!("credential      {name}: {}", if *set { "set" } else { "not set" });
    }
    for entry in &schedules {
        let state = if entry.paused { "paused" } else { "active" };
        println!("schedule        {} {} ({state}, next {})", entry.flow, entry.cadence, entry.next_due);
    }
    Ok(())
}

fn edit(store: &Store, args: EditArgs) -> anyhow::Result<()> {
    let tenants = store.tenants()?;
    let current = tenants.require(&args.tenant)?;
    let mut settings = match &args.from_file {
        Some(path) => {
            let replacement = read_file(path)?;
            if replacement.name != current.name {
                bail!(
                    "{} defines tenant {:?}, not {:?}; a tenant cannot be renamed",
                    path.display(),
                    replacement.name,
                    current.name
                );
            }
            replacement
        }
        None => current.clone(),
    };
    apply_fields(&mut settings, &args.fields)?;
    validate(&settings).with_context(|| format!("tenant {} is not valid", crate::tenant::validate::shortened(&settings.name)))?;

    // A product_master change must not leave the other side's product flow scheduled.
    for entry in store.schedules()?.list(Some(&settings.name))? {
        crate::schedule::check_flow(&settings, &entry.flow)
            .with_context(|| format!("remove the {} schedule first", entry.flow))?;
    }
    tenants.update(&settings)?;
    println!("updated tenant {}", settings.name);
    Ok(())
}

fn remove(store: &Store, tenant: &str, yes: bool) -> anyhow::Result<()> {
    if !yes {
        bail!("removing tenant {tenant} deletes all its data; run again with --yes to confirm");
    }
    let removed = store.tenants()?.remove(tenant)?;
    println!("removed tenant {tenant} ({removed} stored {})", if removed == 1 { "record" } else { "records" });
    Ok(())
}

fn credentials(home: &Home, tenant: &str, json: bool) -> anyhow::Result<()> {
    // The tenant and the key are checked first, then the store is closed
    // while the values are read, so that a prompt left open does not lock
    // out a scheduled `run` or `serve`.
    {
        let store = super::open_store(home)?;
        store.tenants()?.require(tenant)?;
        super::open_secrets(home, &store)?;
    }
    let entries = read_credentials()?;
    let store = super::open_store(home)?;
    let secrets = super::open_secrets(home, &store)?;
    for (name, value) in &entries {
        secrets.set(tenant, *name, value)?;
    }

    let status = credential_status(&secrets, tenant)?;
    if json {
        return print_json(&status);
    }
    for (name, set) in &status {
        println!("{name}: {}", if *set { "set" } else { "not set" });
    }
    Ok(())
}

/// Reads credentials from the terminal, one prompt per name (an empty answer
/// keeps the stored value), or from standard input as name=value lines.
fn read_credentials() -> anyhow::Result<Vec<(SecretName, zeroize::Zeroizing<String>)>> {
    let stdin = std::io::stdin();
    let mut entries = Vec::new();
    if stdin.is_terminal() {
        for name in SecretName::OPERATOR_SUPPLIED {
            let value = zeroize::Zeroizing::new(
                rpassword::prompt_password(format!("{name} (leave empty to keep): "))
                    .with_context(|| format!("cannot read {name} from the terminal"))?,
            );
            // API keys and client secrets have no surrounding spaces, but a paste often adds them.
            let value = value.trim();
            if !value.is_empty() {
                entries.push((name, zeroize::Zeroizing::new(value.to_owned())));
            }
        }
        return Ok(entries);
    }
    // Every line is checked before any value is stored, so a bad line
    // leaves the stored credentials as they were.
    let mut numbered: Vec<(SecretName, usize, zeroize::Zeroizing<String>)> = Vec::new();
    for (index, line) in stdin.lock().lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {} of standard input", index + 1))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        // The value is never echoed in an error: only the line number and name.
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {} of standard input is not name=value", index + 1);
        };
        let name: SecretName = name.trim().parse()?;
        if !SecretName::OPERATOR_SUPPLIED.contains(&name) {
            bail!("line {}: {name} is managed by leafbridge and cannot be set", index + 1);
        }
        // API keys and client secrets have no surrounding spaces, but a paste often adds them.
        let value = value.trim();
        if value.is_empty() {
            bail!("line {}: the value of {name} is empty", index + 1);
        }
        if let Some((_, first, _)) = numbered.iter().find(|(earlier, _, _)| *earlier == name) {
            bail!("line {}: {name} is given twice (first on line {first}); nothing was stored", index + 1);
        }
        numbered.push((name, index + 1, zeroize::Zeroizing::new(value.to_owned())));
    }
    if numbered.is_empty() {
        bail!("no credentials on standard input; send one name=value per line");
    }
    Ok(numbered.into_iter().map(|(name, _, value)| (name, value)).collect())
}

fn credential_status(secrets: &Secrets, tenant: &str) -> anyhow::Result<BTreeMap<&'static str, bool>> {
    let mut status = BTreeMap::new();
    for name in SecretName::OPERATOR_SUPPLIED {
        status.insert(name.as_str(), secrets.is_set(tenant, name)?);
    }
    Ok(status)
}

fn product_master_name(master: ProductMaster) -> &'static str {
    match master {
        ProductMaster::BusinessCentral => "business-central",
        ProductMaster::LeafLink => "leaflink",
    }
}
