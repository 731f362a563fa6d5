//! The `leafbridge` command line end to end, each test in its own temporary home.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use leafbridge_tests::leafbridge_binary;

/// Runs `leafbridge --home HOME args...` with `stdin` piped in, under a fixed
/// secret key so runs of one test share it. Logging is at trace level so the
/// secret-scanning tests see everything the process can log.
pub fn leafbridge(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("LEAFBRIDGE_LOG", "trace")
        .env_remove("LEAFBRIDGE_SECRET_KEY")
        .env_remove("LEAFBRIDGE_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leafbridge starts");
    child.stdin.take().expect("stdin is piped").write_all(stdin.as_bytes()).expect("stdin accepts input");
    child.wait_with_output().expect("leafbridge finishes")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns the flags of a valid tenant pointed at loopback sandboxes.
pub fn tenant_flags(name: &str) -> Vec<String> {
    [
        name,
        "--go-live",
        "2025-01-01T00:00:00Z",
        "--time-zone",
        "America/Los_Angeles",
        "--product-master",
        "business-central",
        "--freight-account",
        "6100",
        "--leaflink-url",
        "http://127.0.0.1:9001/api/v2",
        "--bc-url",
        "http://127.0.0.1:9002/v2.0/t/Production/api/v2.0",
        "--bc-token-url",
        "http://127.0.0.1:9002/t/oauth2/v2.0/token",
        "--bc-tenant-id",
        "t",
        "--bc-environment",
        "Production",
        "--bc-company-id",
        "00000000-0000-0000-0000-000000000001",
        "--bc-client-id",
        "client-1",
    ]
    .iter()
    .map(|flag| (*flag).to_owned())
    .collect()
}

/// Runs `tenant add` with the valid flags, with `flag` replaced by `value`.
fn add_with(home: &Path, name: &str, flag: &str, value: &str) -> Output {
    let mut flags = tenant_flags(name);
    let position = flags.iter().position(|candidate| candidate == flag).expect("flag is in the list");
    flags[position + 1] = value.to_owned();
    let mut args = vec!["tenant", "add"];
    args.extend(flags.iter().map(String::as_str));
    leafbridge(home, &args, "")
}

fn add_valid(home: &Path, name: &str) -> Output {
    let flags = tenant_flags(name);
    let mut args = vec!["tenant", "add"];
    args.extend(flags.iter().map(String::as_str));
    leafbridge(home, &args, "")
}

/// Returns the error lines a failed command printed, without log lines.
fn error_lines(output: &Output) -> Vec<String> {
    stderr(output).lines().filter(|line| line.starts_with("error:")).map(str::to_owned).collect()
}

#[test]
fn tenant_add_rejects_invalid_input() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        ("--time-zone", "Mars/Olympus_Mons", "unknown time zone"),
        ("--go-live", "next tuesday", "invalid go_live"),
        ("--go-live", "2025-01-01", "invalid go_live"),
        ("--leaflink-url", "not a url", "invalid URL in leaflink.base_url"),
        ("--bc-url", "http://example.com/api/v2.0", "plain http is allowed only for loopback"),
        ("--bc-token-url", "https://user:pw@login.example.com/token", "user name or password"),
        ("--bc-company-id", "CRONUS USA, Inc.", "invalid business_central.company_id"),
        ("--bc-company-id", "{f64eba74-dacd-4854-a584-1834f68cfc3a}", "invalid business_central.company_id"),
        ("--bc-company-id", "F64EBA74DACD4854A5841834F68CFC3A", "invalid business_central.company_id"),
    ];
    for (flag, value, reason) in cases {
        let output = add_with(home.path(), "acme", flag, value);
        assert!(!output.status.success(), "{flag} {value} was accepted");
        let errors = error_lines(&output);
        assert_eq!(errors.len(), 1, "{flag} {value}: expected one error line, got {errors:?}");
        assert!(errors[0].contains(reason), "{flag} {value}: {:?} does not name {reason:?}", errors[0]);
        assert!(!errors[0].contains('\n'));
    }

    let bad_name = add_valid(home.path(), "Bad Name");
    assert!(!bad_name.status.success());
    assert!(error_lines(&bad_name)[0].contains("invalid tenant name"));

    let list = leafbridge(home.path(), &["tenant", "list", "--json"], "");
    assert!(list.status.success());
    let tenants: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(tenants.as_array().unwrap().len(), 0, "a rejected tenant was stored");
}

