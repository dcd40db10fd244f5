//! The two URLs an OAuth resource server lives by, parsed once: the issuers it trusts
//! ([`IssuerUrl`]) and its own identity ([`ResourceUrl`], RFC 9728 / RFC 8707).

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

/// A trusted issuer (`OAUTH_ISSUER`): `https`, or `http` on a loopback address (tests, local
/// development). Kept exactly as written: tokens' `iss` is compared to it character for
/// character (Cognito has no trailing slash, Auth0 has one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where its metadata may be: OpenID Connect Discovery (appended to the issuer), then RFC
    /// 8414 (inserted between host and path).
    pub fn metadata_urls(&self) -> [String; 2] {
        let issuer = self.0.trim_end_matches('/');
        let url = Url::parse(issuer).expect("checked when parsed");
        let path = url.path().trim_end_matches('/');
        [
            format!("{issuer}/.well-known/openid-configuration"),
            format!(
                "{}/.well-known/oauth-authorization-server{path}",
                url.origin().ascii_serialization()
            ),
        ]
    }

    /// Whether keys may be fetched from `url`: `https`, or `http` on loopback when the issuer
    /// itself is on loopback.
    pub fn permits(&self, url: &Url) -> bool {
        match url.scheme() {
            "https" => true,
            "http" => {
                is_loopback(url) && Url::parse(&self.0).is_ok_and(|issuer| is_loopback(&issuer))
            }
            _ => false,
        }
    }
}

impl FromStr for IssuerUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = s.trim();
        let url = secure_url(raw)?;
        if url.query().is_some() {
            return Err(format!("{raw:?}: an issuer URL has no query"));
        }
        Ok(IssuerUrl(raw.to_owned()))
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// This server as a protected resource: the URL MCP clients connect to, which is the `resource`
/// of its metadata and the `aud` its tokens are issued for. Canonical (lowercase scheme and
/// host, no query or fragment, no trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUrl {
    origin: String,
    /// Empty for the root, else `/…` without a trailing slash.
    path: String,
}

impl ResourceUrl {
    /// The MCP path this server also answers on (next to `/`).
    const MCP_PATH: &str = "/mcp";

    /// The resource a request reached, from its scheme, its `Host` (already accepted by the Host
    /// check) and the endpoint path (`/` or `/mcp`).
    pub fn from_request(scheme: &str, host: &str, path: &str) -> Option<ResourceUrl> {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https") {
            return None;
        }
        let url = Url::parse(&format!("{scheme}://{host}/")).ok()?;
        if url.host().is_none() || url.path() != "/" || !url.username().is_empty() {
            return None;
        }
        Some(ResourceUrl {
            origin: url.origin().ascii_serialization(),
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The metadata document's URL (RFC 9728 §3.1): the well-known path inserted between the
    /// host and the resource's path.
    pub fn metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource{}",
            self.origin, self.path
        )
    }

    /// The `aud` values that name this resource: itself with or without a trailing slash (a
    /// client's URL parser may add one), and, as this server answers MCP on both `/` and `/mcp`,
    /// the other of those two when it is one of them.
    pub fn audiences(&self) -> Vec<String> {
        let mut paths = vec![self.path.as_str()];
        if self.path.is_empty() {
            paths.push(Self::MCP_PATH);
        } else if self.path == Self::MCP_PATH {
            paths.push("");
        }
        paths
            .into_iter()
            .flat_map(|path| {
                [
                    format!("{}{path}", self.origin),
                    format!("{}{path}/", self.origin),
                ]
            })
            .collect()
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The path below the origin (`/mcp`; empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl FromStr for ResourceUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = s.trim();
        let url = secure_url(raw)?;
        if url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{raw:?}: the resource URL has no query or user name"
            ));
        }
        Ok(ResourceUrl {
            origin: url.origin().ascii_serialization(),
            path: url.path().trim_end_matches('/').to_owned(),
        })
    }
}

impl fmt::Display for ResourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin, self.path)
    }
}

