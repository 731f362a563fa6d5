//! Admin notification digests: one message per run to the tenant's webhook
//! or email address, each failure reported once, and emails logged as not
//! delivered when no SMTP server is configured.

use leafbridge::schedule::{FlowRunner, RunFuture, RunOutcome, Trigger};
use leafbridge::serve::notify::{Delivery, Mailer, NotifyingRunner, notify_after_run};
use leafbridge::store::{RunCounts, RunRecord, Store};
use leafbridge_tests::{RecordingServer, tenant_settings};

/// A runner that records a run and, when `fail` is set, two dead letters,
/// as a flow run with two failing records does.
struct FailingRun {
    store: Store,
    fail: bool,
    /// The reason the run stops with, if it stops.
    stop: Option<&'static str>,
}

impl FlowRunner for FailingRun {
    fn run(&self, tenant: &str, flow: &str, _trigger: Trigger) -> RunFuture {
        let (store, fail, stop) = (self.store.clone(), self.fail, self.stop);
        let (tenant, flow) = (tenant.to_owned(), flow.to_owned());
        Box::pin(async move {
            let started = jiff::Timestamp::now();
            if fail {
                store.record_dead_letter(&tenant, &flow, "order A-1", "unknown SKU ZZZ-9").unwrap();
                store.record_dead_letter(&tenant, &flow, "order A-2", "customer not linked").unwrap();
            }
            let counts = RunCounts { read: 2, failed: if fail { 2 } else { 0 }, ..RunCounts::default() };
            store
                .record_run(&RunRecord {
                    id: format!("run-{}", started.as_microsecond()),
                    tenant,
                    flow,
                    started,
                    finished: jiff::Timestamp::now(),
                    counts,
                    outcome: if stop.is_some() { leafbridge::store::RunOutcome::Stopped } else { leafbridge::store::RunOutcome::Done },
                    reason: stop.map(str::to_owned),
                })
                .unwrap();
            Ok(RunOutcome { read: 2, failed: if fail { 2 } else { 0 }, ..RunOutcome::default() })
        })
    }
}

fn store_with_tenant(notify: Option<String>, server: &RecordingServer) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut settings = tenant_settings("acme", server.address);
    settings.notify = notify;
    store.tenants().unwrap().register(&settings).unwrap();
    (dir, store)
}

#[tokio::test]
async fn digest_is_one_post_per_run() {
    let server = RecordingServer::start().await;
    let url = format!("http://{}/hooks/admin", server.address);
    let (_dir, store) = store_with_tenant(Some(url), &server);

    let runner = NotifyingRunner::new(FailingRun { store: store.clone(), fail: true, stop: None }, store.clone(), None);
    runner.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();

    let posts = server.requests_to("/hooks/admin");
    assert_eq!(posts.len(), 1, "two failed records must make one digest");
    assert_eq!(posts[0].method, "POST");
    let digest: serde_json::Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(digest["tenant"], "acme");
    assert_eq!(digest["flow"], "orders-import");
    assert!(digest["run_id"].as_str().unwrap().starts_with("run-"));
    let records: Vec<&str> = digest["failed"].as_array().unwrap().iter().map(|letter| letter["record"].as_str().unwrap()).collect();
    assert_eq!(records, ["order A-1", "order A-2"]);

    // A clean run leaves nothing for a person, so nothing is sent.
    let clean = NotifyingRunner::new(FailingRun { store: store.clone(), fail: false, stop: None }, store.clone(), None);
    clean.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();
    assert_eq!(server.requests_to("/hooks/admin").len(), 1, "a clean run sent a digest");

    // The same records failing again on retry were reported already.
    runner.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();
    assert_eq!(server.requests_to("/hooks/admin").len(), 1, "a retried failure was reported twice");
}

#[tokio::test]
async fn email_digest_is_not_delivered() {
    let server = RecordingServer::start().await;
    let (_dir, store) = store_with_tenant(Some("ops@acme.example".to_owned()), &server);
    FailingRun { store: store.clone(), fail: true, stop: None }.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();

    let delivery = notify_after_run(&store, "acme", "orders-import", None).await;
    let Delivery::NotDelivered(reason) = delivery else { panic!("{delivery:?}") };
    assert!(reason.starts_with("not delivered: no mail transport configured"), "{reason}");
    assert!(reason.contains("LEAFBRIDGE_SMTP_URL"), "the reason says how to configure mail: {reason}");
    assert!(server.requests().is_empty(), "an email target caused an HTTP request");
}

#[tokio::test]
async fn webhook_error_is_reported() {
    let server = RecordingServer::start().await;
    server.script("/hooks/admin", [leafbridge_tests::Scripted::status(503)]);
    let url = format!("http://{}/hooks/admin", server.address);
    let (_dir, store) = store_with_tenant(Some(url), &server);
    FailingRun { store: store.clone(), fail: true, stop: None }.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();

    let delivery = notify_after_run(&store, "acme", "orders-import", None).await;
    assert_eq!(delivery, Delivery::NotDelivered("the webhook returned HTTP 503".to_owned()));

    // What was not delivered goes into the next digest.
    FailingRun { store: store.clone(), fail: false, stop: None }.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();
    assert_eq!(notify_after_run(&store, "acme", "orders-import", None).await, Delivery::Webhook(200));
    let posts = server.requests_to("/hooks/admin");
    assert_eq!(posts.len(), 2);
    let digest: serde_json::Value = serde_json::from_str(&posts[1].body).unwrap();
    let records: Vec<&str> = digest["failed"].as_array().unwrap().iter().map(|letter| letter["record"].as_str().unwrap()).collect();
    assert_eq!(records, ["order A-1", "order A-2"]);
}

