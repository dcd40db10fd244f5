//! The whole HTTP surface as one value: `/healthz`, the OAuth protected resource metadata (see
//! [`resource`]), and the MCP endpoint at `/mcp` and `/` behind one layer per admission concern
//! (see [`admission`]). Lambda, `serve` and the tests all wrap the same [`app`].

mod admission;
mod resource;
mod settings;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

pub use admission::CallerContext;
pub use settings::{AllowedHosts, HttpSettings, LAMBDA_REQUEST_LIMIT};

use crate::auth::Authenticator;
use crate::mcp::McpServer;
use crate::mcp::apps::ViewOrigins;
use crate::telemetry::Audit;
use crate::upload::Uploader;

/// Everything requests share, built once at start by the composition root (`runtime`).
#[derive(Clone)]
pub struct Services {
    pub uploader: Arc<Uploader>,
    pub auth: Authenticator,
    pub audit: Audit,
    pub http: HttpSettings,
    /// Origins the upload view reaches (presigned PUTs, published images), for its CSP.
    pub view_origins: Arc<ViewOrigins>,
}

/// Builds the HTTP application.
pub fn app(services: Services) -> Router {
    let mcp = StreamableHttpService::new(
        {
            let server = McpServer::new(
                services.uploader.clone(),
                services.audit.clone(),
                services.view_origins.clone(),
            );
            move || Ok(server.clone())
        },
        Arc::new(NeverSessionManager::default()),
        mcp_transport_config(&services.http),
    );
    let metadata = resource::routes(&services.auth, &services.http.allowed_hosts);
    let endpoint = admission::layers(
        Router::new()
            .route_service("/mcp", mcp.clone())
            .route_service("/", mcp),
        &services.http,
        services.auth,
    );
    Router::new()
        .route("/healthz", get(healthz))
        .merge(metadata)
        .merge(endpoint)
}

/// Stateless Streamable HTTP with plain JSON answers: what a Lambda invocation can serve.
fn mcp_transport_config(http: &HttpSettings) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The admission layers check size and Host themselves (before reading the body) and
        // answer with JSON-RPC errors; rmcp's own body limit stays as a second fence.
        .with_max_request_body_bytes(http.max_request_bytes)
        .disable_allowed_hosts()
        .with_allowed_origins(http.allowed_origins.clone())
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok", "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") }))
        .into_response()
}