#[test]
fn tenant_lifecycle() {
    let home = tempfile::tempdir().unwrap();

    let added = add_valid(home.path(), "acme");
    assert!(added.status.success(), "{}", stderr(&added));
    let duplicate = add_valid(home.path(), "acme");
    assert!(!duplicate.status.success());
    assert!(error_lines(&duplicate)[0].contains("already exists"));

    let list = leafbridge(home.path(), &["tenant", "list", "--json"], "");
    assert!(list.status.success());
    let tenants: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(tenants[0]["name"], "acme");
    assert_eq!(tenants[0]["time_zone"], "America/Los_Angeles");
    assert_eq!(tenants[0]["product_master"], "business-central");

    let show = leafbridge(home.path(), &["tenant", "show", "acme"], "");
    assert!(show.status.success());
    assert!(stdout(&show).contains("America/Los_Angeles"));
    assert!(stdout(&show).contains("leaflink.api_key: not set"));

    let edit = leafbridge(home.path(), &["tenant", "edit", "acme", "--time-zone", "America/Denver"], "");
    assert!(edit.status.success(), "{}", stderr(&edit));
    let bad_edit = leafbridge(home.path(), &["tenant", "edit", "acme", "--time-zone", "Nowhere/City"], "");
    assert!(!bad_edit.status.success());
    let shown_json = leafbridge(home.path(), &["tenant", "show", "acme", "--json"], "");
    let settings: serde_json::Value = serde_json::from_str(&stdout(&shown_json)).unwrap();
    assert_eq!(settings["time_zone"], "America/Denver", "a rejected edit changed the tenant");

    let unconfirmed = leafbridge(home.path(), &["tenant", "remove", "acme"], "");
    assert!(!unconfirmed.status.success());
    let removed = leafbridge(home.path(), &["tenant", "remove", "acme", "--yes"], "");
    assert!(removed.status.success(), "{}", stderr(&removed));
    let missing = leafbridge(home.path(), &["tenant", "show", "acme"], "");
    assert!(!missing.status.success());
    assert!(error_lines(&missing)[0].contains("not found"));
}

#[test]
fn tenant_add_from_toml_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("globex.toml");
    std::fs::write(
        &file,
        r#"
name = "globex"
go_live = "2025-03-01T08:00:00Z"
time_zone = "America/New_York"
product_master = "leaflink"
freight_account = "6200"

[leaflink]
base_url = "https://app.leaflink.com/api/v2"
company_id = 42

[business_central]
base_url = "https://api.businesscentral.dynamics.com/v2.0/t/Production/api/v2.0"
token_url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
tenant_id = "t"
environment = "Production"
company_id = "00000000-0000-0000-0000-000000000003"
client_id = "id"
"#,
    )
    .unwrap();

    let added = leafbridge(home.path(), &["tenant", "add", "--from-file", file.to_str().unwrap()], "");
    assert!(added.status.success(), "{}", stderr(&added));
    let shown_json = leafbridge(home.path(), &["tenant", "show", "globex", "--json"], "");
    let settings: serde_json::Value = serde_json::from_str(&stdout(&shown_json)).unwrap();
    assert_eq!(settings["product_master"], "leaflink");
    assert_eq!(settings["leaflink"]["company_id"], 42);
    assert_eq!(settings["unit_map"]["Gram"], "GR", "defaults apply to fields the file leaves out");
}