/// An absolute URL that is `https`, or `http` on a loopback address; no fragment.
fn secure_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    if url.fragment().is_some() || url.host().is_none() {
        return Err(format!(
            "{raw:?} must be an absolute URL without a fragment"
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(format!(
            "{raw:?} must use https (http only on a loopback address such as 127.0.0.1, for local tests)"
        )),
    }
}

pub(super) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_need_https_unless_on_loopback() {
        for good in [
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
            "https://tenant.auth0.com/",
            "http://127.0.0.1:4444",
            "http://localhost:8080/realms/x",
            "http://[::1]:9000",
        ] {
            assert!(good.parse::<IssuerUrl>().is_ok(), "{good}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.5",
            "ftp://127.0.0.1",
            "idp.example.com",
            "https://idp.example.com/?tenant=1",
            "https://idp.example.com/#x",
        ] {
            assert!(bad.parse::<IssuerUrl>().is_err(), "{bad}");
        }
        // Kept as written: `iss` is compared exactly.
        let auth0: IssuerUrl = "https://tenant.auth0.com/".parse().unwrap();
        assert_eq!(auth0.as_str(), "https://tenant.auth0.com/");
    }

    #[test]
    fn issuer_metadata_is_looked_up_both_ways() {
        let entra: IssuerUrl = "https://login.microsoftonline.com/tid/v2.0"
            .parse()
            .unwrap();
        assert_eq!(
            entra.metadata_urls(),
            [
                "https://login.microsoftonline.com/tid/v2.0/.well-known/openid-configuration",
                "https://login.microsoftonline.com/.well-known/oauth-authorization-server/tid/v2.0",
            ]
        );
        let root: IssuerUrl = "https://tenant.auth0.com/".parse().unwrap();
        assert_eq!(
            root.metadata_urls()[1],
            "https://tenant.auth0.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn http_key_urls_are_only_for_loopback_issuers() {
        let local: IssuerUrl = "http://127.0.0.1:4444".parse().unwrap();
        let remote: IssuerUrl = "https://idp.example.com".parse().unwrap();
        let http_local = Url::parse("http://127.0.0.1:4444/jwks").unwrap();
        let http_remote = Url::parse("http://idp.example.com/jwks").unwrap();
        assert!(local.permits(&http_local));
        assert!(!local.permits(&http_remote));
        assert!(!remote.permits(&http_local));
        assert!(remote.permits(&Url::parse("https://keys.example.com/jwks").unwrap()));
    }

    #[test]
    fn resource_urls_are_canonical_and_name_their_metadata() {
        let lambda =
            ResourceUrl::from_request("https", "Abc.Lambda-URL.eu-west-1.on.aws", "/mcp").unwrap();
        assert_eq!(
            lambda.to_string(),
            "https://abc.lambda-url.eu-west-1.on.aws/mcp"
        );
        assert_eq!(
            lambda.metadata_url(),
            "https://abc.lambda-url.eu-west-1.on.aws/.well-known/oauth-protected-resource/mcp"
        );
        let root = ResourceUrl::from_request("http", "127.0.0.1:8080", "/").unwrap();
        assert_eq!(root.to_string(), "http://127.0.0.1:8080");
        assert_eq!(
            root.metadata_url(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.audiences(),
            [
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/mcp",
                "http://127.0.0.1:8080/mcp/"
            ]
        );
        let configured: ResourceUrl = "https://MCP.example.com/tools/mcp/".parse().unwrap();
        assert_eq!(configured.to_string(), "https://mcp.example.com/tools/mcp");
        assert_eq!(configured.audiences().len(), 2);
        assert!(ResourceUrl::from_request("https", "evil.com/x", "/mcp").is_none());
        assert!(ResourceUrl::from_request("https", "user@evil.com", "/mcp").is_none());
        assert!(ResourceUrl::from_request("gopher", "h", "/mcp").is_none());
        assert!("http://mcp.example.com/mcp".parse::<ResourceUrl>().is_err());
    }
}
