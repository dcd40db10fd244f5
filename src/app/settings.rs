//! What the HTTP surface admits: which hosts and origins, how large a body, and (when it listens
//! itself) how many connections and how slow a client.

use crate::listener::ConnectionLimits;

/// Lambda's synchronous request payload limit: the default body limit.
pub const LAMBDA_REQUEST_LIMIT: usize = 6 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// `Host` values accepted (`MCP_ALLOWED_HOSTS`): DNS-rebinding protection.
    pub allowed_hosts: AllowedHosts,
    /// Browser origins accepted (`MCP_ALLOWED_ORIGINS`); empty = requests with an `Origin` pass.
    pub allowed_origins: Vec<String>,
    /// Largest request body accepted (`MAX_REQUEST_BYTES`).
    pub max_request_bytes: usize,
    /// Connections and client timeouts of the local listeners (`serve`, the embedded store).
    /// The MCP endpoint also bounds the whole body by `body_read_timeout`, under Lambda too.
    pub connections: ConnectionLimits,
}

/// Which `Host` headers the MCP endpoint accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any host. The default under Lambda: the Function URL's host is not known before the
    /// stack exists, and AWS routes by host already; pin a custom domain with `MCP_ALLOWED_HOSTS`.
    Any,
    /// Only these hosts (`name` or `name:port`).
    Only(Vec<String>),
}

impl AllowedHosts {
    /// The names a local server answers to.
    pub fn loopback() -> Self {
        AllowedHosts::Only(
            ["localhost", "127.0.0.1", "::1"]
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
        )
    }
}
