//! Tenant credentials encrypted at rest with XChaCha20-Poly1305.
//!
//! Each value is stored as `version || nonce (24 bytes) || ciphertext+tag`
//! under the key `tenant NUL name` in the `secrets` tree. The nonce is random
//! per write, and the tenant and secret name are the associated data, so a
//! ciphertext copied to another tenant or another name fails to decrypt
//! instead of leaking into the wrong place.
//!
//! The 32-byte key comes from `LEAFBRIDGE_SECRET_KEY` (base64), else from the
//! key file in the home directory, created with mode 0600 on first use.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use super::{Store, StoreError, tenant_key};
pub use crate::capabilities::Secret;
use crate::capabilities::TenantSecrets;

/// The tree that contains the encrypted values.
pub const SECRETS_TREE: &str = "secrets";
/// The environment variable that may hold the key, as base64 of 32 bytes.
pub const KEY_ENV: &str = "LEAFBRIDGE_SECRET_KEY";
/// The environment variable that contains the next key when rotating a key
/// that comes from `LEAFBRIDGE_SECRET_KEY`.
pub const NEW_KEY_ENV: &str = "LEAFBRIDGE_NEW_SECRET_KEY";

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// The longest accepted secret; API keys and client secrets are far shorter.
pub const MAX_SECRET_LEN: usize = 4096;

/// Errors of secret storage.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{KEY_ENV} is not valid: {0}; it must be the base64 encoding of exactly 32 bytes")]
    InvalidEnvKey(String),
    #[error("the key file {path} is not valid: {reason}")]
    InvalidKeyFile { path: PathBuf, reason: String },
    #[error("cannot access the key file {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("unknown secret name {0:?}; expected one of leaflink.api_key, business_central.client_secret, leaflink.webhook_key")]
    UnknownName(String),
    #[error("the value of {name} for tenant {tenant} is {reason}")]
    InvalidValue { tenant: String, name: SecretName, reason: &'static str },
    #[error("secret {name} of tenant {tenant} cannot be decrypted: the key is wrong or the stored value was altered")]
    Decrypt { tenant: String, name: SecretName },
    #[error("secret {name} of tenant {tenant} is not set; set it with `leafbridge tenant credentials {tenant}`")]
    NotSet { tenant: String, name: SecretName },
    #[error("cannot rotate the key: {0}")]
    Rotate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for SecretError {
    fn from(error: sled::Error) -> Self {
        Self::Store(StoreError::Sled(error))
    }
}

/// The credentials a tenant may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretName {
    /// LeafLink `Authorization: App <key>`.
    LeafLinkApiKey,
    /// The OAuth2 client secret of the tenant's Entra application.
    BusinessCentralClientSecret,
    /// The Company Webhook Key that signs LeafLink webhooks (`LL-Signature`).
    LeafLinkWebhookKey,
    /// The `clientState` leafbridge puts on the tenant's BC webhook
    /// subscriptions and expects back in every notification. leafbridge
    /// generates it; operators do not enter it.
    BusinessCentralClientState,
}

impl SecretName {
    pub const ALL: [SecretName; 4] = [
        SecretName::LeafLinkApiKey,
        SecretName::BusinessCentralClientSecret,
        SecretName::LeafLinkWebhookKey,
        SecretName::BusinessCentralClientState,
    ];

    /// The secrets an operator supplies through `leafbridge tenant credentials`.
    pub const OPERATOR_SUPPLIED: [SecretName; 3] =
        [SecretName::LeafLinkApiKey, SecretName::BusinessCentralClientSecret, SecretName::LeafLinkWebhookKey];

    /// Returns the name used on the command line and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::LeafLinkApiKey => "leaflink.api_key",
            SecretName::BusinessCentralClientSecret => "business_central.client_secret",
            SecretName::LeafLinkWebhookKey => "leaflink.webhook_key",
            SecretName::BusinessCentralClientState => "business_central.client_state",
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for SecretName {
    type Err = SecretError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        SecretName::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == name)
            .ok_or_else(|| SecretError::UnknownName(name.to_owned()))
    }
}

/// The 32-byte key that encrypts secrets.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretKey([redacted])")
    }
}

/// Where the key in use came from, which decides how it is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

