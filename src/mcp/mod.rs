//! The MCP server: capabilities, the caller of each call, the one audit wrapper every tool runs
//! in, and the one place errors become MCP results. Tools live in one file per group
//! ([`upload_tools`], [`apps`]); arguments and results in [`schema`], their presentation in
//! [`present`].

pub mod apps;
pub mod present;
pub mod schema;
mod upload_tools;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Json;
use rmcp::model::{
    CallToolResult, ContentBlock, ExtensionCapabilities, Implementation, JsonObject,
    ListResourcesResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::auth::Principal;
use crate::telemetry::{Audit, AuditEvent, CallMeta, UploadStats};
use crate::upload::{StoredImage, UploadError, Uploader};
use apps::ViewOrigins;

/// Protocol revisions served: the three with `initialize`, and 2026-07-28 without it.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

const INSTRUCTIONS: &str = "Turns images into public, web-ready URLs. Small images: call upload_image_to_s3 \
with the image as base64 (or a data: URI) in `data` and its original `filename`. Large images (over ~1 MB) \
or when you have a shell: call create_upload_url with the file's size in `bytes`, run the returned `curl` \
command (PUT the file), then call \
upload_image_to_s3 with the `staging_key`. Several images: batch_upload_images. The result's `url` serves the \
optimised image (WebP unless the original is smaller, scaled to fit 1920×1080 by default).";

/// Added for the local stdio server, which can read files itself.
const LOCAL_INSTRUCTIONS: &str = "This server runs on the user's machine: for a local image file, pass its \
absolute path in `path` instead of `data` (only files inside the directories the server was started with \
--allow-dir are readable).";

/// One MCP server instance per request (stateless); cheap to clone.
#[derive(Clone)]
pub struct McpServer {
    uploader: Arc<Uploader>,
    audit: Audit,
    /// The caller when there is no HTTP request to carry one (stdio); `None` over HTTP, where a
    /// request without an authenticated principal is refused.
    local_principal: Option<Principal>,
    /// Where the upload view may connect, for its resource's CSP; found once at start.
    view_origins: Arc<ViewOrigins>,
    tool_router: ToolRouter<Self>,
}

/// What a tool call touched, for its audit line.
#[derive(Default)]
struct Activity {
    buckets: Vec<String>,
    keys: Vec<String>,
    bytes_in: u64,
    bytes_out: u64,
    /// Upload tools count their uploads (and so carry metrics).
    uploads: Option<UploadStats>,
    /// Overrides "ok" for a call that ran but did not fully succeed ("partial", "failed").
    result: Option<&'static str>,
}

impl Activity {
    fn stored(&mut self, stored: &StoredImage) {
        if !self.buckets.contains(&stored.bucket) {
            self.buckets.push(stored.bucket.clone());
        }
        // Every key written, variants included: the audit line answers "what did this call touch".
        self.keys.push(stored.key.clone());
        self.keys
            .extend(stored.variants.iter().map(|variant| variant.key.clone()));
        self.bytes_in += stored.original_bytes as u64;
        self.bytes_out += stored.bytes as u64;
        self.bytes_out += stored.variants.iter().map(|v| v.bytes as u64).sum::<u64>();
        let uploads = self.uploads.get_or_insert_with(UploadStats::default);
        uploads.succeeded += 1;
        uploads.bytes += stored.bytes as u64;
        uploads.deduplicated += u64::from(stored.deduplicated);
    }

    fn failed_upload(&mut self) {
        self.uploads.get_or_insert_with(UploadStats::default).failed += 1;
    }
}

impl McpServer {
    /// For HTTP: every call must carry the principal the app authenticated.
    pub fn new(uploader: Arc<Uploader>, audit: Audit, view_origins: Arc<ViewOrigins>) -> Self {
        let mut tool_router = Self::upload_tools() + Self::apps_tools();
        for route in tool_router.map.values_mut() {
            schema::drop_numeric_formats(Arc::make_mut(&mut route.attr.input_schema));
            if let Some(output) = &mut route.attr.output_schema {
                schema::drop_numeric_formats(Arc::make_mut(output));
            }
        }
        McpServer {
            uploader,
            audit,
            local_principal: None,
            view_origins,
            tool_router,
        }
    }

    /// For a local transport (stdio): every call is the local principal.
    pub fn local(uploader: Arc<Uploader>, audit: Audit, view_origins: Arc<ViewOrigins>) -> Self {
        McpServer {
            local_principal: Some(Principal::local()),
            ..Self::new(uploader, audit, view_origins)
        }
    }

    /// The caller, from the HTTP request the app admitted, or the local principal.
    fn caller(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Principal, CallMeta), CallToolResult> {
        let from_http = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| {
                let principal = parts.extensions.get::<Principal>()?.clone();
                let meta = parts.extensions.get::<CallMeta>().cloned();
                Some((principal, meta.unwrap_or_else(CallMeta::new)))
            });
        from_http
            .or_else(|| {
                self.local_principal.clone().map(|p| {
                    // The JSON-RPC id is the client's name for the call: kept beside ours.
                    let mut meta = CallMeta::new();
                    meta.client_request_id =
                        Some(CallMeta::client_value(context.id.to_string().as_bytes()));
                    (p, meta)
                })
            })
            .ok_or_else(|| {
                CallToolResult::error(vec![ContentBlock::text("unauthenticated call refused")])
            })
    }

    /// Runs one tool call for its caller and writes its audit line, whatever the outcome; a
    /// failure becomes the tool error the agent reads.
    async fn audited<T>(
        &self,
        tool: &'static str,
        context: &RequestContext<RoleServer>,
        work: impl AsyncFnOnce(&Principal, &mut Activity) -> Result<T, UploadError>,
    ) -> Result<Json<T>, CallToolResult> {
        let started = Instant::now();
        let (principal, meta) = self.caller(context)?;
        let mut activity = Activity::default();
        let result = work(&principal, &mut activity).await;
        let mut event = AuditEvent::new(tool, &principal.id, &meta, started);
        event.subject = principal.subject.as_deref();
        event.buckets = activity.buckets;
        event.keys = activity.keys;
        event.bytes_in = activity.bytes_in;
        event.bytes_out = activity.bytes_out;
        event.uploads = activity.uploads;
        event.result = match &result {
            Ok(_) => activity.result.unwrap_or("ok"),
            Err(e) => e.kind(),
        };
        self.audit.record(&event);
        result.map(Json).map_err(tool_error)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let instructions = if self.local_principal.is_some() {
            format!("{INSTRUCTIONS} {LOCAL_INSTRUCTIONS}")
        } else {
            INSTRUCTIONS.to_owned()
        };
        // Resources carry the upload view; the extension tells hosts it is an MCP App.
        let mut extensions = ExtensionCapabilities::new();
        extensions.insert(apps::UI_EXTENSION.to_owned(), JsonObject::new());
        let capabilities = ServerCapabilities::builder()
            .enable_extensions_with(extensions)
            .enable_resources()
            .enable_tools()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(instructions)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(apps::list(&self.view_origins))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        apps::read(&request.uri, &self.view_origins).map(Into::into)
    }
}

/// A failed call as the agent sees it: `isError: true` and a message that says what to do.
fn tool_error(error: UploadError) -> CallToolResult {
    log_failure(&error);
    CallToolResult::error(vec![ContentBlock::text(error.to_string())])
}

/// Failures that are ours or the store's are warnings; refusals of bad input are info.
fn log_failure(error: &UploadError) {
    if error.is_ours() {
        tracing::warn!(kind = error.kind(), error = %error, "upload failed");
    } else {
        tracing::info!(kind = error.kind(), error = %error, "upload refused");
    }
}
