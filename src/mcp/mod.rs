//! The MCP server: tool definitions, the one audit wrapper every tool runs in, and the one place
//! upload errors become MCP results. Results are shaped in [`present`], arguments in [`schema`].

pub mod present;
pub mod schema;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ProgressNotificationParam, ProtocolVersion,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::auth::Principal;
use crate::telemetry::{Audit, AuditEvent, CallMeta, UploadStats};
use crate::upload::{
    BatchProgress, InputReason, Source, StagingRequest, StoredImage, UploadError, UploadRequest,
    Uploader,
};
use schema::{
    BatchItemResult, BatchResult, BatchUploadParams, BucketInfo, BucketList, CreateUploadUrlParams,
    UploadImageParams, UploadOutcome, UploadUrl,
};

/// Protocol revisions served: the three with `initialize`, and 2026-07-28 without it.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

const INSTRUCTIONS: &str = "Turns images into public, web-ready URLs. Small images: call upload_image_to_s3 \
with the image as base64 (or a data: URI) in `data` and its original `filename`. Large images (over ~1 MB) \
or when you have a shell: call create_upload_url, run the returned `curl` command (PUT the file), then call \
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
    pub fn new(uploader: Arc<Uploader>, audit: Audit) -> Self {
        let mut tool_router = Self::tool_router();
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
            tool_router,
        }
    }

    /// For a local transport (stdio): every call is the local principal.
    pub fn local(uploader: Arc<Uploader>, audit: Audit) -> Self {
        McpServer {
            local_principal: Some(Principal::local()),
            ..Self::new(uploader, audit)
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

#[tool_router]
impl McpServer {
    #[tool(
        description = "Upload an image and get a public URL. Give the image in `data` (base64 or data: URI), \
            as a `staging_key` from create_upload_url, or (local stdio server only) as a file `path`. The image is oriented, stripped of metadata, scaled \
            to fit max_width×max_height and converted to WebP unless the original is smaller. Returns url, \
            key, bytes, width, height, sha256.",
        annotations(
            title = "Upload image to S3",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn upload_image_to_s3(
        &self,
        Parameters(params): Parameters<UploadImageParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<UploadOutcome>, CallToolResult> {
        self.audited(
            "upload_image_to_s3",
            &context,
            async |principal, activity| {
                activity.buckets.extend(params.bucket.clone());
                let stored = match params.into_request(None) {
                    Ok(request) => self.uploader.upload(principal, request).await,
                    Err(e) => Err(e),
                };
                match stored {
                    Ok(stored) => {
                        activity.buckets.clear();
                        activity.stored(&stored);
                        Ok(present::upload_outcome(stored))
                    }
                    Err(e) => {
                        activity.failed_upload();
                        Err(e)
                    }
                }
            },
        )
        .await
    }

    #[tool(
        description = "Get a presigned URL to upload a large image out of band (no base64 through the \
            conversation). PUT the file's raw bytes to upload_url with the returned headers — the `curl` \
            field is a ready command — then call upload_image_to_s3 (or batch_upload_images) with the \
            staging_key. The URL expires at expires_at.",
        annotations(
            title = "Create staging upload URL",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_upload_url(
        &self,
        Parameters(params): Parameters<CreateUploadUrlParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<UploadUrl>, CallToolResult> {
        self.audited(
            "create_upload_url",
            &context,
            async |principal, activity| {
                activity
                    .buckets
                    .push(self.uploader.settings().default_bucket.clone());
                let request = StagingRequest {
                    filename: params.filename,
                    content_type: params.content_type,
                    bytes: params.bytes,
                };
                let filename = request.filename.clone();
                let ticket = self.uploader.create_upload_url(principal, request).await?;
                // The staging key is logged; the presigned URL (and its signature) never is.
                activity.keys.push(ticket.staging_key.clone());
                Ok(present::upload_url(ticket, &filename))
            },
        )
        .await
    }

    #[tool(
        description = "Upload several images in one call, in parallel. Each item takes the same fields \
            as upload_image_to_s3; top-level format/quality/prefix/max_width/max_height/bucket are defaults \
            for items. Returns results in input order ({index, ok, ...upload result} or {index, ok: false, \
            error}) and succeeded/failed counts; one bad item never fails the others. Sends progress \
            notifications when the request carries a progressToken.",
        annotations(
            title = "Batch upload images",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn batch_upload_images(
        &self,
        Parameters(params): Parameters<BatchUploadParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<BatchResult>, CallToolResult> {
        self.audited(
            "batch_upload_images",
            &context,
            async |principal, activity| self.run_batch(principal, params, &context, activity).await,
        )
        .await
    }

    #[tool(
        description = "List the S3 buckets this server may upload to, and which one is the default.",
        annotations(
            title = "List upload buckets",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_s3_buckets(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<BucketList>, CallToolResult> {
        self.audited("list_s3_buckets", &context, async |principal, activity| {
            let default_bucket = self.uploader.settings().default_bucket.clone();
            let buckets = self.uploader.writable_buckets(principal).await;
            activity.buckets = buckets.clone();
            Ok(BucketList {
                buckets: buckets
                    .into_iter()
                    .map(|name| BucketInfo {
                        default: name == default_bucket,
                        name,
                    })
                    .collect(),
                default_bucket,
            })
        })
        .await
    }
}

impl McpServer {
    /// The batch: items whose arguments are unusable fail alone, the rest run with progress
    /// forwarded to the client as they finish.
    async fn run_batch(
        &self,
        principal: &Principal,
        mut params: BatchUploadParams,
        context: &RequestContext<RoleServer>,
        activity: &mut Activity,
    ) -> Result<BatchResult, UploadError> {
        let items = std::mem::take(&mut params.items);
        let total = items.len();
        let mut requests = Vec::new();
        let mut indices = Vec::new();
        let mut refused = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            match item.into_request(Some(&params)) {
                Ok(request) => {
                    indices.push(index);
                    requests.push(request);
                }
                Err(e) => refused.push((index, e)),
            }
        }

        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<BatchProgress>();
        let progress_token = context.meta.get_progress_token();
        let forward_progress = async {
            while let Some(update) = receiver.recv().await {
                let Some(token) = &progress_token else {
                    continue;
                };
                let notification =
                    ProgressNotificationParam::new(token.clone(), update.done as f64)
                        .with_total(update.total as f64)
                        .with_message(update.message);
                if let Err(e) = context.peer.notify_progress(notification).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                }
            }
        };
        let concurrency = params
            .concurrency
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX));
        let run = async {
            if requests.is_empty() && total > 0 {
                Ok(Vec::new())
            } else {
                self.uploader
                    .upload_batch(principal, requests, concurrency, Some(sender))
                    .await
            }
        };
        let (outcomes, ()) = tokio::join!(run, forward_progress);
        let outcomes = indices.into_iter().zip(outcomes?).chain(
            refused
                .into_iter()
                .map(|(index, e)| (index, Err::<StoredImage, _>(e))),
        );
        let mut results = Vec::with_capacity(total);
        for (index, outcome) in outcomes {
            match &outcome {
                Ok(stored) => activity.stored(stored),
                Err(_) => activity.failed_upload(),
            }
            results.push(item_result(index, outcome));
        }
        results.sort_by_key(|r| r.index);
        let succeeded = results.iter().filter(|r| r.ok).count();
        let failed = total - succeeded;
        if failed > 0 {
            activity.result = Some(if succeeded > 0 { "partial" } else { "failed" });
        }
        tracing::info!(items = total, succeeded, failed, "batch done");
        Ok(BatchResult {
            results,
            succeeded,
            failed,
        })
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
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(instructions)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }
}

impl UploadImageParams {
    /// The pipeline request these arguments ask for; a batch item falls back to its batch's
    /// bucket, prefix and image options. Checks what the schema cannot express.
    pub fn into_request(
        self,
        batch: Option<&BatchUploadParams>,
    ) -> Result<UploadRequest, UploadError> {
        let source = match (self.data, self.staging_key, self.path) {
            (Some(data), None, None) => Source::Inline(data),
            (None, Some(staging_key), None) => Source::Staged(staging_key),
            (None, None, Some(path)) => Source::Path(path.into()),
            (None, None, None) => {
                return Err(UploadError::invalid(
                    InputReason::NoSource,
                    "no image given: pass the image as base64 or a data: URI in `data`, or a `staging_key` from \
                     create_upload_url",
                ));
            }
            _ => {
                return Err(UploadError::invalid(
                    InputReason::SeveralSources,
                    "give the image once: exactly one of `data`, `staging_key` or `path`",
                ));
            }
        };
        let (bucket, prefix, image) = match batch {
            Some(batch) => (
                self.bucket.or_else(|| batch.bucket.clone()),
                self.prefix.or_else(|| batch.prefix.clone()),
                self.image.or(&batch.image),
            ),
            None => (self.bucket, self.prefix, self.image),
        };
        Ok(UploadRequest {
            source,
            filename: self.filename,
            bucket,
            key: self.key,
            prefix,
            overwrite: self.overwrite.unwrap_or(false),
            rasterize: self.rasterize.unwrap_or(false),
            image,
        })
    }
}

fn item_result(index: usize, outcome: Result<StoredImage, UploadError>) -> BatchItemResult {
    match outcome {
        Ok(stored) => BatchItemResult {
            index,
            ok: true,
            upload: Some(present::upload_outcome(stored)),
            error: None,
            retryable: None,
        },
        Err(e) => {
            log_failure(&e);
            BatchItemResult {
                index,
                ok: false,
                upload: None,
                retryable: Some(e.is_retryable()),
                error: Some(e.to_string()),
            }
        }
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
