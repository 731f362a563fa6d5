//! TODO: module capabilities is being written.
