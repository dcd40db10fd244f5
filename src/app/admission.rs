//! Admission to the MCP endpoint, one layer per concern, in order: header size, Host,
//! authentication (which puts the principal on the request), body size and JSON. Nothing is read
//! or processed for a request an earlier layer refused; each answers with a JSON-RPC error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceBuilder;

use super::resource::resource_url;
use super::{AllowedHosts, HttpSettings};
use crate::auth::oauth::looks_like_jwt;
use crate::auth::{AuthError, AuthMode, Authenticator, Credential, ResourceUrl, TokenError};
use crate::telemetry::CallMeta;

/// Total size of request headers accepted; real MCP clients send well under 2 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What the hosting platform knows about a request, in neutral terms. The Lambda entry point
/// fills it from the invocation's request context; a local server leaves it out.
#[derive(Clone, Debug, Default)]
pub struct CallerContext {
    /// The caller's IAM identity, when the platform authenticated it (Function URL `AWS_IAM`).
    pub iam_arn: Option<String>,
    /// The platform's id for this request.
    pub request_id: Option<String>,
    /// The client address the platform saw.
    pub source_ip: Option<String>,
}

/// Wraps `endpoint` in the admission layers.
pub(super) fn layers(endpoint: Router, http: &HttpSettings, auth: Authenticator) -> Router {
    // Listed outermost first: each runs only for requests the ones above let through.
    endpoint.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(limit_headers))
            .layer(middleware::from_fn_with_state(
                Arc::new(http.allowed_hosts.clone()),
                check_host,
            ))
            .layer(middleware::from_fn_with_state(auth, authenticate))
            .layer(middleware::from_fn_with_state(
                BodyLimits {
                    max_bytes: http.max_request_bytes,
                    deadline: http.connections.body_read_timeout,
                },
                read_body,
            )),
    )
}

async fn limit_headers(request: Request, next: Next) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return jsonrpc_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            -32600,
            &format!("request headers total {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}"),
        );
    }
    next.run(request).await
}

/// DNS-rebinding protection: the `Host` must be one the server is known by.
async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(host) = host_allowed(&allowed, request.headers()) {
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            -32600,
            &format!("Host {host:?} is not allowed; add it to MCP_ALLOWED_HOSTS on the server"),
        );
    }
    next.run(request).await
}

pub(super) fn host_allowed(allowed: &AllowedHosts, headers: &HeaderMap) -> Result<(), String> {
    let AllowedHosts::Only(hosts) = allowed else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let without_port = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _port)| name)
            .to_owned(),
    };
    let known = hosts.iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(&host) || allowed.eq_ignore_ascii_case(&without_port)
    });
    if known { Ok(()) } else { Err(host) }
}