impl SecretKey {
    /// Makes a fresh random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// Decodes a base64 key of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let mut decoded = BASE64.decode(text.trim()).map_err(|error| error.to_string())?;
        if decoded.len() != 32 {
            let length = decoded.len();
            decoded.zeroize();
            return Err(format!("it decodes to {length} bytes"));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        Ok(Self(bytes))
    }

    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.0.as_ref()))
    }

    /// Loads the key from `LEAFBRIDGE_SECRET_KEY`, else from `key_file`,
    /// creating the file with mode 0600 and a random key when it is missing.
    pub fn load_or_create(key_file: &Path) -> Result<(Self, KeySource), SecretError> {
        if let Some(text) = std::env::var_os(KEY_ENV).filter(|value| !value.is_empty()) {
            let text = text.to_str().ok_or_else(|| SecretError::InvalidEnvKey("not UTF-8".to_owned()))?;
            let key = Self::from_base64(text).map_err(SecretError::InvalidEnvKey)?;
            return Ok((key, KeySource::Environment));
        }

        match std::fs::read_to_string(key_file) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let key = Self::from_base64(&text)
                    .map_err(|reason| SecretError::InvalidKeyFile { path: key_file.to_owned(), reason })?;
                Ok((key, KeySource::File(key_file.to_owned())))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                key.write_new_file(key_file)?;
                Ok((key, KeySource::File(key_file.to_owned())))
            }
            Err(source) => Err(SecretError::KeyFile { path: key_file.to_owned(), source }),
        }
    }

    /// Writes the key to a file that must not exist yet, readable only by the
    /// owner, and syncs it to disk.
    fn write_new_file(&self, path: &Path) -> Result<(), SecretError> {
        let io_error = |source| SecretError::KeyFile { path: path.to_owned(), source };

        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_error)?;
        file.write_all(self.to_base64().as_bytes()).map_err(io_error)?;
        file.write_all(b"\n").map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        Ok(())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }
}

/// The encrypted credentials of every tenant.
#[derive(Clone)]
pub struct Secrets {
    tree: sled::Tree,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Secrets").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the secret store with `key`.
    pub fn secrets(&self, key: &SecretKey) -> Result<Secrets, StoreError> {
        Ok(Secrets { tree: self.tree(SECRETS_TREE)?, cipher: key.cipher() })
    }
}

impl Secrets {
    /// Encrypts and stores one secret, replacing any previous value.
    pub fn set(&self, tenant: &str, name: SecretName, value: &str) -> Result<(), SecretError> {
        let invalid = |reason| SecretError::InvalidValue { tenant: tenant.to_owned(), name, reason };
        if value.is_empty() {
            return Err(invalid("empty"));
        }
        if value.len() > MAX_SECRET_LEN {
            return Err(invalid("longer than 4096 bytes"));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid("not allowed to contain control characters"));
        }

        let sealed = seal(&self.cipher, tenant, name, value.as_bytes());
        self.tree.insert(tenant_key(tenant, name.as_str()), sealed)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Decrypts one secret; `None` when it was never set.
    pub fn get(&self, tenant: &str, name: SecretName) -> Result<Option<Secret>, SecretError> {
        let Some(sealed) = self.tree.get(tenant_key(tenant, name.as_str()))? else {
            return Ok(None);
        };
        let plain = open(&self.cipher, tenant, name, &sealed)
            .ok_or_else(|| SecretError::Decrypt { tenant: tenant.to_owned(), name })?;
        let text = String::from_utf8(plain.to_vec())
            .map_err(|_| SecretError::Decrypt { tenant: tenant.to_owned(), name })?;
        Ok(Some(Secret::new(text)))
    }

    /// Decrypts one secret that must be set.
    pub fn require(&self, tenant: &str, name: SecretName) -> Result<Secret, SecretError> {
        self.get(tenant, name)?.ok_or_else(|| SecretError::NotSet { tenant: tenant.to_owned(), name })
    }

    /// Decrypts the credentials the capabilities attach to a tenant's requests.
    pub fn tenant_secrets(&self, tenant: &str) -> Result<TenantSecrets, SecretError> {
        Ok(TenantSecrets {
            leaflink_api_key: self.require(tenant, SecretName::LeafLinkApiKey)?,
            business_central_client_secret: self.require(tenant, SecretName::BusinessCentralClientSecret)?,
        })
    }

    /// Reports whether a secret is stored, without decrypting it.
    pub fn is_set(&self, tenant: &str, name: SecretName) -> Result<bool, SecretError> {
        Ok(self.tree.contains_key(tenant_key(tenant, name.as_str()))?)
    }

