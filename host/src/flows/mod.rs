//! TODO: module flows is being written.
