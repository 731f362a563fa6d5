//! In-memory tables for the company's entity sets. A row keeps only the
//! properties that differ from BC's empty value. Hash indexes on key columns
//! (`number`, `externalDocumentNumber`, `email`, `documentId`, ...) make
//! lookups and `eq`/`or` filters independent of the table size. Every change
//! can be recorded in an undo log, which a failed deep insert and a failed
//! `$batch` with `Isolation: snapshot` replay to roll their changes back.

use std::collections::HashMap;

use jiff::Timestamp;
use uuid::Uuid;

use super::cell::{Cell, default_cell};
use super::fast_hash::FastMap;
use super::schema::{EntitySet, schema};

/// An entity of one set, keyed by `id`.
///
/// NOTE: a row takes about 940 bytes with its indexes, about the size of its
/// compact JSON: 100,000 orders of 8 lines peak at 846 MB in the
/// `business_central_load` check (BENCHMARKS.md, "Sandbox"). Typed cells
/// (enums as member indexes) could about halve that.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: Uuid,
    /// Raised on every write; the ETag is derived from it.
    pub version: u64,
    cells: Vec<(u16, Cell)>,
}

impl Row {
    pub fn new(id: Uuid) -> Self {
        Self { id, version: 1, cells: Vec::new() }
    }

    pub fn get(&self, column: usize) -> Option<&Cell> {
        let column = column as u16;
        self.cells
            .binary_search_by_key(&column, |(index, _)| *index)
            .ok()
            .map(|position| &self.cells[position].1)
    }

    /// Returns the value, or BC's empty value when the property was never set.
    pub fn value(&self, set: &EntitySet, column: usize) -> Cell {
        self.get(column).cloned().unwrap_or_else(|| default_cell(&set.properties[column].edm))
    }

    pub fn set(&mut self, set: &EntitySet, column: usize, cell: Cell) {
        let is_default = cell == default_cell(&set.properties[column].edm);
        let key = column as u16;
        match self.cells.binary_search_by_key(&key, |(index, _)| *index) {
            Ok(position) if is_default => {
                self.cells.remove(position);
            }
            Ok(position) => self.cells[position].1 = cell,
            Err(_) if is_default => {}
            Err(position) => self.cells.insert(position, (key, cell)),
        }
    }

