//! Tilebox client for synchronous programs (ureq transport, concurrent loading on threads).