#[test]
fn credentials_from_stdin_show_as_set() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());

    let input = "leaflink.api_key=cli-test-ll-key-5c1f\nbusiness_central.client_secret=cli-test-bc-secret-9a7e\n";
    let output = leafbridge(home.path(), &["tenant", "credentials", "acme"], input);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("leaflink.api_key: set"));
    assert!(printed.contains("business_central.client_secret: set"));
    assert!(printed.contains("leaflink.webhook_key: not set"));
    for secret in ["cli-test-ll-key-5c1f", "cli-test-bc-secret-9a7e"] {
        assert!(!printed.contains(secret));
        assert!(!stderr(&output).contains(secret));
    }

    let unknown = leafbridge(home.path(), &["tenant", "credentials", "acme"], "leaflink.password=hunter2-cli\n");
    assert!(!unknown.status.success());
    assert!(error_lines(&unknown)[0].contains("unknown secret name"));
    assert!(!stderr(&unknown).contains("hunter2-cli"), "a rejected value was echoed");

    let malformed = leafbridge(home.path(), &["tenant", "credentials", "acme"], "just-a-value-7f3b\n");
    assert!(!malformed.status.success());
    assert!(!stderr(&malformed).contains("just-a-value-7f3b"), "a malformed line was echoed");

    let blank = leafbridge(home.path(), &["tenant", "credentials", "acme"], "leaflink.api_key=   \n");
    assert!(!blank.status.success());
    assert!(error_lines(&blank)[0].contains("value of leaflink.api_key is empty"), "{}", stderr(&blank));

    // A name given twice is rejected, without echoing either value.
    let twice = "business_central.client_secret=cli-test-bc-new-1\nbusiness_central.client_secret=cli-test-bc-new-2\n";
    let repeated = leafbridge(home.path(), &["tenant", "credentials", "acme"], twice);
    assert!(!repeated.status.success());
    assert!(error_lines(&repeated)[0].contains("business_central.client_secret is given twice (first on line 1)"), "{}", stderr(&repeated));
    assert!(!stderr(&repeated).contains("cli-test-bc-new"), "a rejected value was echoed");
}

#[test]
fn credentials_input_leaves_store_free() {
    use std::io::Write;

    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    let mut reading = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["tenant", "credentials", "acme"])
        .env_remove("LEAFBRIDGE_SECRET_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leafbridge starts");
    // The command has checked the tenant and is waiting for its input,
    // which stays open like an unanswered prompt.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let listed = leafbridge(home.path(), &["tenant", "list", "--json"], "");

    let mut input = reading.stdin.take().unwrap();
    input.write_all(b"leaflink.api_key=cli-test-ll-key-2d4e\n").unwrap();
    drop(input);
    let stored = reading.wait_with_output().unwrap();

    assert!(listed.status.success(), "the store was locked while credentials were read: {}", stderr(&listed));
    assert!(!stderr(&listed).contains("through its admin API"), "{}", stderr(&listed));
    assert!(stored.status.success(), "{}", stderr(&stored));
    assert!(stdout(&stored).contains("leaflink.api_key: set"), "{}", stdout(&stored));
}

