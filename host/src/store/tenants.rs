//! Tenant definitions kept in the store: one JSON `TenantSettings` per tenant
//! in the `tenants` tree, and removal of everything a tenant owns.

use crate::tenant::TenantSettings;

use super::{Store, StoreError, tenant_key};

/// The tree that contains one serialised `TenantSettings` per tenant.
pub const TENANTS_TREE: &str = "tenants";

/// Errors of tenant registration and lookup.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} already exists; use `leafbridge tenant edit` to change it")]
    AlreadyExists(String),
    #[error("tenant {0} not found; `leafbridge tenant list` shows the registered tenants")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for TenantError {
    fn from(error: sled::Error) -> Self {
        Self::Store(StoreError::Sled(error))
    }
}

/// Registered tenants, read and written through the store.
#[derive(Debug, Clone)]
pub struct Tenants {
    store: Store,
    tree: sled::Tree,
}

impl Store {
    /// Opens the tenant registry of this store.
    pub fn tenants(&self) -> Result<Tenants, StoreError> {
        Ok(Tenants { store: self.clone(), tree: self.tree(TENANTS_TREE)? })
    }
}

impl Tenants {
    /// Stores a new tenant; fails if one with the same name exists.
    pub fn register(&self, settings: &TenantSettings) -> Result<(), TenantError> {
        let key = settings_key(&settings.name);
        let value = encode(settings)?;
        let previous = self.tree.compare_and_swap(&key, None::<&[u8]>, Some(value))?;
        if previous.is_err() {
            return Err(TenantError::AlreadyExists(settings.name.clone()));
        }
        self.tree.flush()?;
        Ok(())
    }

    /// Lists every tenant, ordered by name.
    pub fn list(&self) -> Result<Vec<TenantSettings>, TenantError> {
        let mut tenants = Vec::new();
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            tenants.push(decode(&key, &value)?);
        }
        Ok(tenants)
    }

    /// Returns the tenant called `name`, if registered.
    pub fn get(&self, name: &str) -> Result<Option<TenantSettings>, TenantError> {
        let key = settings_key(name);
        match self.tree.get(&key)? {
            Some(value) => Ok(Some(decode(&key, &value)?)),
            None => Ok(None),
        }
    }

    /// Returns the tenant called `name`, or `NotFound`.
    pub fn require(&self, name: &str) -> Result<TenantSettings, TenantError> {
        self.get(name)?.ok_or_else(|| TenantError::NotFound(name.to_owned()))
    }

    /// Replaces the settings of an existing tenant; the name cannot change,
    /// because every per-tenant key in the store starts with it.
    pub fn update(&self, settings: &TenantSettings) -> Result<(), TenantError> {
        let key = settings_key(&settings.name);
        let value = encode(settings)?;
        let updated = self.tree.fetch_and_update(&key, |current| current.map(|_| value.clone()))?;
        if updated.is_none() {
            return Err(TenantError::NotFound(settings.name.clone()));
        }
        self.tree.flush()?;
        Ok(())
    }

    /// Deletes the tenant and every key with its prefix in every tree (secrets,
    /// schedules, cross-references, cursors, runs, dead letters) and returns
    /// how many keys were removed.
    pub fn remove(&self, name: &str) -> Result<usize, TenantError> {
        if self.tree.get(settings_key(name))?.is_none() {
            return Err(TenantError::NotFound(name.to_owned()));
        }

        let prefix = tenant_key(name, "");
        let mut removed = 0;
        for tree_name in self.store.db.tree_names() {
            let tree = self.store.db.open_tree(&tree_name)?;
            let keys: Vec<sled::IVec> = tree.scan_prefix(&prefix).keys().collect::<Result<_, _>>()?;
            for key in keys {
                tree.remove(key)?;
                removed += 1;
            }
        }
        self.store.flush()?;
        Ok(removed)
    }
}

/// Returns the key of a tenant's settings: the tenant prefix with nothing
/// after it, so the prefix scan in `remove` covers it.
fn settings_key(name: &str) -> Vec<u8> {
    tenant_key(name, "")
}

fn encode(settings: &TenantSettings) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(settings).map_err(|error| StoreError::Corrupt {
        key: format!("{TENANTS_TREE}/{}", settings.name),
        reason: error.to_string(),
    })
}

fn decode(key: &[u8], value: &[u8]) -> Result<TenantSettings, StoreError> {
    serde_json::from_slice(value).map_err(|error| StoreError::Corrupt {
        key: format!("{TENANTS_TREE}/{}", String::from_utf8_lossy(key).trim_end_matches('\0')),
        reason: error.to_string(),
    })
}
