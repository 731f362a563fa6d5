//! The commands over the flows' store: status, runs, conflicts, dead-letters,
//! xref and link, against a store seeded the way the flows write it.

use std::path::Path;

use leafbridge::store::{
    Candidate, Conflict, CrossReference, LinkProposal, ProposalStatus, RecordKind, RunCounts, RunOutcome, RunRecord, Store,
};

use super::cli::{leafbridge, stderr, stdout, tenant_flags};

/// Registers `acme` and `globex` through the CLI, then writes runs, a conflict,
/// dead letters, link proposals and a cross-reference for `acme`.
fn seeded_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    for name in ["acme", "globex"] {
        let flags = tenant_flags(name);
        let mut args = vec!["tenant", "add"];
        args.extend(flags.iter().map(String::as_str));
        let added = leafbridge(home.path(), &args, "");
        assert!(added.status.success(), "{}", stderr(&added));
    }

    // The store holds a file lock, so it is dropped before the CLI runs.
    let store = Store::open(&home.path().join("store")).unwrap();
    let started: jiff::Timestamp = "2025-06-01T10:00:00Z".parse().unwrap();
    for (minute, flow, read) in [(0, "orders-import", 3), (5, "products-push", 7), (10, "orders-import", 4)] {
        let started = started + jiff::SignedDuration::from_mins(minute);
        store
            .record_run(&RunRecord {
                id: format!("run-{minute}"),
                tenant: "acme".to_owned(),
                flow: flow.to_owned(),
                started,
                finished: started + jiff::SignedDuration::from_secs(2),
                counts: RunCounts { read, written: 1, failed: 1, ..RunCounts::default() },
                outcome: RunOutcome::Done,
                reason: None,
            })
            .unwrap();
    }
    store
        .record_conflict(
            "acme",
            &Conflict {
                flow: "products-push".to_owned(),
                record: "sku ABC-1".to_owned(),
                field: Some("unit_price".to_owned()),
                winner: "business-central".to_owned(),
                leaflink_value: Some("12.50".to_owned()),
                business_central_value: Some("13.00".to_owned()),
                reason: "both sides changed the price".to_owned(),
                detected: started,
            },
        )
        .unwrap();
    store.record_dead_letter("acme", "orders-import", "order 3F9A-12", "unknown SKU ZZZ-9").unwrap();
    store.record_dead_letter("acme", "orders-import", "order 3F9A-13", "customer not linked").unwrap();
    let candidate = |number: &str, name: &str| Candidate {
        bc_id: format!("guid-{number}"),
        bc_number: Some(number.to_owned()),
        display_name: name.to_owned(),
    };
    store
        .propose_link(
            "acme",
            &LinkProposal {
                kind: RecordKind::Item,
                leaflink_key: "ABC-1".to_owned(),
                leaflink_name: "Blue Dream 1g".to_owned(),
                candidates: vec![candidate("1000", "Blue Dream 1 g"), candidate("1001", "Blue Dream 1g (old)")],
                reason: "2 BC items match the SKU".to_owned(),
                status: ProposalStatus::Open,
            },
        )
        .unwrap();
    store
        .propose_link(
            "acme",
            &LinkProposal {
                kind: RecordKind::Customer,
                leaflink_key: "4021".to_owned(),
                leaflink_name: "Green Leaf Dispensary".to_owned(),
                candidates: vec![candidate("C0042", "Green Leaf")],
                reason: "the license numbers differ".to_owned(),
                status: ProposalStatus::Open,
            },
        )
        .unwrap();
    store
        .put_xref(
            "acme",
            RecordKind::Order,
            &CrossReference {
                leaflink_key: "3F9A-10".to_owned(),
                bc_id: Some("guid-so-1".to_owned()),
                bc_number: Some("SO-1001".to_owned()),
                leaflink_fields: [("status".to_owned(), "Accepted".to_owned())].into(),
                origin: "created".to_owned(),
                ..CrossReference::default()
            },
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    home
}

