//! Tilebox client for async-std and smol programs (hyper over async-io).
