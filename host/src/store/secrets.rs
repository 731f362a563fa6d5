//! Secrets encrypted at rest. TODO: being written.
