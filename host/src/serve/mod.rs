//! TODO: module serve is being written.
