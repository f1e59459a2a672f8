//! Tilebox-compatible local server: Connect and gRPC on one port, SQLite storage, demo data.