fn json_of(home: &Path, args: &[&str]) -> serde_json::Value {
    let output = leafbridge(home, args, "");
    assert!(output.status.success(), "{args:?} failed: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap_or_else(|error| panic!("{args:?} printed invalid JSON: {error}"))
}

/// Returns the `error:` line of a failed command and checks there is one.
fn single_error(home: &Path, args: &[&str]) -> String {
    let output = leafbridge(home, args, "");
    assert!(!output.status.success(), "{args:?} succeeded");
    let errors: Vec<String> = stderr(&output).lines().filter(|line| line.starts_with("error:")).map(str::to_owned).collect();
    assert_eq!(errors.len(), 1, "{args:?}: expected one error line, got {errors:?}");
    errors[0].clone()
}

#[test]
fn status_counts_open_work() {
    let home = seeded_home();
    let statuses = json_of(home.path(), &["status", "--json"]);
    let statuses = statuses.as_array().unwrap();
    assert_eq!(statuses.len(), 2);

    let acme = &statuses[0];
    assert_eq!(acme["tenant"], "acme");
    assert_eq!(acme["dead_letters"], 2);
    assert_eq!(acme["conflicts"], 1);
    assert_eq!(acme["open_link_proposals"], 2);
    assert_eq!(acme["last_runs"]["orders-import"]["id"], "run-10", "the latest run of a flow is shown");
    assert_eq!(acme["last_runs"]["products-push"]["counts"]["read"], 7);

    let globex = &statuses[1];
    assert_eq!(globex["tenant"], "globex");
    assert_eq!(globex["dead_letters"], 0);
    assert_eq!(globex["last_runs"].as_object().unwrap().len(), 0);

    let table = leafbridge(home.path(), &["status"], "");
    assert!(table.status.success());
    assert!(stdout(&table).contains("run-10"));

    let error = single_error(home.path(), &["status", "nobody"]);
    assert!(error.contains("nobody"), "{error}");
}

#[test]
fn runs_filter_newest_first() {
    let home = seeded_home();
    let runs = json_of(home.path(), &["runs", "acme", "--json"]);
    let ids: Vec<&str> = runs.as_array().unwrap().iter().map(|run| run["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["run-10", "run-5", "run-0"]);

    let imports = json_of(home.path(), &["runs", "acme", "--flow", "orders-import", "--json"]);
    let ids: Vec<&str> = imports.as_array().unwrap().iter().map(|run| run["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["run-10", "run-0"]);

    let limited = json_of(home.path(), &["runs", "acme", "--limit", "1", "--json"]);
    assert_eq!(limited.as_array().unwrap().len(), 1);

    let unknown_flow = leafbridge(home.path(), &["runs", "acme", "--flow", "teleport"], "");
    assert!(!unknown_flow.status.success());
    assert!(single_error(home.path(), &["runs", "nobody"]).contains("nobody"));
}

#[test]
fn conflicts_list_both_values() {
    let home = seeded_home();
    let conflicts = json_of(home.path(), &["conflicts", "acme", "--json"]);
    assert_eq!(conflicts[0]["record"], "sku ABC-1");
    assert_eq!(conflicts[0]["leaflink_value"], "12.50");
    assert_eq!(conflicts[0]["business_central_value"], "13.00");

    let table = leafbridge(home.path(), &["conflicts", "acme"], "");
    assert!(stdout(&table).contains("13.00"));
    let empty = json_of(home.path(), &["conflicts", "globex", "--json"]);
    assert_eq!(empty.as_array().unwrap().len(), 0, "one tenant's conflicts leaked into another's");
}

#[test]
fn dead_letters_retry_and_discard() {
    let home = seeded_home();
    let letters = json_of(home.path(), &["dead-letters", "list", "acme", "--json"]);
    assert_eq!(letters.as_array().unwrap().len(), 2);
    let first_due: jiff::Timestamp = letters[0]["next_retry"].as_str().unwrap().parse().unwrap();
    assert!(first_due > jiff::Timestamp::now(), "a new dead letter waits before its retry");

    let retried = leafbridge(home.path(), &["dead-letters", "retry", "acme", "orders-import", "order 3F9A-12"], "");
    assert!(retried.status.success(), "{}", stderr(&retried));
    let letters = json_of(home.path(), &["dead-letters", "list", "acme", "--flow", "orders-import", "--json"]);
    let due: jiff::Timestamp = letters[0]["next_retry"].as_str().unwrap().parse().unwrap();
    assert!(due <= jiff::Timestamp::now(), "retry did not make the dead letter due");
    assert_eq!(letters[0]["attempts"], 1, "marking for retry is not an attempt");

    let discarded = leafbridge(home.path(), &["dead-letters", "discard", "acme", "orders-import", "order 3F9A-13"], "");
    assert!(discarded.status.success(), "{}", stderr(&discarded));
    let letters = json_of(home.path(), &["dead-letters", "list", "acme", "--json"]);
    let records: Vec<&str> = letters.as_array().unwrap().iter().map(|letter| letter["record"].as_str().unwrap()).collect();
    assert_eq!(records, ["order 3F9A-12"]);

    let missing = single_error(home.path(), &["dead-letters", "discard", "acme", "orders-import", "order 3F9A-13"]);
    assert!(missing.contains("no dead letter"), "{missing}");
    let other_tenant = single_error(home.path(), &["dead-letters", "retry", "globex", "orders-import", "order 3F9A-12"]);
    assert!(other_tenant.contains("no dead letter"), "{other_tenant}");
}

#[test]
fn xref_show_counts_lists_and_one() {
    let home = seeded_home();
    let counts = json_of(home.path(), &["xref", "show", "acme", "--json"]);
    assert_eq!(counts["order"], 1);
    assert_eq!(counts["item"], 0);

    let orders = json_of(home.path(), &["xref", "show", "acme", "order", "--json"]);
    assert_eq!(orders[0]["bc_number"], "SO-1001");

    let one = json_of(home.path(), &["xref", "show", "acme", "order", "3F9A-10", "--json"]);
    assert_eq!(one["leaflink_fields"]["status"], "Accepted");
    let text = leafbridge(home.path(), &["xref", "show", "acme", "order", "3F9A-10"], "");
    assert!(stdout(&text).contains("status = Accepted"));

    let missing = single_error(home.path(), &["xref", "show", "acme", "order", "NOPE"]);
    assert!(missing.contains("NOPE"), "{missing}");
}

#[test]
fn link_accept_and_reject() {
    let home = seeded_home();
    let open = json_of(home.path(), &["link", "list", "acme", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 2);

    let ambiguous = single_error(home.path(), &["link", "accept", "acme", "item/ABC-1"]);
    assert!(ambiguous.contains("--candidate"), "{ambiguous}");
    let wrong = single_error(home.path(), &["link", "accept", "acme", "item/ABC-1", "--candidate", "9999"]);
    assert!(wrong.contains("9999"), "{wrong}");

    let accepted = leafbridge(home.path(), &["link", "accept", "acme", "item/ABC-1", "--candidate", "1001"], "");
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    let xref = json_of(home.path(), &["xref", "show", "acme", "item", "ABC-1", "--json"]);
    assert_eq!(xref["bc_id"], "guid-1001");
    assert_eq!(xref["bc_number"], "1001");

    let rejected = leafbridge(home.path(), &["link", "reject", "acme", "customer/4021"], "");
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    let customers = json_of(home.path(), &["xref", "show", "acme", "customer", "--json"]);
    assert_eq!(customers.as_array().unwrap().len(), 0, "a rejected proposal made a cross-reference");

    let open = json_of(home.path(), &["link", "list", "acme", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 0);
    let all = json_of(home.path(), &["link", "list", "acme", "--all", "--json"]);
    let statuses: Vec<&str> = all.as_array().unwrap().iter().map(|proposal| proposal["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rejected", "accepted"]);

    let twice = single_error(home.path(), &["link", "reject", "acme", "item/ABC-1"]);
    assert!(twice.contains("already"), "{twice}");
    let malformed = single_error(home.path(), &["link", "reject", "acme", "ABC-1"]);
    assert!(malformed.contains("KIND/LEAFLINK_KEY"), "{malformed}");
}

#[test]
fn listings_escape_terminal_controls() {
    let home = seeded_home();
    let store = Store::open(&home.path().join("store")).unwrap();
    // A LeafLink error message can carry any text the API sent back.
    store.record_dead_letter("globex", "orders-import", "order 7C1D-01", "BC said \u{1b}[2J\u{1b}[31mcleared").unwrap();
    drop(store);

    let listed = leafbridge(home.path(), &["dead-letters", "list", "globex"], "");
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(!text.contains('\u{1b}'), "a raw escape reached the terminal: {text:?}");
    assert!(text.contains(r"BC said \u{1b}[2J\u{1b}[31mcleared"), "{text}");
    let json = json_of(home.path(), &["dead-letters", "list", "globex", "--json"]);
    assert_eq!(json[0]["reason"], "BC said \u{1b}[2J\u{1b}[31mcleared", "--json keeps the exact text");
}
