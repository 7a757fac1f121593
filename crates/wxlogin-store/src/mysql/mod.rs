//! MySQL / MariaDB backend (being written).
