//! The server as an OAuth protected resource: the URL a request reached, and the RFC 9728
//! metadata documents that tell clients which authorization servers issue its tokens.
//! Unauthenticated, like `/healthz`: clients read them before they have a token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AllowedHosts;
use super::admission::host_allowed;
use crate::auth::{Authenticator, OAuth, ResourceUrl};

/// RFC 9728 §3: the document's well-known path, followed by the resource's own path.
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The MCP endpoint's path, besides the root.
const MCP_PATH: &str = "/mcp";

/// Where clients look for an authorization server's metadata (RFC 8414, OpenID Connect).
const AUTHORIZATION_SERVER_PATHS: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// The metadata routes, when OAuth is on (otherwise those paths are behind authentication like
/// any other); with `OAUTH_METADATA_PROXY`, the authorization server's metadata too.
pub(super) fn routes(auth: &Authenticator, allowed_hosts: &AllowedHosts) -> Router {
    let Some(oauth) = auth.oauth() else {
        return Router::new();
    };
    let mut router = Router::new()
        .route(METADATA_PATH, get(metadata))
        .route(&format!("{METADATA_PATH}/{{*path}}"), get(metadata));
    if oauth.proxies_metadata() {
        for path in AUTHORIZATION_SERVER_PATHS {
            router = router.route(path, get(authorization_server));
        }
    }
    router.with_state((auth.clone(), Arc::new(allowed_hosts.clone())))
}

/// The resource `request` reached: the configured one, else `scheme://host` from the request
/// plus `/mcp` when it came to that path. The Host has passed the Host check by then.
pub(super) fn resource_url(
    configured: Option<&ResourceUrl>,
    request: &Request,
) -> Option<ResourceUrl> {
    if let Some(resource) = configured {
        return Some(resource.clone());
    }
    let path = request.uri().path();
    let mcp = path == MCP_PATH || path == format!("{METADATA_PATH}{MCP_PATH}");
    derived(request, if mcp { MCP_PATH } else { "" })
}

fn derived(request: &Request, path: &str) -> Option<ResourceUrl> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
    // Lambda requests carry their scheme (https); a local server's do not.
    let scheme = request.uri().scheme_str().unwrap_or("http");
    ResourceUrl::from_request(scheme, host, path)
}

type MetadataState = State<(Authenticator, Arc<AllowedHosts>)>;

/// The validator, for a request whose Host the server answers to (the documents name it).
fn admitted<'a>(
    auth: &'a Authenticator,
    allowed_hosts: &AllowedHosts,
    request: &Request,
) -> Result<&'a OAuth, StatusCode> {
    let oauth = auth.oauth().ok_or(StatusCode::NOT_FOUND)?;
    match host_allowed(allowed_hosts, request.headers()) {
        Ok(()) => Ok(oauth),
        Err(_) => Err(StatusCode::FORBIDDEN),
    }
}

async fn metadata(State((auth, allowed_hosts)): MetadataState, request: Request) -> Response {
    let oauth = match admitted(&auth, &allowed_hosts, &request) {
        Ok(oauth) => oauth,
        Err(refused) => return refused.into_response(),
    };
    let suffix = request
        .uri()
        .path()
        .strip_prefix(METADATA_PATH)
        .unwrap_or_default();
    // A derived resource exists at `/` and `/mcp`; a configured one wherever it is mounted.
    let known = suffix.is_empty()
        || suffix == MCP_PATH
        || oauth
            .configured_resource()
            .is_some_and(|r| r.path() == suffix);
    let Some(resource) = resource_url(oauth.configured_resource(), &request).filter(|_| known)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    public_json(axum::Json(oauth.metadata(&resource)).into_response())
}

/// The issuer's metadata, published as this server's (`OAUTH_METADATA_PROXY`).
async fn authorization_server(
    State((auth, allowed_hosts)): MetadataState,
    request: Request,
) -> Response {
    let oauth = match admitted(&auth, &allowed_hosts, &request) {
        Ok(oauth) => oauth,
        Err(refused) => return refused.into_response(),
    };
    let Some(resource) = resource_url(oauth.configured_resource(), &request) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match oauth.authorization_server_metadata(resource.origin()).await {
        Ok(document) => public_json(axum::Json(document).into_response()),
        Err(error) => {
            tracing::warn!(%error, "the issuer's metadata is unavailable");
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the identity provider's metadata cannot be fetched right now",
            });
            (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
        }
    }
}

/// Public, cacheable, readable cross-origin (browser-based clients such as MCP Inspector).
fn public_json(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Public by design; browser-based clients (MCP Inspector) read it cross-origin.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
