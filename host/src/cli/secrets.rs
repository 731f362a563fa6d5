//! `leafbridge secrets rotate-key` (also `leafbridge key rotate`).

use anyhow::Context;
use clap::Subcommand;

use super::Home;
use crate::store::secrets::{KEY_ENV, NEW_KEY_ENV, rotate_key_env, rotate_key_file};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored credential under a new key.
    ///
    /// With the key in <home>/secrets.key, a new random key replaces it. With
    /// the key in LEAFBRIDGE_SECRET_KEY, put the new key (base64 of 32 bytes)
    /// in LEAFBRIDGE_NEW_SECRET_KEY, run this, then make the new key the
    /// value of LEAFBRIDGE_SECRET_KEY.
    ///
    /// Examples:
    ///   leafbridge secrets rotate-key
    ///   leafbridge key rotate
    #[command(alias = "rotate", verbatim_doc_comment)]
    RotateKey,
}

pub fn run(home: &Home, command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::RotateKey => {
            let store = super::open_store(home)?;
            let from_env = std::env::var_os(KEY_ENV).is_some_and(|value| !value.is_empty());
            let count = if from_env {
                rotate_key_env(&store).context("key rotation failed; the secrets are unchanged")?
            } else {
                rotate_key_file(&store, &home.key_file()).context("key rotation failed")?
            };
            if from_env {
                println!("re-encrypted {count} secrets; now set {KEY_ENV} to the value of {NEW_KEY_ENV}");
            } else {
                println!("re-encrypted {count} secrets under a new key in {}", home.key_file().display());
            }
            Ok(())
        }
    }
}
