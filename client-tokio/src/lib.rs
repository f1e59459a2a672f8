//! Tilebox client for tokio programs (reqwest transport).