#[test]
fn show_json_feeds_edit_from_file() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    let flags = ["tenant", "edit", "acme", "--leaflink-recorded-by", "77", "--setting", "export.item_categories=CANNABIS"];
    let edited = leafbridge(home.path(), &flags, "");
    assert!(edited.status.success(), "{}", stderr(&edited));

    let show_json = leafbridge(home.path(), &["tenant", "show", "acme", "--json"], "");
    let mut definition: serde_json::Value = serde_json::from_str(&stdout(&show_json)).unwrap();
    assert_eq!(definition["leaflink"]["recorded_by"], 77, "{definition}");
    assert_eq!(definition["plugin_settings"]["export.item_categories"], "CANNABIS", "{definition}");
    definition["time_zone"] = "America/Denver".into();
    let file = home.path().join("acme.json");
    std::fs::write(&file, definition.to_string()).unwrap();

    let replaced = leafbridge(home.path(), &["tenant", "edit", "acme", "--from-file", file.to_str().unwrap()], "");
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert!(!stderr(&replaced).contains("note:"), "a clean round trip needs no note: {}", stderr(&replaced));
    definition["schedules"] = serde_json::json!([{ "flow": "orders-import" }]);
    std::fs::write(&file, definition.to_string()).unwrap();
    let noted = leafbridge(home.path(), &["tenant", "edit", "acme", "--from-file", file.to_str().unwrap()], "");
    assert!(noted.status.success(), "{}", stderr(&noted));
    assert!(stderr(&noted).contains("ignored the schedules"), "{}", stderr(&noted));
    let table = leafbridge(home.path(), &["tenant", "show", "acme"], "");
    assert!(stdout(&table).contains("recorded by     77"), "{}", stdout(&table));
    assert!(stdout(&table).contains("export.item_categories=CANNABIS"), "{}", stdout(&table));
    assert!(stdout(&table).contains("Gram=GR"), "the unit map is shown: {}", stdout(&table));
    let cleared = leafbridge(home.path(), &["tenant", "edit", "acme", "--setting", "export.item_categories="], "");
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    let show_json = leafbridge(home.path(), &["tenant", "show", "acme", "--json"], "");
    let definition: serde_json::Value = serde_json::from_str(&stdout(&show_json)).unwrap();
    assert_eq!(definition["time_zone"], "America/Denver", "{definition}");
    assert_eq!(definition["leaflink"]["recorded_by"], 77, "{definition}");
    assert!(definition["plugin_settings"].get("export.item_categories").is_none(), "{definition}");

    let mut args = vec!["tenant".to_owned(), "add".to_owned()];
    args.extend(tenant_flags("bravo"));
    args.extend(
        ["--leaflink-recorded-by", "78", "--setting", "products.price_field=sale_price", "--setting", "unit_map.Ounce=FLOZ"].map(str::to_owned),
    );
    let added = leafbridge(home.path(), &args.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert!(added.status.success(), "{}", stderr(&added));
    let show_json = leafbridge(home.path(), &["tenant", "show", "bravo", "--json"], "");
    let definition: serde_json::Value = serde_json::from_str(&stdout(&show_json)).unwrap();
    assert_eq!(definition["leaflink"]["recorded_by"], 78, "{definition}");
    assert_eq!(definition["plugin_settings"]["products.price_field"], "sale_price", "{definition}");
    assert_eq!(definition["unit_map"]["Ounce"], "FLOZ", "a unit_map key changes the unit map: {definition}");
    assert!(definition["plugin_settings"].get("unit_map.Ounce").is_none(), "{definition}");

    for bad in ["products.price_field=bogus", "unit_map.Ounce=O Z", "leaflink.recorded_by=13"] {
        let rejected = leafbridge(home.path(), &["tenant", "edit", "acme", "--setting", bad], "");
        assert!(!rejected.status.success(), "--setting {bad} was accepted");
        assert!(error_lines(&rejected)[0].contains("invalid"), "{bad}: {}", stderr(&rejected));
    }
    let rejected = leafbridge(home.path(), &["tenant", "edit", "acme", "--leaflink-recorded-by=-5"], "");
    assert!(!rejected.status.success(), "a negative staff id was accepted");

    let malformed = leafbridge(home.path(), &["tenant", "edit", "acme", "--setting", "no-equals-sign"], "");
    assert!(!malformed.status.success());
    assert!(error_lines(&malformed)[0].contains("is not KEY=VALUE"), "{}", stderr(&malformed));
}