    /// Returns the tenant's BC `clientState`, generating and storing a random
    /// one on first use.
    pub fn client_state(&self, tenant: &str) -> Result<Secret, SecretError> {
        if let Some(existing) = self.get(tenant, SecretName::BusinessCentralClientState)? {
            return Ok(existing);
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let value = hex::encode(bytes);
        bytes.zeroize();
        self.set(tenant, SecretName::BusinessCentralClientState, &value)?;
        Ok(Secret::new(value))
    }

    /// Removes one secret; returns whether it was set.
    pub fn remove(&self, tenant: &str, name: SecretName) -> Result<bool, SecretError> {
        let removed = self.tree.remove(tenant_key(tenant, name.as_str()))?.is_some();
        self.tree.flush()?;
        Ok(removed)
    }

    /// True when this key opens every stored secret (also when none is stored).
    fn opens_all(&self) -> Result<bool, SecretError> {
        for entry in self.tree.iter() {
            let (key, sealed) = entry?;
            let (tenant, name) = split_key(&key)?;
            if open(&self.cipher, &tenant, name, &sealed).is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Re-encrypts every stored secret under `new_key` in one transaction, so
    /// a crash leaves either all old or all new ciphertexts. Returns how many
    /// secrets were re-encrypted and the store opened with the new key.
    ///
    /// The caller must make the new key durable before calling this and
    /// switch to it afterwards (see `rotate_key_file`).
    pub fn reencrypt(&self, new_key: &SecretKey) -> Result<(usize, Secrets), SecretError> {
        let new_cipher = new_key.cipher();

        let mut rewritten = Vec::new();
        for entry in self.tree.iter() {
            let (key, sealed) = entry?;
            let (tenant, name) = split_key(&key)?;
            let plain = open(&self.cipher, &tenant, name, &sealed)
                .ok_or_else(|| SecretError::Decrypt { tenant: tenant.clone(), name })?;
            rewritten.push((key, seal(&new_cipher, &tenant, name, &plain)));
        }

        let mut batch = sled::Batch::default();
        for (key, sealed) in &rewritten {
            batch.insert(key.clone(), sealed.clone());
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok((rewritten.len(), Secrets { tree: self.tree.clone(), cipher: new_cipher }))
    }
}

/// Loads the key of a home's store like `SecretKey::load_or_create`, after
/// finishing a rotation that was interrupted (see `finish_interrupted_rotation`).
pub fn load_store_key(store: &Store, key_file: &Path) -> Result<(SecretKey, KeySource), SecretError> {
    if std::env::var_os(KEY_ENV).is_none_or(|value| value.is_empty()) {
        finish_interrupted_rotation(store, key_file)?;
    }
    SecretKey::load_or_create(key_file)
}

/// The outcome of `finish_interrupted_rotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationRecovery {
    /// No rotation was interrupted.
    NoneInterrupted,
    /// The secrets were still under the old key; the new key file was removed.
    Discarded,
    /// The secrets were already under the new key; it replaced the old one.
    Completed,
}

/// Finishes a rotation that stopped before its last step. A rotation writes
/// `<key_file>.new`, re-encrypts every secret in one transaction and then
/// renames the new file over the old one. A crash therefore leaves the new
/// file next to the old, with the secrets under exactly one of the two keys.
/// The key that opens every stored secret is kept and the other removed.
pub fn finish_interrupted_rotation(store: &Store, key_file: &Path) -> Result<RotationRecovery, SecretError> {
    let pending = pending_key_file(key_file);
    if !pending.exists() {
        return Ok(RotationRecovery::NoneInterrupted);
    }

    let read_key = |path: &Path| -> Result<SecretKey, SecretError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| SecretError::KeyFile { path: path.to_owned(), source })?);
        SecretKey::from_base64(&text).map_err(|reason| SecretError::InvalidKeyFile { path: path.to_owned(), reason })
    };
    let old_key = read_key(key_file)?;
    // A rotation syncs the new key to disk before it re-encrypts anything,
    // so a new key file that is empty or invalid (a crash while it was
    // written) never encrypted a secret.
    let new_key = match read_key(&pending) {
        Err(error @ SecretError::KeyFile { .. }) => return Err(error),
        read => read,
    };
    let opens_all = |key: &SecretKey| -> Result<bool, SecretError> { store.secrets(key)?.opens_all() };

    if opens_all(&old_key)? {
        std::fs::remove_file(&pending).map_err(|source| SecretError::KeyFile { path: pending.clone(), source })?;
        tracing::warn!(key_file = %key_file.display(), "an interrupted key rotation had not re-encrypted the secrets, so its new key file was removed");
        return Ok(RotationRecovery::Discarded);
    }

    let new_key = new_key?;
    if opens_all(&new_key)? {
        std::fs::rename(&pending, key_file).map_err(|source| SecretError::KeyFile { path: key_file.to_owned(), source })?;
        tracing::warn!(key_file = %key_file.display(), "finished an interrupted key rotation: the secrets were under its new key, which now replaces the old one");
        return Ok(RotationRecovery::Completed);
    }