/// Decides who is calling and puts the principal (and the call's metadata) on the request for
/// the MCP server. Client tokens stay in this layer: never forwarded, logged or passed down.
async fn authenticate(
    State(auth): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Response {
    // The resource this request reached: the audience its access token must name, and what
    // a challenge points clients at. Only OAuth needs it.
    let resource = auth
        .oauth()
        .and_then(|oauth| resource_url(oauth.configured_resource(), &request));
    // Copied out: the request is not `Sync`, so it cannot be held across the await.
    let credential = credential(auth.mode(), &request);
    let principal = match auth
        .authenticate(
            credential
                .as_ref()
                .map(|c| c.as_credential(resource.as_ref())),
        )
        .await
    {
        Ok(principal) => principal,
        Err(e) => return refused(&auth, resource.as_ref(), &e),
    };
    let meta = call_meta(&request);
    // The response names the id the audit line carries, so a client can quote it.
    let request_id = HeaderValue::from_str(&meta.request_id).ok();
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(meta);
    let mut response = next.run(request).await;
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The credential a request presents, among those the mode accepts: the platform's IAM
/// identity; else a bearer value, which is an access token when OAuth is on and it has the
/// shape of a JWT, else an API key; else `x-api-key`.
fn credential(mode: AuthMode, request: &Request) -> Option<OwnedCredential> {
    let headers = request.headers();
    let iam_arn = request
        .extensions()
        .get::<CallerContext>()
        .and_then(|caller| caller.iam_arn.clone());
    if mode.iam
        && let Some(arn) = iam_arn
    {
        return Some(OwnedCredential::IamArn(arn));
    }
    let bearer = bearer_token(headers).filter(|v| !v.is_empty());
    if let Some(value) = bearer
        && mode.oauth
        && (looks_like_jwt(value) || !mode.api_key)
    {
        return Some(OwnedCredential::AccessToken(value.to_owned()));
    }
    if !mode.api_key {
        return None;
    }
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
        .map(|k| OwnedCredential::ApiKey(k.to_owned()))
}

enum OwnedCredential {
    ApiKey(String),
    AccessToken(String),
    IamArn(String),
}

impl OwnedCredential {
    fn as_credential<'a>(&'a self, resource: Option<&'a ResourceUrl>) -> Credential<'a> {
        match self {
            OwnedCredential::ApiKey(key) => Credential::ApiKey(key),
            OwnedCredential::AccessToken(token) => Credential::AccessToken { token, resource },
            OwnedCredential::IamArn(arn) => Credential::IamArn(arn),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who is calling, as the audit line records it. The request id is the platform's (Lambda's is
/// not client-controlled) or a fresh one of ours; a client's `x-request-id` is kept beside it,
/// bounded, never in its place.
fn call_meta(request: &Request) -> CallMeta {
    let headers = request.headers();
    let client_value = |name: &str| {
        headers
            .get(name)
            .map(|v| CallMeta::client_value(v.as_bytes()))
    };
    let platform = request.extensions().get::<CallerContext>();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let mut meta = CallMeta::new();
    if let Some(id) = platform.and_then(|caller| caller.request_id.clone()) {
        meta.request_id = id;
    }
    meta.client_request_id = client_value("x-request-id");
    meta.source_ip = platform
        .and_then(|caller| caller.source_ip.clone())
        .or(peer);
    meta.user_agent = client_value("user-agent");
    meta
}

/// How much body the endpoint reads, and for how long.
#[derive(Clone, Copy)]
struct BodyLimits {
    max_bytes: usize,
    /// The whole body must arrive within this: a client trickling bytes would otherwise hold
    /// its connection (and a place under the connection cap) for as long as it likes.
    deadline: Duration,
}

/// POST bodies within the limit, in time, and valid JSON before rmcp sees them; other methods
/// pass (rmcp answers 405 for GET: no server-initiated streams in stateless mode).
async fn read_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let limit = limits.max_bytes;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit);
    }
    let collected = tokio::time::timeout(
        limits.deadline,
        http_body_util::Limited::new(body, limit).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return too_large(limit);
        }
        Ok(Err(e)) if !timed_out(&*e) => {
            tracing::debug!(error = %e, "could not read request body");
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "could not read the request body",
            );
        }
        // The whole body was late, or it paused too long (the listener's idle timeout).
        Ok(Err(_)) | Err(_) => return too_slow(limits.deadline),
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            &format!(
                "Parse error: the body is not valid JSON ({e}); send one JSON-RPC 2.0 message"
            ),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether a body error is, somewhere in its chain, an I/O timeout.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// The answer to a request that was not let in. With OAuth on, a challenge (RFC 6750 §3, RFC
/// 9728 §5.1) tells clients where the resource metadata is and what went wrong; a valid token
/// that lacks a scope gets 403 `insufficient_scope`; one no policy admits, a plain 403 (a new
/// token would not help, so no challenge invites a retry); an issuer whose keys cannot be had,
/// 503 (a 401 would send clients through sign-in again for nothing).
fn refused(auth: &Authenticator, resource: Option<&ResourceUrl>, error: &AuthError) -> Response {
    let Some(oauth) = auth.oauth() else {
        let mut response = jsonrpc_error(
            StatusCode::UNAUTHORIZED,
            -32001,
            &format!("Unauthorized: {error}"),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"s3-upload-mcp\""),
        );
        return response;
    };
    // Every sign-in starts with a request without a token: not worth an info line.
    match error {
        AuthError::MissingCredentials(_) => tracing::debug!(%error, "request refused"),
        _ => tracing::info!(%error, "request refused"),
    }
    let scope = oauth.required_scopes().join(" ");
    let (status, code, challenge_error) = match error {
        AuthError::MissingCredentials(_) => (StatusCode::UNAUTHORIZED, -32001, None),
        AuthError::Token(TokenError::InsufficientScope) => {
            (StatusCode::FORBIDDEN, -32001, Some("insufficient_scope"))
        }
        AuthError::Token(TokenError::IssuerUnavailable(_)) => {
            let mut response = jsonrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                -32603,
                "the identity provider's signing keys cannot be fetched right now; retry shortly",
            );
            let retry = oauth.retry_after().as_secs().to_string();
            if let Ok(value) = HeaderValue::from_str(&retry) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        AuthError::NoPolicy { .. } => {
            return jsonrpc_error(
                StatusCode::FORBIDDEN,
                -32001,
                &format!("Forbidden: {error}"),
            );
        }
        _ => (StatusCode::UNAUTHORIZED, -32001, Some("invalid_token")),
    };
    let mut params = Vec::new();
    if let Some(challenge_error) = challenge_error {
        params.push(("error", challenge_error.to_owned()));
        let description = match error {
            AuthError::Token(reason) => reason.to_string(),
            other => other.to_string(),
        };
        params.push(("error_description", description));
    }
    if let Some(resource) = resource {
        params.push(("resource_metadata", resource.metadata_url()));
    }
    if !scope.is_empty() {
        params.push(("scope", scope));
    }
    let prefix = if status == StatusCode::FORBIDDEN {
        "Forbidden"
    } else {
        "Unauthorized"
    };
    let mut response = jsonrpc_error(status, code, &format!("{prefix}: {error}"));
    if let Ok(value) = HeaderValue::from_str(&bearer_challenge(&params)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `Bearer name="value", …` with each value reduced to what a quoted-string may hold unescaped.
fn bearer_challenge(params: &[(&str, String)]) -> String {
    let quoted = |value: &str| -> String {
        value
            .chars()
            .filter(|c| (c.is_ascii_graphic() || *c == ' ') && !matches!(c, '"' | '\\'))
            .collect()
    };
    let params: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", quoted(value)))
        .collect();
    if params.is_empty() {
        "Bearer".to_owned()
    } else {
        format!("Bearer {}", params.join(", "))
    }
}

fn too_large(limit: usize) -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        -32600,
        &format!(
            "Request body exceeds {limit} bytes (Lambda's request limit is 6 MB). For large images call \
             create_upload_url, PUT the file to the returned upload_url, then call upload_image_to_s3 \
             with the staging_key instead of inline data."
        ),
    )
}

fn too_slow(deadline: Duration) -> Response {
    jsonrpc_error(
        StatusCode::REQUEST_TIMEOUT,
        -32600,
        &format!(
            "the request body did not arrive within {} ms; send it without pauses, or raise \
             BODY_READ_TIMEOUT_MS on the server. Large images go through create_upload_url",
            deadline.as_millis()
        ),
    )
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        h
    }

    #[test]
    fn host_check_accepts_listed_names_with_or_without_port() {
        let allowed = AllowedHosts::loopback();
        assert!(host_allowed(&allowed, &headers("localhost:8080")).is_ok());
        assert!(host_allowed(&allowed, &headers("127.0.0.1")).is_ok());
        assert!(host_allowed(&allowed, &headers("[::1]:8080")).is_ok());
        assert_eq!(
            host_allowed(&allowed, &headers("evil.example.com")).unwrap_err(),
            "evil.example.com"
        );
        assert!(host_allowed(&allowed, &HeaderMap::new()).is_err());
        assert!(host_allowed(&AllowedHosts::Any, &headers("anything")).is_ok());
    }

    #[test]
    fn request_ids_are_the_platforms_or_ours_and_the_clients_is_kept_beside() {
        let request = |platform: Option<&str>| {
            let mut request = Request::builder()
                .header("x-request-id", "client-chosen")
                .body(Body::empty())
                .unwrap();
            if let Some(id) = platform {
                request.extensions_mut().insert(CallerContext {
                    request_id: Some(id.to_owned()),
                    ..CallerContext::default()
                });
            }
            request
        };
        let lambda = call_meta(&request(Some("lambda-req-1")));
        assert_eq!(lambda.request_id, "lambda-req-1");
        assert_eq!(lambda.client_request_id.as_deref(), Some("client-chosen"));
        let local = call_meta(&request(None));
        assert_eq!(local.request_id.len(), 32);
        assert_ne!(local.request_id, "client-chosen");
        assert_eq!(local.client_request_id.as_deref(), Some("client-chosen"));
    }

    #[test]
    fn challenges_quote_only_what_a_quoted_string_may_hold() {
        assert_eq!(
            bearer_challenge(&[
                ("error", "invalid_token".into()),
                ("error_description", "bad \"kid\" \\ here\n".into()),
            ]),
            "Bearer error=\"invalid_token\", error_description=\"bad kid  here\""
        );
        assert_eq!(bearer_challenge(&[]), "Bearer");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
    }
}