#[test]
fn closed_stdout_exits_quietly() {
    let home = tempfile::tempdir().unwrap();
    for name in ["acme", "bravo", "charlie"] {
        assert!(add_valid(home.path(), name).status.success());
    }

    // The reading end closes before the listing is written, as with `| head -0`.
    let mut child = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["tenant", "list"])
        .env_remove("LEAFBRIDGE_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leafbridge starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("leafbridge finishes");

    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!errors.contains("panicked"), "{errors}");
    assert_eq!(output.status.code(), Some(141), "{errors}");
}

#[test]
fn schedule_set_list_pause_resume() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());

    let set = leafbridge(home.path(), &["schedule", "set", "acme", "orders-import", "--every", "15m"], "");
    assert!(set.status.success(), "{}", stderr(&set));
    let cron = leafbridge(home.path(), &["schedule", "set", "acme", "inventory-push", "--cron", "0 */2 * * *"], "");
    assert!(cron.status.success(), "{}", stderr(&cron));

    let exclusive = leafbridge(home.path(), &["schedule", "set", "acme", "products-import", "--every", "1h"], "");
    assert!(!exclusive.status.success(), "products-import was scheduled under a business-central product master");
    assert!(error_lines(&exclusive)[0].contains("product_master"));
    let unknown = leafbridge(home.path(), &["schedule", "set", "acme", "orders-teleport", "--every", "1h"], "");
    assert!(!unknown.status.success());
    let too_often = leafbridge(home.path(), &["schedule", "set", "acme", "orders-import", "--every", "5s"], "");
    assert!(!too_often.status.success());

    let pause = leafbridge(home.path(), &["schedule", "pause", "acme", "orders-import"], "");
    assert!(pause.status.success());
    let list = leafbridge(home.path(), &["schedule", "list", "acme", "--json"], "");
    let entries: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let orders = entries.iter().find(|entry| entry["flow"] == "orders-import").unwrap();
    assert_eq!(orders["paused"], true);
    assert_eq!(orders["cadence"]["seconds"], 900);

    let resume = leafbridge(home.path(), &["schedule", "resume", "acme", "orders-import"], "");
    assert!(resume.status.success());

    // `link` is accepted here as it is by `leafbridge run` and the admin API.
    let link = leafbridge(home.path(), &["schedule", "set", "acme", "link", "--every", "1h"], "");
    assert!(link.status.success(), "{}", stderr(&link));
    assert!(leafbridge(home.path(), &["schedule", "remove", "acme", "link"], "").status.success());

    let switch = leafbridge(home.path(), &["tenant", "edit", "acme", "--product-master", "leaflink"], "");
    assert!(switch.status.success(), "{}", stderr(&switch));
    let export = leafbridge(home.path(), &["schedule", "set", "acme", "products-export", "--every", "1h"], "");
    assert!(!export.status.success(), "products-export was scheduled under a leaflink product master");

    // Removing the tenant removes its schedules with it.
    assert!(leafbridge(home.path(), &["tenant", "remove", "acme", "--yes"], "").status.success());
    let after = leafbridge(home.path(), &["schedule", "list", "--json"], "");
    let entries: serde_json::Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 0);
}

#[test]
fn toml_error_names_line_column() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("acme.toml");
    std::fs::write(&file, "name = \"acme\"\n  go_lieve = \"2025-01-01T00:00:00Z\"\n").unwrap();
    let output = leafbridge(home.path(), &["tenant", "add", "--from-file", file.to_str().unwrap()], "");
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("acme.toml:2:3:"), "no line and column in {:?}", errors[0]);
    assert!(errors[0].contains("go_lieve"), "{:?}", errors[0]);
}

#[test]
fn piped_logs_have_no_colour() {
    let home = tempfile::tempdir().unwrap();
    // The tenant is unknown, so the command logs and fails.
    let output = leafbridge(home.path(), &["run", "nobody", "orders-import"], "");
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(!text.is_empty());
    assert!(!text.contains('\u{1b}'), "ANSI escape codes in piped output: {text:?}");
}

