//! Cursors: where each flow of each tenant resumes reading.
//!
//! A cursor is the latest modification time a flow has finished. The next run
//! reads from the cursor minus an overlap window, because neither API orders
//! its lists and a record modified during a crawl can move between pages; the
//! cross-reference hashes make the re-read records cheap skips.

use serde::{Deserialize, Serialize};

use super::records::{CURSORS_TREE, compound_key, get_json, put_json};
use super::{Store, StoreError};

/// How far before the cursor the next read starts.
pub const DEFAULT_OVERLAP: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Latest `modified` / `lastModifiedDateTime` fully processed.
    pub position: jiff::Timestamp,
    /// Overlap subtracted from `position` when reading.
    pub overlap_seconds: i64,
}

impl Cursor {
    pub fn new(position: jiff::Timestamp) -> Self {
        Self { position, overlap_seconds: DEFAULT_OVERLAP.as_secs() }
    }

    /// The time the next read starts from.
    pub fn read_from(&self) -> jiff::Timestamp {
        self.position
            .checked_sub(jiff::SignedDuration::from_secs(self.overlap_seconds))
            .unwrap_or(self.position)
    }
}

impl Store {
    pub fn cursor(&self, tenant: &str, flow: &str) -> Result<Option<Cursor>, StoreError> {
        let tree = self.tree(CURSORS_TREE)?;
        get_json(&tree, &compound_key(tenant, &[flow]))
    }

    /// Moves a cursor forward; a position older than the stored one is
    /// ignored, so a page read out of order never moves it back.
    pub fn advance_cursor(&self, tenant: &str, flow: &str, position: jiff::Timestamp) -> Result<(), StoreError> {
        let tree = self.tree(CURSORS_TREE)?;
        let key = compound_key(tenant, &[flow]);
        let current: Option<Cursor> = get_json(&tree, &key)?;
        let next = match current {
            Some(cursor) if cursor.position >= position => return Ok(()),
            Some(cursor) => Cursor { position, ..cursor },
            None => Cursor::new(position),
        };
        put_json(&tree, &key, &next)
    }
}