    pub fn etag(&self) -> String {
        use base64::Engine;
        let raw = format!("{};{}", self.id.simple(), self.version);
        format!("W/\"{}\"", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Returns a random (version 4) id for a new row. It draws from `rand`'s
/// thread-local generator, where `Uuid::new_v4` makes a `getrandom` system
/// call for every id.
pub fn new_row_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Columns indexed by value, per entity set.
const INDEXED: &[&str] = &[
    "number",
    "externalDocumentNumber",
    "email",
    "gtin",
    "customerNumber",
    "customerId",
    "code",
    "documentId",
    "journalId",
    "orderId",
    "itemNumber",
    "itemId",
    "dimensionId",
    "parentId",
    "documentNumber",
];

#[derive(Debug)]
pub struct Table {
    pub set_index: usize,
    slots: Vec<Option<Row>>,
    by_id: FastMap<Uuid, usize>,
    indexes: FastMap<usize, FastMap<String, Vec<usize>>>,
}

impl Table {
    fn new(set_index: usize) -> Self {
        let set = &schema().sets[set_index];
        let indexes = INDEXED
            .iter()
            .filter_map(|name| set.column(name))
            .map(|column| (column, FastMap::default()))
            .collect();
        Self { set_index, slots: Vec::new(), by_id: FastMap::default(), indexes }
    }

    pub fn schema(&self) -> &'static EntitySet {
        &schema().sets[self.set_index]
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, id: &Uuid) -> Option<&Row> {
        self.by_id.get(id).and_then(|slot| self.slots[*slot].as_ref())
    }

    pub fn slot_of(&self, id: &Uuid) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn slot(&self, slot: usize) -> Option<&Row> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn is_indexed(&self, column: usize) -> bool {
        self.indexes.contains_key(&column)
    }

    /// Slots whose `column` equals `key` (index text form), in slot order.
    pub fn lookup(&self, column: usize, key: &str) -> Option<&[usize]> {
        let index = self.indexes.get(&column)?;
        Some(index.get(key).map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Rows whose indexed `column` contains `key`, found by index or by a scan when not indexed.
    pub fn find_by(&self, column: usize, key: &Cell) -> Vec<&Row> {
        if let Some(slots) = self.lookup(column, &key.index_key()) {
            return slots.iter().filter_map(|slot| self.slot(*slot)).collect();
        }
        let set = self.schema();
        self.rows().filter(|row| row.value(set, column) == *key).collect()
    }

    pub fn first_by(&self, column: usize, key: &Cell) -> Option<&Row> {
        self.find_by(column, key).into_iter().next()
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.slots.iter().filter_map(Option::as_ref)
    }

    fn unindex(&mut self, slot: usize) {
        let Some(row) = self.slots[slot].as_ref() else { return };
        let set = &schema().sets[self.set_index];
        for (column, index) in self.indexes.iter_mut() {
            let key = row.value(set, *column).index_key();
            if let Some(slots) = index.get_mut(&key) {
                // `index` keeps each list sorted, and a slot is listed once.
                if let Ok(position) = slots.binary_search(&slot) {
                    slots.remove(position);
                }
                if slots.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }

    fn index(&mut self, slot: usize) {
        let Some(row) = self.slots[slot].as_ref() else { return };
        let set = &schema().sets[self.set_index];
        for (column, index) in self.indexes.iter_mut() {
            let key = row.value(set, *column).index_key();
            let slots = index.entry(key).or_default();
            let position = slots.partition_point(|existing| *existing < slot);
            slots.insert(position, slot);
        }
    }

    /// Inserts or replaces a row, returning the row it replaced.
    fn put(&mut self, row: Row) -> Option<Row> {
        match self.by_id.get(&row.id).copied() {
            Some(slot) => {
                self.unindex(slot);
                let before = self.slots[slot].replace(row);
                self.index(slot);
                before
            }
            None => {
                let slot = self.slots.len();
                self.by_id.insert(row.id, slot);
                self.slots.push(Some(row));
                self.index(slot);
                None
            }
        }
    }

    fn remove(&mut self, id: &Uuid) -> Option<Row> {
        let slot = self.by_id.remove(id)?;
        self.unindex(slot);
        self.slots[slot].take()
    }
}

/// A change a webhook subscriber hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub set: String,
    pub id: Uuid,
    pub kind: ChangeKind,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    pub fn wire_name(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// A point in the undo log, taken by `Store::savepoint`.
#[derive(Debug)]
#[must_use = "a savepoint must be released or rolled back"]
pub struct Savepoint {
    undo_len: usize,
    changes_len: usize,
    series: HashMap<&'static str, u64>,
    /// Set when an outer savepoint was already recording.
    nested: bool,
}

#[derive(Debug)]
struct Undo {
    table: usize,
    id: Uuid,
    before: Option<Row>,
}

/// All tables of the one company the sandbox serves.
#[derive(Debug)]
pub struct Store {
    pub tables: Vec<Table>,
    undo: Option<Vec<Undo>>,
    /// Changes not yet handed to the webhook sender.
    pub changes: Vec<Change>,
    /// Number series: the next number for each series prefix.
    pub series: HashMap<&'static str, u64>,
    /// Set during a deep insert, whose header totals are summed once at the end.
    pub defer_totals: bool,
}

impl Store {
    pub fn new() -> Self {
        let tables = (0..schema().sets.len()).map(Table::new).collect();
        Self { tables, undo: None, changes: Vec::new(), series: HashMap::new(), defer_totals: false }
    }

    pub fn table(&self, set: &str) -> &Table {
        let index = schema().index(set).unwrap_or_else(|| panic!("no entity set {set}"));
        &self.tables[index]
    }

    pub fn get(&self, set: &str, id: &Uuid) -> Option<&Row> {
        self.table(set).get(id)
    }

    /// Inserts or replaces a row, raising its version and recording the change.
    pub fn save(&mut self, set: &str, mut row: Row) {
        let index = schema().index(set).unwrap_or_else(|| panic!("no entity set {set}"));
        let existing = self.tables[index].get(&row.id).map(|old| old.version);
        let kind = match existing {
            Some(version) => {
                row.version = version + 1;
                ChangeKind::Updated
            }
            None => ChangeKind::Created,
        };
        let id = row.id;
        let before = self.tables[index].put(row);
        if let Some(undo) = self.undo.as_mut() {
            undo.push(Undo { table: index, id, before });
        }
        self.changes.push(Change { set: set.to_owned(), id, kind, at: Timestamp::now() });
    }

    pub fn delete(&mut self, set: &str, id: &Uuid) -> Option<Row> {
        let index = schema().index(set).unwrap_or_else(|| panic!("no entity set {set}"));
        let before = self.tables[index].remove(id)?;
        if let Some(undo) = self.undo.as_mut() {
            undo.push(Undo { table: index, id: *id, before: Some(before.clone()) });
        }
        self.changes.push(Change { set: set.to_owned(), id: *id, kind: ChangeKind::Deleted, at: Timestamp::now() });
        Some(before)
    }

    /// Marks the current state so that `rollback_to` can return to it. Marks
    /// nest: a deep insert inside a `$batch` with `Isolation: snapshot` keeps
    /// its changes in the batch's undo log when it succeeds.
    pub fn savepoint(&mut self) -> Savepoint {
        let nested = self.undo.is_some();
        let undo = self.undo.get_or_insert_with(Vec::new);
        Savepoint { undo_len: undo.len(), changes_len: self.changes.len(), series: self.series.clone(), nested }
    }

    /// Keeps the changes made since `savepoint`.
    pub fn release(&mut self, savepoint: Savepoint) {
        if !savepoint.nested {
            self.undo = None;
        }
    }

    /// Undoes every change since `savepoint`, drops their pending
    /// notifications and gives back the document numbers they took. BC rolls
    /// a failed transaction back the same way, number series included.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        if let Some(undo) = self.undo.as_mut() {
            let undone = undo.split_off(savepoint.undo_len.min(undo.len()));
            for entry in undone.into_iter().rev() {
                let table = &mut self.tables[entry.table];
                match entry.before {
                    Some(row) => {
                        table.put(row);
                    }
                    None => {
                        table.remove(&entry.id);
                    }
                }
            }
        }
        self.changes.truncate(savepoint.changes_len);
        self.series = savepoint.series;
        if !savepoint.nested {
            self.undo = None;
        }
    }

    /// Takes the next number of a series, for example `S-ORD101001`.
    pub fn next_number(&mut self, prefix: &'static str, start: u64) -> String {
        let next = self.series.entry(prefix).or_insert(start);
        let number = format!("{prefix}{next}");
        *next += 1;
        number
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}
