//! What reached "WeChat", so tests can prove what the server under test did upstream.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::wechat::Endpoint;

/// Per-endpoint counters. Serialises to `{"<endpoint>": {"total": N, "errcodes": {...}}}`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct Stats {
    calls: BTreeMap<&'static str, EndpointStats>,
}

#[derive(Debug, Default, Serialize)]
struct EndpointStats {
    total: u64,
    errcodes: BTreeMap<String, u64>,
}

impl Default for Stats {
    /// Every endpoint is listed from the start, with zero calls.
    fn default() -> Self {
        let calls = Endpoint::ALL
            .iter()
            .map(|e| (e.name(), EndpointStats::default()))
            .collect();
        Self { calls }
    }
}

impl Stats {
    /// A request reached `endpoint` (counted before any delay, so in-flight calls show).
    pub(crate) fn reached(&mut self, endpoint: Endpoint) {
        self.calls.entry(endpoint.name()).or_default().total += 1;
    }

    /// The call ended with `outcome`: `"0"` for success, the errcode as text, or the name of a
    /// transport fault (`"malformed"`, `"html"`, `"drop"`).
    pub(crate) fn ended(&mut self, endpoint: Endpoint, outcome: String) {
        let entry = self.calls.entry(endpoint.name()).or_default();
        *entry.errcodes.entry(outcome).or_default() += 1;
    }
}
