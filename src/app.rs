//! The whole HTTP surface as one value: `/healthz`, and the MCP endpoint at `/mcp` and `/`.
//! Lambda, `serve` and the tests all wrap the same [`app`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use crate::config::{AllowedHosts, Config};
use crate::mcp::McpServer;
use crate::upload::Uploader;

type McpService = StreamableHttpService<McpServer, NeverSessionManager>;

#[derive(Clone)]
struct AppState {
    mcp: McpService,
    max_request_bytes: usize,
}

/// Builds the HTTP application around an uploader (which holds the config and the S3 client).
pub fn app(uploader: Arc<Uploader>) -> Router {
    let config = uploader.config();
    let max_request_bytes = config.max_request_bytes;
    let mcp_config = mcp_transport_config(config);
    let server = McpServer::new(uploader);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        mcp_config,
    );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/mcp", any(mcp_endpoint))
        .route("/", any(mcp_endpoint))
        .with_state(AppState {
            mcp,
            max_request_bytes,
        })
}

/// Stateless Streamable HTTP with plain JSON answers: what a Lambda invocation can serve.
fn mcp_transport_config(config: &Config) -> StreamableHttpServerConfig {
    let transport = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The app checks the size first and answers with a JSON-RPC error; this is a second fence.
        .with_max_request_body_bytes(config.max_request_bytes)
        .with_allowed_origins(config.allowed_origins.clone());
    match &config.allowed_hosts {
        AllowedHosts::Any => transport.disable_allowed_hosts(),
        AllowedHosts::Only(hosts) => transport.with_allowed_hosts(hosts.clone()),
    }
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok", "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") }))
        .into_response()
}

/// Reads a POST body within the limit and checks it is JSON before rmcp sees it, so that
/// oversize and malformed requests get JSON-RPC errors an agent can act on.
async fn mcp_endpoint(State(state): State<AppState>, request: Request) -> Response {
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

async fn forward(mcp: McpService, request: Request) -> Response {
    use tower::ServiceExt as _;
    match mcp.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
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

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}