#[test]
fn store_locked_by_serve() {
    use std::io::BufRead;

    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    // Without LEAFBRIDGE_ADMIN_TOKEN, serve creates <home>/admin.token, and
    // the read-only commands find the token there.
    let mut serve = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("LEAFBRIDGE_ADMIN_TOKEN")
        .env("LEAFBRIDGE_LOG", "warn")
        .env_remove("LEAFBRIDGE_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("leafbridge serve starts");
    let mut first_line = String::new();
    std::io::BufReader::new(serve.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    assert!(first_line.starts_with("listening on"), "{first_line:?}");

    let removed = leafbridge(home.path(), &["tenant", "remove", "acme", "--yes"], "");
    let listed = leafbridge(home.path(), &["tenant", "list", "--json"], "");
    let status = leafbridge(home.path(), &["status", "--json"], "");
    let runs = leafbridge(home.path(), &["runs", "acme"], "");
    let unknown = leafbridge(home.path(), &["dead-letters", "list", "nobody"], "");
    let stopped = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    serve.wait().unwrap();

    assert!(!removed.status.success(), "a write must not go past serve's lock");
    let errors = error_lines(&removed);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let holder = format!("in use by `leafbridge serve` (process {})", serve.id());
    assert!(errors[0].contains(&holder), "the error names serve and its process: {:?}", errors[0]);
    assert!(errors[0].contains(&home.path().display().to_string()), "the error names the home: {:?}", errors[0]);
    assert!(errors[0].contains("go through it"), "the error says which commands work while serve runs: {:?}", errors[0]);
    assert_eq!(errors[0].matches("could not acquire lock").count(), 0, "the raw sled error leaks: {:?}", errors[0]);

    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stderr(&listed).contains("through its admin API"), "{}", stderr(&listed));
    let tenants: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(tenants[0]["name"], "acme", "{tenants}");
    assert!(status.status.success(), "{}", stderr(&status));
    let statuses: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(statuses[0]["tenant"], "acme", "{statuses}");
    assert_eq!(statuses[0]["dead_letters"], 0, "{statuses}");
    assert!(runs.status.success(), "{}", stderr(&runs));
    assert!(stdout(&runs).contains("Tenant acme has no recorded runs."), "{}", stdout(&runs));
    assert!(!unknown.status.success());
    let errors = error_lines(&unknown);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("nobody"), "the error names the tenant: {:?}", errors[0]);

    assert!(!home.path().join("serve.json").exists(), "serve leaves its address file behind");
    let after = leafbridge(home.path(), &["status"], "");
    assert!(after.status.success(), "{}", stderr(&after));
    assert!(!stderr(&after).contains("admin API"), "with serve gone, status reads the store: {}", stderr(&after));
}

/// Points `home`'s component cache at the suite's shared one, so a
/// `leafbridge` process started on `home` loads the compiled plugins instead
/// of compiling them again.
#[cfg(unix)]
fn share_component_cache(home: &Path) {
    std::fs::create_dir_all(home.join("cache")).unwrap();
    std::fs::create_dir_all(leafbridge_tests::test_cache_dir()).unwrap();
    std::os::unix::fs::symlink(leafbridge_tests::test_cache_dir(), home.join("cache").join("components")).unwrap();
}