    Err(SecretError::Rotate(format!(
        "{} exists from an interrupted rotation, but neither it nor {} opens every stored secret; keep both files and restore the store or the key from a backup",
        pending.display(),
        key_file.display()
    )))
}

/// Rotates the key of a home whose key lives in `key_file`: writes the new
/// key next to it, re-encrypts every secret, then renames the new key file
/// over the old one. Returns how many secrets were re-encrypted. A rotation
/// interrupted before is finished first.
pub fn rotate_key_file(store: &Store, key_file: &Path) -> Result<usize, SecretError> {
    let (old_key, source) = load_store_key(store, key_file)?;
    if source == KeySource::Environment {
        return Err(SecretError::Rotate(format!(
            "the key comes from {KEY_ENV}; use rotate_key_env with the new key in {NEW_KEY_ENV}"
        )));
    }

    let pending = pending_key_file(key_file);
    let new_key = SecretKey::generate();
    new_key.write_new_file(&pending)?;

    let secrets = store.secrets(&old_key)?;
    let (count, _) = secrets.reencrypt(&new_key)?;

    std::fs::rename(&pending, key_file).map_err(|source| SecretError::KeyFile { path: key_file.to_owned(), source })?;
    Ok(count)
}

/// Rotates from the key in `LEAFBRIDGE_SECRET_KEY` to the key in
/// `LEAFBRIDGE_NEW_SECRET_KEY`; the operator then replaces the first with the second.
pub fn rotate_key_env(store: &Store) -> Result<usize, SecretError> {
    let old_text = std::env::var(KEY_ENV).map_err(|_| SecretError::Rotate(format!("{KEY_ENV} is not set")))?;
    let new_text = std::env::var(NEW_KEY_ENV).map_err(|_| SecretError::Rotate(format!("{NEW_KEY_ENV} is not set")))?;
    let old_key = SecretKey::from_base64(&old_text).map_err(SecretError::InvalidEnvKey)?;
    let new_key = SecretKey::from_base64(&new_text)
        .map_err(|reason| SecretError::Rotate(format!("{NEW_KEY_ENV} is not valid: {reason}")))?;
    match store.secrets(&old_key)?.reencrypt(&new_key) {
        Ok((count, _)) => Ok(count),
        // A rotation that committed before it could report leaves the
        // secrets under the new key while the old variable is still set.
        Err(SecretError::Decrypt { .. }) if store.secrets(&new_key)?.opens_all()? => Err(SecretError::Rotate(format!(
            "the secrets are already under the key in {NEW_KEY_ENV} (an earlier rotation finished); set {KEY_ENV} to that key"
        ))),
        Err(error) => Err(error),
    }
}

/// Returns the path a rotation writes the new key to before it takes effect.
pub fn pending_key_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

fn associated_data(tenant: &str, name: SecretName) -> Vec<u8> {
    tenant_key(tenant, name.as_str())
}

