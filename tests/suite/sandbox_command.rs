//! `leafbridge sandbox` as a separate process: its one JSON line on stdout,
//! one authenticated request to each server it names, and a clean stop on
//! SIGINT (Ctrl-C).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use leafbridge_tests::leafbridge_binary;
use serde_json::Value;

/// The keys of each object in the JSON line, as the sandbox's clients read them.
const LEAFLINK_KEYS: &[&str] = &["base_url", "api_key"];
const BUSINESS_CENTRAL_KEYS: &[&str] =
    &["base_url", "token_url", "tenant_id", "environment", "client_id", "client_secret", "company_id"];

/// Kills the sandbox if the test fails before it stops the process itself.
struct SandboxProcess(Child);

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl SandboxProcess {
    /// Sends SIGINT, as Ctrl-C does, and waits up to `timeout` for the exit.
    fn interrupt(&mut self, timeout: Duration) -> Option<ExitStatus> {
        // `kill -INT` reaches this child by its own process id only.
        let sent = Command::new("kill").arg("-INT").arg(self.0.id().to_string()).status().expect("kill can be started");
        assert!(sent.success(), "kill -INT {} failed", self.0.id());
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("the sandbox process can be waited on") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn string_keys(object: &Value, name: &str) -> BTreeSet<String> {
    let object = object.as_object().unwrap_or_else(|| panic!("{name} is not an object: {object}"));
    for (key, value) in object {
        let text = value.as_str().unwrap_or_else(|| panic!("{name}.{key} is not a string: {value}"));
        assert!(!text.is_empty(), "{name}.{key} is empty");
    }
    object.keys().cloned().collect()
}

fn key_set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

#[tokio::test]
async fn sandbox_command_serves_both_apis() {
    let home = tempfile::tempdir().expect("a temporary home");
    let child = Command::new(leafbridge_binary())
        .arg("--home")
        .arg(home.path())
        .args(["sandbox", "--seed", "5", "--orders", "4", "--bc-customers", "7", "--bc-items", "9", "--bc-orders", "3"])
        .env_remove("LEAFBRIDGE_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("leafbridge sandbox starts");
    let mut sandbox = SandboxProcess(child);

    let stdout = sandbox.0.stdout.take().expect("stdout is piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(60), line)
        .await
        .expect("the sandbox prints its JSON line within 60 s")
        .expect("the reader task finishes")
        .expect("stdout can be read");
    assert!(line.ends_with('\n'), "the JSON line is not terminated: {line:?}");
    let info: Value = serde_json::from_str(line.trim()).unwrap_or_else(|error| panic!("invalid JSON line {line:?}: {error}"));

    let top: BTreeSet<String> = info.as_object().expect("the line is a JSON object").keys().cloned().collect();
    assert_eq!(top, key_set(&["leaflink", "business_central"]));
    assert_eq!(string_keys(&info["leaflink"], "leaflink"), key_set(LEAFLINK_KEYS));
    assert_eq!(string_keys(&info["business_central"], "business_central"), key_set(BUSINESS_CENTRAL_KEYS));

    let leaflink = &info["leaflink"];
    let leaflink_url = leaflink["base_url"].as_str().unwrap();
    assert!(leaflink_url.starts_with("http://127.0.0.1:"), "LeafLink is not on loopback: {leaflink_url}");
    assert!(leaflink_url.ends_with("/api/v2"), "LeafLink base_url is not the /api/v2 root: {leaflink_url}");
    let central = &info["business_central"];
    let central_url = central["base_url"].as_str().unwrap();
    assert!(central_url.starts_with("http://127.0.0.1:"), "Business Central is not on loopback: {central_url}");
    assert!(central_url.ends_with("/api/v2.0"), "Business Central base_url is not the /api/v2.0 root: {central_url}");
    assert!(central["token_url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "token_url is not on loopback");

    let client = reqwest::Client::new();

    // LeafLink: an application key goes in `Authorization: App <key>`.
    let orders_url = format!("{leaflink_url}/orders-received/?limit=1");
    let response = client
        .get(&orders_url)
        .header("authorization", format!("App {}", leaflink["api_key"].as_str().unwrap()))
        .send()
        .await
        .expect("the LeafLink request is sent");
    assert_eq!(response.status(), 200, "GET {orders_url}");
    let orders: Value = response.json().await.expect("LeafLink returns JSON");
    let order_count = orders["count"].as_u64().expect("a DRF page has a count");
    assert!(order_count >= 4, "--orders 4 generated only {order_count} orders");
    let response = client.get(&orders_url).send().await.expect("the unauthenticated request is sent");
    assert_eq!(response.status(), 401, "LeafLink served a request without a key");

    // Business Central: a client-credentials token from token_url, then a bearer request.
    let response = client
        .post(central["token_url"].as_str().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", central["client_id"].as_str().unwrap()),
            ("client_secret", central["client_secret"].as_str().unwrap()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .expect("the token request is sent");
    assert_eq!(response.status(), 200, "token request");
    let token: Value = response.json().await.expect("the token response is JSON");
    let access_token = token["access_token"].as_str().expect("the token response has access_token");
    let company_id = central["company_id"].as_str().unwrap();
    let count_url = format!("{central_url}/companies({company_id})/customers/$count");
    let response = client.get(&count_url).bearer_auth(access_token).send().await.expect("the BC request is sent");
    assert_eq!(response.status(), 200, "GET {count_url}");
    let customers: u64 = response.text().await.expect("a body").trim().parse().expect("$count returns a number");
    // 3 published example customers and the 7 of --bc-customers.
    assert_eq!(customers, 10);
    let response = client.get(&count_url).send().await.expect("the unauthenticated request is sent");
    assert_eq!(response.status(), 401, "Business Central served a request without a token");

    let status = sandbox.interrupt(Duration::from_secs(10)).expect("the sandbox stops within 10 s of SIGINT");
    assert!(status.success(), "the sandbox exited with {status} after SIGINT");
}