/// Registers `with_credentials` with the sandbox's credentials and
/// `without_credentials` with none in a new store under `home`, and shares
/// the suite's component cache with it.
#[cfg(unix)]
fn register_sandbox_tenants(
    home: &Path,
    sandbox: &leafbridge_sandbox::Sandbox,
    with_credentials: &[&leafbridge::tenant::TenantSettings],
    without_credentials: &[&leafbridge::tenant::TenantSettings],
) {
    use leafbridge::store::Store;
    use leafbridge::store::secrets::{SecretKey, SecretName};

    let store = Store::open(&home.join("store")).unwrap();
    let (key, _) = SecretKey::load_or_create(&home.join("secrets.key")).unwrap();
    let secrets = store.secrets(&key).unwrap();
    for settings in with_credentials {
        store.tenants().unwrap().register(settings).unwrap();
        secrets.set(&settings.name, SecretName::LeafLinkApiKey, &sandbox.info().leaflink.api_key).unwrap();
        secrets.set(&settings.name, SecretName::BusinessCentralClientSecret, &sandbox.info().business_central.client_secret).unwrap();
    }
    for settings in without_credentials {
        store.tenants().unwrap().register(settings).unwrap();
    }
    store.flush().unwrap();
    drop(store);
    share_component_cache(home);
}

/// Without a terminal on stderr, `run` prints plain progress lines there and
/// the last one matches the report's read count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_plain_progress_lines() {
    use leafbridge_sandbox::{Sandbox, SeedConfig};

    use crate::flow_harness::{sandbox_config, settings_for};

    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 5, products: 10, orders: 20, random_seed: 5 })).await.unwrap();
    let settings = settings_for("progress", &sandbox);
    let home = tempfile::tempdir().unwrap();
    register_sandbox_tenants(home.path(), &sandbox, &[&settings], &[]);

    let output = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "run", "progress", "orders-import", "--json"])
        .env("LEAFBRIDGE_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = stderr(&output);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let read = report["read"].as_u64().unwrap();
    assert!(read > 0, "{report}");

    let lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("progress: ")).collect();
    assert!(!lines.is_empty(), "no progress line in {stderr:?}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("progress: tenant progress, flow orders-import: "), "{last}");
    assert!(last.contains(&format!("read {read},")), "the last line {last:?} does not show the report's {read} records read");
    // Terminal control sequences would mean the spinner drew without a terminal.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// While `serve` has the store locked, `run` requests the run from serve
/// through the admin API, waits for the run started for it and prints that
/// run's record; two at once each print their own run, and a run serve cannot
/// start fails with serve's reason instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_through_serve_when_locked() {
    use leafbridge_sandbox::{Sandbox, SeedConfig};
    use tokio::io::AsyncBufReadExt;

    use crate::flow_harness::{sandbox_config, settings_for};

    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 5, products: 10, orders: 20, random_seed: 6 })).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    // `keyless` has no credentials, so serve fails its runs before they start.
    register_sandbox_tenants(home.path(), &sandbox, &[&settings_for("served", &sandbox)], &[&settings_for("keyless", &sandbox)]);
    let mut serve = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .env_remove("LEAFBRIDGE_ADMIN_TOKEN")
        .env_remove("LEAFBRIDGE_PUBLIC_URL")
        .env("LEAFBRIDGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("leafbridge serve starts");
    let mut first_line = String::new();
    tokio::io::BufReader::new(serve.stdout.take().unwrap()).read_line(&mut first_line).await.unwrap();
    assert!(first_line.starts_with("listening on"), "{first_line:?}");

    let run = |tenant: &'static str| {
        tokio::process::Command::new(leafbridge_binary())
            .args(["--home", home.path().to_str().unwrap(), "run", tenant, "orders-import", "--json"])
            .env("LEAFBRIDGE_LOG", "error")
            .stdin(Stdio::null())
            .output()
    };
    let (first, second) = tokio::join!(run("served"), run("served"));
    let keyless = tokio::time::timeout(std::time::Duration::from_secs(120), run("keyless")).await;
    let unknown = run("nosuch").await.unwrap();
    serve.kill().await.unwrap();

    let mut reports = Vec::new();
    for output in [first.unwrap(), second.unwrap()] {
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains("serve runs the flow"), "{}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["tenant"], "served", "{report}");
        assert_eq!(report["outcome"], "done", "{report}");
        reports.push(report);
    }
    assert_ne!(reports[0]["run_id"], reports[1]["run_id"], "both clients printed the same run");
    // One run imports the orders; the other, queued after it, finds them imported.
    let mut written: Vec<u64> = reports.iter().map(|report| report["written"].as_u64().unwrap()).collect();
    written.sort_unstable();
    assert_eq!(written[0], 0, "{reports:?}");
    assert!(written[1] > 0, "serve's runs imported nothing: {reports:?}");

    let keyless = keyless.expect("a run serve cannot start must not leave the client waiting").unwrap();
    assert!(!keyless.status.success(), "{}", stderr(&keyless));
    let errors = error_lines(&keyless);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("tenant keyless, flow orders-import"), "{:?}", errors[0]);
    assert!(errors[0].contains("not set"), "the error gives serve's reason: {:?}", errors[0]);

    // An unknown tenant is reported without the note about waiting for serve.
    assert!(!unknown.status.success());
    assert!(error_lines(&unknown)[0].contains("nosuch"), "{}", stderr(&unknown));
    assert!(!stderr(&unknown).contains("waiting"), "{}", stderr(&unknown));
}

