//! TODO: module schedule is being written.
