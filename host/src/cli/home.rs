//! The home directory: where a running leafbridge keeps all its state.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The directory that holds the store, the component cache and the key file.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Picks `--home`, else `$LEAFBRIDGE_HOME`, else the platform's data
    /// directory (`~/.local/share/leafbridge` on Linux), and creates it.
    pub fn resolve(flag: Option<PathBuf>) -> anyhow::Result<Self> {
        let root = match flag {
            Some(dir) => dir,
            None => match std::env::var_os("LEAFBRIDGE_HOME") {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir),
                _ => dirs::data_dir()
                    .context("no --home given, LEAFBRIDGE_HOME is unset and the platform has no data directory")?
                    .join("leafbridge"),
            },
        };
        Self::at(root)
    }

    /// Uses `root` as the home directory, creating it if needed. A new
    /// directory is owner-only (0700) on Unix, and an existing one keeps
    /// its mode.
    pub fn at(root: PathBuf) -> anyhow::Result<Self> {
        crate::store::permissions::create_private_dir(&root)
            .with_context(|| format!("cannot create the home directory {}", root.display()))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sled store.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Compiled components, keyed by content hash and engine compatibility hash.
    pub fn component_cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("components")
    }

    /// The key that encrypts secrets at rest, unless one is given in the environment.
    pub fn key_file(&self) -> PathBuf {
        self.root.join("secrets.key")
    }
}