/// Accepts one SMTP session on loopback, replies to every command as a relay
/// that takes the message would, and returns the commands and the message
/// text.
async fn smtp_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<(Vec<String>, String)>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let session = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (reader, mut writer) = socket.into_split();
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"220 relay.test ESMTP\r\n").await.unwrap();
        let (mut commands, mut message) = (Vec::new(), String::new());
        while let Some(line) = lines.next_line().await.unwrap() {
            let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
            commands.push(line.clone());
            match verb.as_str() {
                "DATA" => {
                    writer.write_all(b"354 end with a dot\r\n").await.unwrap();
                    while let Some(data) = lines.next_line().await.unwrap() {
                        if data == "." {
                            break;
                        }
                        message.push_str(&data);
                        message.push('\n');
                    }
                    writer.write_all(b"250 queued\r\n").await.unwrap();
                }
                "QUIT" => {
                    writer.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => writer.write_all(b"250 ok\r\n").await.unwrap(),
            }
        }
        (commands, message)
    });
    (address, session)
}

#[tokio::test]
async fn email_digest_goes_through_smtp() {
    let server = RecordingServer::start().await;
    let (_dir, store) = store_with_tenant(Some("ops@acme.example".to_owned()), &server);
    let (address, session) = smtp_server().await;
    let mailer = Mailer::new(&format!("smtp://{address}"), "leafbridge <leafbridge@host.example>").unwrap();

    FailingRun { store: store.clone(), fail: true, stop: None }.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();
    assert_eq!(notify_after_run(&store, "acme", "orders-import", Some(&mailer)).await, Delivery::Email);

    let (commands, message) = session.await.unwrap();
    assert!(commands.iter().any(|command| command.eq_ignore_ascii_case("MAIL FROM:<leafbridge@host.example>")), "{commands:?}");
    assert!(commands.iter().any(|command| command.eq_ignore_ascii_case("RCPT TO:<ops@acme.example>")), "{commands:?}");
    assert!(message.contains("Subject: leafbridge: tenant acme, flow orders-import: 2 failed"), "{message}");
    assert!(message.contains("- order A-1: unknown SKU ZZZ-9 (attempt 1"), "{message}");
    assert!(message.contains("- order A-2: customer not linked"), "{message}");
    assert!(server.requests().is_empty(), "an email target caused an HTTP request");

    // Delivered by email counts as reported: a retry of the same records sends nothing.
    FailingRun { store: store.clone(), fail: true, stop: None }.run("acme", "orders-import", Trigger::OnDemand).await.unwrap();
    assert_eq!(notify_after_run(&store, "acme", "orders-import", Some(&mailer)).await, Delivery::Nothing);
}

#[test]
fn smtp_settings_rejected_without_password() {
    let error = Mailer::new("https://user:hunter2-secret@mail.example.com", "ops@acme.example").err().unwrap().to_string();
    assert!(error.contains("LEAFBRIDGE_SMTP_URL"), "{error}");
    assert!(!error.contains("hunter2-secret"), "the password leaks: {error}");
    let error = Mailer::new("smtps://user:hunter2-secret@mail.example.com", "not an address").err().unwrap().to_string();
    assert!(error.contains("LEAFBRIDGE_SMTP_FROM"), "{error}");
    assert!(!error.contains("hunter2-secret"), "the password leaks: {error}");
}

#[tokio::test]
async fn stopped_run_reported_once_per_reason() {
    let server = RecordingServer::start().await;
    let url = format!("http://{}/hooks/admin", server.address);
    let (_dir, store) = store_with_tenant(Some(url), &server);
    let rejected = "the Business Central token endpoint rejected the business_central.client_secret";
    let stopping = NotifyingRunner::new(FailingRun { store: store.clone(), fail: false, stop: Some(rejected) }, store.clone(), None);
    let finishing = NotifyingRunner::new(FailingRun { store: store.clone(), fail: false, stop: None }, store.clone(), None);

    stopping.run("acme", "orders-import", Trigger::Schedule).await.unwrap();
    let posts = server.requests_to("/hooks/admin");
    assert_eq!(posts.len(), 1, "a stopped run must reach the admins");
    let digest: serde_json::Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(digest["stopped"], rejected);

    // The schedule runs again with the same wrong secret, which is not news.
    stopping.run("acme", "orders-import", Trigger::Schedule).await.unwrap();
    assert_eq!(server.requests_to("/hooks/admin").len(), 1, "the same stop was reported twice");

    // Once a run finishes, the next stop is news again.
    finishing.run("acme", "orders-import", Trigger::Schedule).await.unwrap();
    stopping.run("acme", "orders-import", Trigger::Schedule).await.unwrap();
    assert_eq!(server.requests_to("/hooks/admin").len(), 2, "a stop after a finished run was not reported");
}
