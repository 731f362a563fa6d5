//! `leafbridge plugin add|list|remove|test`: a tenant's override plugin.
//!
//! `add` loads the component against the `tenant-overrides` world of the
//! contract before accepting it, copies it to `<home>/plugins/<tenant>-overrides.wasm`
//! and records its SHA-256 on the tenant, so a later swap of the file is visible.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Home;
use super::output::{print_json, print_table};
use crate::flows::plugins::{CORE_PLUGIN, overrides_plugin_file};
use crate::runtime::{World, default_plugin_dir};
use crate::store::{Store, tenant_key};

/// The tree that records each tenant's override plugin.
const PLUGINS_TREE: &str = "tenant_plugins";

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check a component against the tenant-overrides world and install it as
    /// the tenant's override plugin, replacing any earlier one.
    ///
    /// Example: leafbridge plugin add acme ./acme-overrides.wasm
    Add {
        /// The registered tenant's name.
        tenant: String,
        /// The component file (wasm32-wasip2, built against leafbridge:plugin).
        file: PathBuf,
    },
    /// List the tenants that have an override plugin.
    ///
    /// Example: leafbridge plugin list --json
    List {
        /// Show only this tenant.
        tenant: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant's override plugin; its flows use the core mapping only.
    ///
    /// Example: leafbridge plugin remove acme
    Remove {
        /// The registered tenant's name.
        tenant: String,
    },
    /// Run the tenant's override plugin in the sandbox on sample LeafLink
    /// records mapped by the core plugin, and print every field it changes.
    ///
    /// Example: leafbridge plugin test acme
    Test {
        /// The registered tenant's name.
        tenant: String,
        /// Directory of the core plugin (`leafbridge-core.wasm`); defaults to
        /// $LEAFBRIDGE_PLUGIN_DIR, else where `cargo xtask plugins` writes it.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The record of an installed override plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledPlugin {
    pub tenant: String,
    /// The installed copy under the home directory.
    pub file: PathBuf,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The file `add` copied it from.
    pub source: PathBuf,
    pub added: jiff::Timestamp,
}

pub async fn run(home: &Home, command: PluginCommand) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    match command {
        PluginCommand::Add { tenant, file } => add(home, &store, &tenant, &file),
        PluginCommand::List { tenant, json } => list(&store, tenant.as_deref(), json),
        PluginCommand::Remove { tenant } => remove(&store, &tenant),
        PluginCommand::Test { tenant, plugin_dir, json } => {
            let plugin_dir = plugin_dir.unwrap_or_else(default_plugin_dir);
            super::plugin_test::run(home, &store, &tenant, &plugin_dir, json).await
        }
    }
}

/// Returns the directory under the home that contains installed override plugins.
pub fn installed_plugin_dir(home: &Home) -> PathBuf {
    home.root().join("plugins")
}

/// Reads the record of `tenant`'s installed override plugin, if any.
pub fn installed(store: &Store, tenant: &str) -> anyhow::Result<Option<InstalledPlugin>> {
    let tree = store.tree(PLUGINS_TREE)?;
    let Some(bytes) = tree.get(tenant_key(tenant, "overrides"))? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&bytes)
        .with_context(|| format!("tenant {tenant}: the stored override plugin record is unreadable"))?;
    Ok(Some(record))
}

fn add(home: &Home, store: &Store, tenant: &str, file: &Path) -> anyhow::Result<()> {
    store.tenants()?.require(tenant)?;
    let bytes =
        crate::runtime::read_component(file).with_context(|| format!("cannot read the component {}", file.display()))?;

    // Loading compiles the component and checks its imports and exports
    // against the contract version and the tenant-overrides world.
    let runtime = super::run::open_runtime(home)?;
    runtime
        .load(file, World::TenantOverrides)
        .with_context(|| format!("tenant {tenant}: {} is not a valid override plugin", file.display()))?;

    // `run` and `serve` load the tenant's override plugin from this
    // directory before `<plugin-dir>/<tenant>-overrides.wasm`.
    let dir = installed_plugin_dir(home);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(overrides_plugin_file(tenant));
    // Write a temporary file and rename it, so no reader sees a half-written
    // component.
    let partial = target.with_extension("wasm.partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &target).with_context(|| format!("cannot install {}", target.display()))?;

    let record = InstalledPlugin {
        tenant: tenant.to_owned(),
        file: target.clone(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        source: file.to_owned(),
        added: jiff::Timestamp::now(),
    };
    store.tree(PLUGINS_TREE)?.insert(tenant_key(tenant, "overrides"), serde_json::to_vec(&record)?)?;
    store.flush()?;
    println!("Tenant {tenant}: override plugin installed as {} (sha256 {}).", target.display(), record.sha256);
    Ok(())
}

fn list(store: &Store, tenant: Option<&str>, json: bool) -> anyhow::Result<()> {
    let tenants = match tenant {
        Some(name) => vec![store.tenants()?.require(name)?.name],
        None => store.tenants()?.list()?.into_iter().map(|settings| settings.name).collect(),
    };
    let mut records = Vec::new();
    for tenant in tenants {
        if let Some(record) = installed(store, &tenant)? {
            records.push(record);
        }
    }
    if json {
        return print_json(&records);
    }
    if records.is_empty() {
        println!("No override plugins are installed.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            vec![
                record.tenant.clone(),
                record.file.display().to_string(),
                record.sha256.clone(),
                record.added.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            ]
        })
        .collect();
    print_table(&["tenant", "file", "sha256", "added"], &rows);
    Ok(())
}

fn remove(store: &Store, tenant: &str) -> anyhow::Result<()> {
    store.tenants()?.require(tenant)?;
    let Some(record) = installed(store, tenant)? else {
        bail!("tenant {tenant} has no override plugin");
    };
    match std::fs::remove_file(&record.file) {
        Ok(()) => {}
        // The file is gone already; removing the record finishes the job.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("cannot remove {}", record.file.display())),
    }
    store.tree(PLUGINS_TREE)?.remove(tenant_key(tenant, "overrides"))?;
    store.flush()?;
    println!("Tenant {tenant}: override plugin removed.");
    Ok(())
}

/// Returns the path of the core plugin inside `plugin_dir`.
pub fn core_plugin(plugin_dir: &Path) -> PathBuf {
    plugin_dir.join(CORE_PLUGIN)
}