fn seal(cipher: &XChaCha20Poly1305, tenant: &str, name: SecretName, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated_data(tenant, name);
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
        .expect("XChaCha20-Poly1305 encryption fails only for inputs beyond 256 GiB");

    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(FORMAT_VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

fn open(cipher: &XChaCha20Poly1305, tenant: &str, name: SecretName, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_VERSION {
        return None;
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let aad = associated_data(tenant, name);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
        .ok()
        .map(Zeroizing::new)
}

fn split_key(key: &[u8]) -> Result<(String, SecretName), SecretError> {
    let corrupt = |reason: &str| {
        SecretError::Store(StoreError::Corrupt {
            key: format!("{SECRETS_TREE}/{}", String::from_utf8_lossy(key).replace('\0', "/")),
            reason: reason.to_owned(),
        })
    };
    let separator = key.iter().position(|&byte| byte == 0).ok_or_else(|| corrupt("no tenant separator"))?;
    let tenant = std::str::from_utf8(&key[..separator]).map_err(|_| corrupt("tenant is not UTF-8"))?;
    let name = std::str::from_utf8(&key[separator + 1..]).map_err(|_| corrupt("name is not UTF-8"))?;
    let name = name.parse::<SecretName>().map_err(|_| corrupt("unknown secret name"))?;
    Ok((tenant.to_owned(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        (dir, store)
    }

    #[test]
    fn set_then_get_round_trips() {
        let (_dir, store) = temp_store();
        let secrets = store.secrets(&SecretKey::generate()).unwrap();
        secrets.set("acme", SecretName::LeafLinkApiKey, "ll-key-123").unwrap();
        let value = secrets.require("acme", SecretName::LeafLinkApiKey).unwrap();
        assert_eq!(value.expose(), "ll-key-123");
        assert_eq!(format!("{value:?}"), "[redacted]");
    }

    #[test]
    fn ciphertext_moved_to_other_tenant_fails() {
        let (_dir, store) = temp_store();
        let secrets = store.secrets(&SecretKey::generate()).unwrap();
        secrets.set("acme", SecretName::LeafLinkApiKey, "ll-key-123").unwrap();
        let tree = store.tree(SECRETS_TREE).unwrap();
        let sealed = tree.get(tenant_key("acme", "leaflink.api_key")).unwrap().unwrap();
        tree.insert(tenant_key("other", "leaflink.api_key"), sealed).unwrap();
        let error = secrets.get("other", SecretName::LeafLinkApiKey).unwrap_err();
        assert!(matches!(error, SecretError::Decrypt { .. }));
    }

    #[test]
    fn wrong_key_fails_to_decrypt() {
        let (_dir, store) = temp_store();
        store.secrets(&SecretKey::generate()).unwrap().set("acme", SecretName::LeafLinkApiKey, "v").unwrap();
        let other = store.secrets(&SecretKey::generate()).unwrap();
        assert!(other.get("acme", SecretName::LeafLinkApiKey).is_err());
    }

    #[test]
    fn rejects_control_characters() {
        let (_dir, store) = temp_store();
        let secrets = store.secrets(&SecretKey::generate()).unwrap();
        assert!(secrets.set("acme", SecretName::LeafLinkApiKey, "a\nb").is_err());
        assert!(secrets.set("acme", SecretName::LeafLinkApiKey, "").is_err());
    }

    /// Builds a home whose rotation stopped after writing `<key>.new` and,
    /// with `reencrypted`, after re-encrypting every secret under it.
    fn interrupted_rotation(reencrypted: bool) -> (tempfile::TempDir, Store, PathBuf, SecretKey, SecretKey) {
        let (dir, store) = temp_store();
        let key_file = dir.path().join("secrets.key");
        let (old_key, _) = SecretKey::load_or_create(&key_file).unwrap();
        store.secrets(&old_key).unwrap().set("acme", SecretName::LeafLinkApiKey, "ll-key-123").unwrap();
        let new_key = SecretKey::generate();
        new_key.write_new_file(&pending_key_file(&key_file)).unwrap();
        if reencrypted {
            store.secrets(&old_key).unwrap().reencrypt(&new_key).unwrap();
        }
        (dir, store, key_file, old_key, new_key)
    }

    #[test]
    fn interrupted_rotation_completed() {
        let (_dir, store, key_file, _old_key, new_key) = interrupted_rotation(true);
        assert_eq!(finish_interrupted_rotation(&store, &key_file).unwrap(), RotationRecovery::Completed);
        assert!(!pending_key_file(&key_file).exists());
        let (key, _) = SecretKey::load_or_create(&key_file).unwrap();
        assert_eq!(key.0[..], new_key.0[..]);
        let value = store.secrets(&key).unwrap().require("acme", SecretName::LeafLinkApiKey).unwrap();
        assert_eq!(value.expose(), "ll-key-123");
    }

    #[test]
    fn empty_new_key_file_discarded() {
        let (dir, store) = temp_store();
        let key_file = dir.path().join("secrets.key");
        let (old_key, _) = SecretKey::load_or_create(&key_file).unwrap();
        store.secrets(&old_key).unwrap().set("acme", SecretName::LeafLinkApiKey, "ll-key-123").unwrap();
        std::fs::write(pending_key_file(&key_file), "").unwrap();

        let (key, _) = load_store_key(&store, &key_file).unwrap();
        assert!(!pending_key_file(&key_file).exists());
        let value = store.secrets(&key).unwrap().require("acme", SecretName::LeafLinkApiKey).unwrap();
        assert_eq!(value.expose(), "ll-key-123");
    }

    #[test]
    fn interrupted_rotation_discarded() {
        let (_dir, store, key_file, old_key, _new_key) = interrupted_rotation(false);
        let (key, _) = load_store_key(&store, &key_file).unwrap();
        assert!(!pending_key_file(&key_file).exists());
        assert_eq!(key.0[..], old_key.0[..]);
        let value = store.secrets(&key).unwrap().require("acme", SecretName::LeafLinkApiKey).unwrap();
        assert_eq!(value.expose(), "ll-key-123");
        assert_eq!(finish_interrupted_rotation(&store, &key_file).unwrap(), RotationRecovery::NoneInterrupted);
    }
}