/// Everything `tenant add` and `tenant credentials` write under a new home
/// is owner-only: 0700 directories and 0600 files.
#[cfg(unix)]
#[test]
fn home_files_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let parent = tempfile::tempdir().unwrap();
    let home = parent.path().join("home");
    let added = add_valid(&home, "private");
    assert!(added.status.success(), "{}", stderr(&added));
    let input = "leaflink.api_key=cli-mode-ll-key\nbusiness_central.client_secret=cli-mode-bc-secret\n";
    let set = leafbridge(&home, &["tenant", "credentials", "private"], input);
    assert!(set.status.success(), "{}", stderr(&set));

    let mut pending = vec![home.clone()];
    let mut files = Vec::new();
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(mode, 0o700, "directory {} has mode {mode:o}", path.display());
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "file {} has mode {mode:o}", path.display());
            files.push(path);
        }
    }
    assert!(files.contains(&home.join("secrets.key")), "the key file was not written: {files:?}");
    assert!(files.iter().any(|file| file.starts_with(home.join("store"))), "no store file was checked: {files:?}");
}

#[test]
fn notify_accepts_email_address() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    let edited = leafbridge(home.path(), &["tenant", "edit", "acme", "--notify", "ops@acme.example"], "");
    assert!(edited.status.success(), "{}", stderr(&edited));
    let show_output = leafbridge(home.path(), &["tenant", "show", "acme", "--json"], "");
    let tenant: serde_json::Value = serde_json::from_str(&stdout(&show_output)).unwrap();
    assert_eq!(tenant["notify"], "ops@acme.example", "{tenant}");

    let rejected = leafbridge(home.path(), &["tenant", "edit", "acme", "--notify", "ops at acme"], "");
    assert!(!rejected.status.success());
    assert!(error_lines(&rejected)[0].contains("notify"), "{:?}", error_lines(&rejected));
}

#[test]
fn plugin_add_rejects_devices() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    // Read whole, /dev/zero would exhaust memory.
    let output = leafbridge(home.path(), &["plugin", "add", "acme", "/dev/zero"], "");
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("/dev/zero"), "the error names the file: {:?}", errors[0]);
    assert!(errors[0].contains("not a regular file"), "{:?}", errors[0]);
}

#[test]
fn credentials_on_argv_not_echoed() {
    let home = tempfile::tempdir().unwrap();
    assert!(add_valid(home.path(), "acme").status.success());
    let output = leafbridge(home.path(), &["tenant", "credentials", "acme", "leaflink.api_key=argv-secret-123"], "");
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("never from the command line"), "{:?}", errors[0]);
    assert!(!stderr(&output).contains("argv-secret-123"), "the secret was echoed: {}", stderr(&output));
    assert!(!stdout(&output).contains("argv-secret-123"));
}
