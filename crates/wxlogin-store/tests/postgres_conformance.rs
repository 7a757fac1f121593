//! The conformance suite on PostgreSQL (being written).
