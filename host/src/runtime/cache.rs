//! The on-disk cache of compiled components. An entry's file name is the
//! SHA-256 of the component's bytes and the engine's compatibility hash, so a
//! changed plugin or a host built with another wasmtime or other settings
//! never reads a stale entry.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `bytes`, or reads the compiled form from `cache_dir` when an entry
/// for these bytes and this engine exists. A failure to read or write the
/// cache is logged and costs a compilation, never the load.
pub(crate) fn compile_cached(engine: &Engine, cache_dir: &Path, bytes: &[u8]) -> wasmtime::Result<Component> {
    let entry = entry_path(engine, cache_dir, bytes);

    if entry.exists() {
        // SAFETY: the cache directory belongs to this host, and only
        // `Component::serialize` below writes its entries. The name includes
        // the engine's compatibility hash, which `deserialize_file` checks
        // again.
        match unsafe { Component::deserialize_file(engine, &entry) } {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(entry = %entry.display(), error = %error, "Compiled component cache entry is unusable; recompiling.");
            }
        }
    }

    let component = Component::new(engine, bytes)?;
    if let Err(error) = write_entry(&component, &entry) {
        tracing::warn!(entry = %entry.display(), error = %error, "Cannot write compiled component to the cache.");
    }
    Ok(component)
}

fn entry_path(engine: &Engine, cache_dir: &Path, bytes: &[u8]) -> PathBuf {
    let content = hex::encode(Sha256::digest(bytes));
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let compatibility = hasher.finish();
    cache_dir.join(format!("{content}-{compatibility:016x}.cwasm"))
}

/// Writes through a temporary file and a rename, so neither a concurrent
/// reader nor a crash leaves half an entry behind.
fn write_entry(component: &Component, entry: &Path) -> wasmtime::Result<()> {
    let serialized = component.serialize()?;
    let temporary = entry.with_extension(format!("{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(&temporary, serialized)?;
    std::fs::rename(&temporary, entry)?;
    Ok(())
}
