//! Credentials never leave the encrypted store: not in logs, not in command
//! output, not in plain text on disk; and key rotation keeps them readable.

use std::path::Path;

use leafbridge::store::Store;
use leafbridge::store::secrets::{SECRETS_TREE, SecretKey, SecretName};

use crate::cli::{leafbridge, stderr, stdout, tenant_flags};

const LEAFLINK_KEY: &str = "suite-ll-key-d41d8cd98f00";
const BC_SECRET: &str = "suite-bc-secret-e3b0c44298fc";
const WEBHOOK_KEY: &str = "suite-webhook-key-7d793037a076";

fn all_test_secrets() -> [&'static str; 3] {
    [LEAFLINK_KEY, BC_SECRET, WEBHOOK_KEY]
}

/// Lists every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn set_credentials(home: &Path) -> std::process::Output {
    let input = format!(
        "leaflink.api_key={LEAFLINK_KEY}\nbusiness_central.client_secret={BC_SECRET}\nleaflink.webhook_key={WEBHOOK_KEY}\n"
    );
    leafbridge(home, &["tenant", "credentials", "acme"], &input)
}

fn add_tenant(home: &Path) {
    let flags = tenant_flags("acme");
    let mut args = vec!["tenant", "add"];
    args.extend(flags.iter().map(String::as_str));
    let output = leafbridge(home, &args, "");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn secrets_absent_from_logs_and_store_files() {
    let home = tempfile::tempdir().unwrap();
    add_tenant(home.path());

    let mut outputs = vec![set_credentials(home.path())];
    outputs.push(leafbridge(home.path(), &["tenant", "show", "acme"], ""));
    outputs.push(leafbridge(home.path(), &["tenant", "show", "acme", "--json"], ""));
    outputs.push(leafbridge(home.path(), &["tenant", "list", "--json"], ""));
    outputs.push(leafbridge(home.path(), &["secrets", "rotate-key"], ""));
    outputs.push(leafbridge(home.path(), &["tenant", "show", "acme"], ""));
    for output in &outputs {
        assert!(output.status.success(), "{}", stderr(output));
    }

    let mut lines_scanned = 0;
    for output in &outputs {
        for line in stdout(output).lines().chain(stderr(output).lines()) {
            lines_scanned += 1;
            for secret in all_test_secrets() {
                assert!(!line.contains(secret), "a secret appeared in output: {line}");
            }
        }
    }
    assert!(lines_scanned > 0, "the commands printed nothing to scan");

    let files = files_under(home.path());
    assert!(files.iter().any(|file| file.starts_with(home.path().join("store"))), "the store wrote no files");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for secret in all_test_secrets() {
            assert!(!contains_bytes(&bytes, secret.as_bytes()), "{} holds a secret in plain text", file.display());
        }
    }
}

#[test]
fn key_file_is_private() {
    let home = tempfile::tempdir().unwrap();
    add_tenant(home.path());
    assert!(set_credentials(home.path()).status.success());

    let key_file = home.path().join("secrets.key");
    assert!(key_file.exists(), "the first use of a secret created no key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn key_rotation_reencrypts_and_stays_readable() {
    let home = tempfile::tempdir().unwrap();
    add_tenant(home.path());
    assert!(set_credentials(home.path()).status.success());

    let key_file = home.path().join("secrets.key");
    let old_key_text = std::fs::read_to_string(&key_file).unwrap();
    let old_ciphertexts = read_ciphertexts(home.path());
    assert_eq!(old_ciphertexts.len(), 3);

    let rotated = leafbridge(home.path(), &["key", "rotate"], "");
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(stdout(&rotated).contains("re-encrypted 3 secrets"));

    let new_key_text = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key_text, new_key_text, "the key file did not change");
    assert!(!home.path().join("secrets.key.new").exists());

    let new_ciphertexts = read_ciphertexts(home.path());
    for (key, old) in &old_ciphertexts {
        let new = new_ciphertexts.iter().find(|(candidate, _)| candidate == key).map(|(_, value)| value).unwrap();
        assert_ne!(old, new, "a ciphertext did not change");
    }

    let store = Store::open(&home.path().join("store")).unwrap();
    let new_key = SecretKey::from_base64(&new_key_text).unwrap();
    let secrets = store.secrets(&new_key).unwrap();
    assert_eq!(secrets.require("acme", SecretName::LeafLinkApiKey).unwrap().expose(), LEAFLINK_KEY);
    assert_eq!(secrets.require("acme", SecretName::BusinessCentralClientSecret).unwrap().expose(), BC_SECRET);
    assert_eq!(secrets.require("acme", SecretName::LeafLinkWebhookKey).unwrap().expose(), WEBHOOK_KEY);

    let old_key = SecretKey::from_base64(&old_key_text).unwrap();
    assert!(store.secrets(&old_key).unwrap().get("acme", SecretName::LeafLinkApiKey).is_err(), "the old key still decrypts");
}

#[test]
fn key_rotation_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let old_key = SecretKey::generate();
    store.secrets(&old_key).unwrap().set("acme", SecretName::LeafLinkApiKey, LEAFLINK_KEY).unwrap();
    let new_key = SecretKey::generate();

    let (count, rotated) = store.secrets(&old_key).unwrap().reencrypt(&new_key).unwrap();
    assert_eq!(count, 1);
    assert_eq!(rotated.require("acme", SecretName::LeafLinkApiKey).unwrap().expose(), LEAFLINK_KEY);
    assert!(store.secrets(&old_key).unwrap().get("acme", SecretName::LeafLinkApiKey).is_err());
}

#[test]
fn tenant_removal_deletes_its_secrets() {
    let home = tempfile::tempdir().unwrap();
    add_tenant(home.path());
    assert!(set_credentials(home.path()).status.success());
    assert!(leafbridge(home.path(), &["tenant", "remove", "acme", "--yes"], "").status.success());
    assert!(read_ciphertexts(home.path()).is_empty());
}

fn read_ciphertexts(home: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let store = Store::open(&home.join("store")).unwrap();
    store
        .tree(SECRETS_TREE)
        .unwrap()
        .iter()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}
