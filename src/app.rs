//! The whole HTTP surface as one value: `/healthz`, and the MCP endpoint at `/mcp` and `/`,
//! behind header limits, Host validation, authentication and body limits, in that order.
//! Lambda, `serve` and the tests all wrap the same [`app`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::auth::{self, AuthError, AuthMode, Authenticator, Credential};
use crate::config::{AllowedHosts, Config};
use crate::mcp::McpServer;
use crate::storage::Storage;
use crate::telemetry::{Audit, AuditSink, CallMeta};
use crate::upload::Uploader;

/// Total size of request headers accepted; real MCP clients send well under 2 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

type McpService = StreamableHttpService<McpServer, NeverSessionManager>;

/// Everything requests share, built once at start.
#[derive(Clone)]
pub struct Services {
    pub uploader: Arc<Uploader>,
    pub auth: Authenticator,
    pub audit: Audit,
}

impl Services {
    /// Loads the principals document (when authentication is on) and wires the pipeline.
    pub async fn build(
        config: Config,
        storage: Storage,
        audit_sink: AuditSink,
    ) -> anyhow::Result<Self> {
        let auth = auth::from_config(&config)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let audit = Audit::new(audit_sink, &config.metrics_namespace);
        Ok(Services {
            uploader: Arc::new(Uploader::new(Arc::new(config), storage)),
            auth,
            audit,
        })
    }
}

#[derive(Clone)]
struct AppState {
    mcp: McpService,
    auth: Authenticator,
    allowed_hosts: AllowedHosts,
    max_request_bytes: usize,
}

/// Builds the HTTP application.
pub fn app(services: Services) -> Router {
    let config = services.uploader.config();
    let state = AppState {
        allowed_hosts: config.allowed_hosts.clone(),
        max_request_bytes: config.max_request_bytes,
        auth: services.auth.clone(),
        mcp: StreamableHttpService::new(
            {
                let server = McpServer::new(services.uploader.clone(), services.audit.clone());
                move || Ok(server.clone())
            },
            Arc::new(NeverSessionManager::default()),
            mcp_transport_config(config),
        ),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/mcp", any(mcp_endpoint))
        .route("/", any(mcp_endpoint))
        .with_state(state)
}

/// Stateless Streamable HTTP with plain JSON answers: what a Lambda invocation can serve.
fn mcp_transport_config(config: &Config) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The app checks size and Host itself (before reading the body) and answers with
        // JSON-RPC errors; rmcp's own body limit stays as a second fence.
        .with_max_request_body_bytes(config.max_request_bytes)
        .disable_allowed_hosts()
        .with_allowed_origins(config.allowed_origins.clone())
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok", "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") }))
        .into_response()
}

/// Admission (headers, Host, credentials), then the body within its limit and as valid JSON,
/// then rmcp. Nothing is read or processed for a request that fails an earlier step.
async fn mcp_endpoint(State(state): State<AppState>, mut request: Request) -> Response {
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
    if let Err(host) = check_host(&state.allowed_hosts, request.headers()) {
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            -32600,
            &format!("Host {host:?} is not allowed; add it to MCP_ALLOWED_HOSTS on the server"),
        );
    }
    let credential = credential(state.auth.mode(), &request);
    let principal = match state
        .auth
        .authenticate(credential.as_ref().map(OwnedCredential::as_credential))
        .await
    {
        Ok(principal) => principal,
        Err(e) => return unauthorized(&e),
    };
    let meta = call_meta(&request);
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(meta);

    if request.method() != Method::POST {
        // rmcp answers 405 for GET (no server-initiated streams in stateless mode) and others.
        return forward(state.mcp, request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = state.max_request_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit);
    }
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return too_large(limit);
        }
        Err(e) => {
            tracing::debug!(error = %e, "could not read request body");
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "could not read the request body",
            );
        }
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
    forward(state.mcp, Request::from_parts(parts, Body::from(bytes))).await
}

/// DNS-rebinding protection: the `Host` must be one the server is known by.
fn check_host(allowed: &AllowedHosts, headers: &HeaderMap) -> Result<(), String> {
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

/// The credential the configured mode expects, copied out of the request (which is not `Sync`,
/// so it cannot be held across the authentication await). Client tokens stay in this layer:
/// they are never forwarded to AWS, logged, or passed further down.
fn credential(mode: AuthMode, request: &Request) -> Option<OwnedCredential> {
    let headers = request.headers();
    match mode {
        AuthMode::None => None,
        AuthMode::ApiKey => bearer_token(headers)
            .or_else(|| {
                headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
            })
            .filter(|k| !k.is_empty())
            .map(|k| OwnedCredential::ApiKey(k.to_owned())),
        AuthMode::Iam => iam_arn(request).map(|arn| OwnedCredential::IamArn(arn.to_owned())),
    }
}

enum OwnedCredential {
    ApiKey(String),
    IamArn(String),
}

impl OwnedCredential {
    fn as_credential(&self) -> Credential<'_> {
        match self {
            OwnedCredential::ApiKey(key) => Credential::ApiKey(key),
            OwnedCredential::IamArn(arn) => Credential::IamArn(arn),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller's ARN, as the Function URL (AuthType AWS_IAM) puts it in the request context.
fn iam_arn(request: &Request) -> Option<&str> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .iam
            .as_ref()?
            .user_arn
            .as_deref(),
        RequestContext::ApiGatewayV1(context) => context.identity.user_arn.as_deref(),
        _ => None,
    }
}

fn call_meta(request: &Request) -> CallMeta {
    let headers = request.headers();
    let header_value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (lambda_request_id, lambda_source_ip) = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            (context.request_id.clone(), context.http.source_ip.clone())
        }
        Some(RequestContext::ApiGatewayV1(context)) => (
            context.request_id.clone(),
            context.identity.source_ip.clone(),
        ),
        _ => (None, None),
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    CallMeta {
        request_id: lambda_request_id
            .or_else(|| header_value("x-request-id"))
            .unwrap_or_else(new_request_id),
        source_ip: lambda_source_ip.or(peer),
        user_agent: header_value("user-agent"),
    }
}

fn new_request_id() -> String {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the OS random number generator is available");
    hex::encode(id)
}

async fn forward(mcp: McpService, request: Request) -> Response {
    use tower::ServiceExt as _;
    match mcp.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

fn unauthorized(error: &AuthError) -> Response {
    let mut response = jsonrpc_error(
        StatusCode::UNAUTHORIZED,
        -32001,
        &format!("Unauthorized: {error}"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"s3-upload-mcp\""),
    );
    response
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
        let allowed =
            AllowedHosts::Only(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
        assert!(check_host(&allowed, &headers("localhost:8080")).is_ok());
        assert!(check_host(&allowed, &headers("127.0.0.1")).is_ok());
        assert!(check_host(&allowed, &headers("[::1]:8080")).is_ok());
        assert_eq!(
            check_host(&allowed, &headers("evil.example.com")).unwrap_err(),
            "evil.example.com"
        );
        assert!(check_host(&allowed, &HeaderMap::new()).is_err());
        assert!(check_host(&AllowedHosts::Any, &headers("anything")).is_ok());
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
