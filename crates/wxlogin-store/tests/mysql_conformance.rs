//! The conformance suite on MySQL / MariaDB (being written).
