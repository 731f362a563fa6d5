//! Plugin (being written).
