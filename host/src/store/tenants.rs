//! Tenant definitions kept in the store. TODO: being written.
