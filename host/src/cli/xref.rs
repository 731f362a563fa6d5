//! `leafbridge xref show TENANT [KIND] [KEY]`: which LeafLink record is which
//! BC record.

use clap::{Args, Subcommand};

use super::Home;
use super::output::{print_json, print_table, terminal_safe};
use crate::store::RecordKind;

const KINDS: [RecordKind; 6] = [
    RecordKind::Customer,
    RecordKind::Item,
    RecordKind::Order,
    RecordKind::OrderLine,
    RecordKind::Salesperson,
    RecordKind::Payment,
];

impl clap::ValueEnum for RecordKind {
    fn value_variants<'a>() -> &'a [Self] {
        &KINDS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Debug, Subcommand)]
pub enum XrefCommand {
    /// Without KIND, count the cross-references of each kind; with KIND, list
    /// them; with KIND and KEY, show one with its stored field values.
    ///
    /// Examples:
    ///   leafbridge xref show acme
    ///   leafbridge xref show acme item --json
    ///   leafbridge xref show acme order 3F9A-12
    #[command(verbatim_doc_comment)]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// The kind of record.
    pub kind: Option<RecordKind>,
    /// The LeafLink key: customer or product id, SKU, order number.
    pub key: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(home: &Home, command: XrefCommand) -> anyhow::Result<()> {
    let XrefCommand::Show(args) = command;
    let store = super::open_store(home)?;
    store.tenants()?.require(&args.tenant)?;
    let tenant = args.tenant.as_str();

    let Some(kind) = args.kind else {
        let mut counts = std::collections::BTreeMap::new();
        for kind in KINDS {
            counts.insert(kind.as_str(), store.xref_count(tenant, kind)?);
        }
        if args.json {
            return print_json(&counts);
        }
        let rows: Vec<Vec<String>> = counts.iter().map(|(kind, count)| vec![(*kind).to_owned(), count.to_string()]).collect();
        print_table(&["kind", "cross-references"], &rows);
        return Ok(());
    };

    if let Some(key) = args.key {
        let Some(xref) = store.xref(tenant, kind, &key)? else {
            anyhow::bail!("tenant {tenant}: no {} cross-reference for LeafLink key {key:?}", kind.as_str());
        };
        if args.json {
            return print_json(&xref);
        }
        println!("LeafLink key: {}", terminal_safe(&xref.leaflink_key));
        println!("BC id: {}", terminal_safe(xref.bc_id.as_deref().unwrap_or("-")));
        println!("BC number: {}", terminal_safe(xref.bc_number.as_deref().unwrap_or("-")));
        println!("origin: {}", xref.origin);
        println!("updated: {}", xref.updated.map_or_else(|| "-".to_owned(), |at| at.to_string()));
        let sections = [("LeafLink fields", &xref.leaflink_fields), ("BC fields", &xref.bc_fields), ("stored", &xref.stored)];
        for (title, fields) in sections {
            println!("{title}:");
            for (name, value) in fields {
                println!("  {} = {}", terminal_safe(name), terminal_safe(value));
            }
        }
        return Ok(());
    }

    let xrefs = store.xrefs(tenant, kind)?;
    if args.json {
        return print_json(&xrefs);
    }
    let rows: Vec<Vec<String>> = xrefs
        .iter()
        .map(|xref| {
            vec![
                xref.leaflink_key.clone(),
                xref.bc_id.clone().unwrap_or_else(|| "-".to_owned()),
                xref.bc_number.clone().unwrap_or_else(|| "-".to_owned()),
                xref.origin.clone(),
            ]
        })
        .collect();
    print_table(&["LeafLink key", "BC id", "BC number", "origin"], &rows);
    Ok(())
}
