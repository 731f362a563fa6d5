//! `leafbridge demo --home DIR` run twice: the second run clears the first
//! day's sync state, prints a message about it and reports the same figures.
//! Each flow's summary names the records its counts count.

use std::path::Path;
use std::process::{Command, Output};

use leafbridge_tests::leafbridge_binary;
use serde_json::Value;

fn demo(home: &Path) -> Output {
    Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home)
        .args(["demo", "--json"])
        .env("LEAFBRIDGE_LOG", "error")
        .env_remove("LEAFBRIDGE_SECRET_KEY")
        .env_remove("LEAFBRIDGE_HOME")
        .output()
        .expect("leafbridge starts")
}

/// Collects each tenant's flows as (tenant, flow, records, read, written,
/// skipped, failed, related_written), leaving out request counts and times.
fn figures(summary: &Value) -> Vec<(String, String, String, u64, u64, u64, u64, u64)> {
    let mut rows = Vec::new();
    for tenant in summary["tenants"].as_array().expect("a tenants list") {
        for flow in tenant["flows"].as_array().expect("a flows list") {
            let count = |name: &str| flow[name].as_u64().unwrap_or_else(|| panic!("{name} is a count: {flow}"));
            rows.push((
                tenant["name"].as_str().unwrap().to_owned(),
                flow["flow"].as_str().unwrap().to_owned(),
                flow["records"].as_str().unwrap().to_owned(),
                count("read"),
                count("written"),
                count("skipped"),
                count("failed"),
                count("related_written"),
            ));
        }
    }
    rows
}

#[test]
fn demo_rerun_starts_clean() {
    let home = tempfile::tempdir().unwrap();
    let first = demo(home.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let first_summary: Value = serde_json::from_slice(&first.stdout).expect("the first run prints JSON");
    let first_figures = figures(&first_summary);
    assert!(!String::from_utf8_lossy(&first.stderr).contains("cleared"), "a new home has nothing to clear");
    assert_eq!(first_summary["home"].as_str(), home.path().to_str(), "the summary names the kept home");

    let import = first_figures.iter().find(|row| row.1 == "orders-import").expect("orders-import ran");
    assert_eq!(import.2, "orders", "orders-import counts orders");
    assert!(import.4 > 0, "orders are imported: {import:?}");
    assert!(import.7 > 0, "new customers or items are created for them: {import:?}");

    let second = demo(home.path());
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(message.contains("cleared"), "the rerun says it starts clean: {message}");
    let second_summary: Value = serde_json::from_slice(&second.stdout).expect("the second run prints JSON");
    assert_eq!(figures(&second_summary), first_figures, "a rerun reports the same figures");
}

#[test]
fn demo_keeps_real_tenant() {
    let home = tempfile::tempdir().unwrap();
    let definition = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants/evergreen-farms/tenant.toml");
    let added = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["tenant", "add", "--from-file"])
        .arg(&definition)
        .env_remove("LEAFBRIDGE_HOME")
        .output()
        .expect("leafbridge starts");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let output = demo(home.path());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the demo overwrote a real tenant");
    assert!(errors.contains("evergreen-farms"), "{errors}");
    assert!(errors.contains("is not a demo tenant"), "{errors}");

    let show_output = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["tenant", "show", "evergreen-farms", "--json"])
        .env_remove("LEAFBRIDGE_HOME")
        .output()
        .expect("leafbridge starts");
    let settings: Value = serde_json::from_slice(&show_output.stdout).expect("tenant show prints JSON");
    assert_eq!(settings["leaflink"]["base_url"], "https://app.leaflink.com/api/v2");
}
