//! The MCP server: tool definitions, and the one place upload errors become MCP results.

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
use crate::upload::{BatchProgress, Source, StagingRequest, UploadError, UploadRequest, Uploader};
use schema::{
    BatchItemResult, BatchResult, BatchUploadParams, BucketInfo, BucketList, CreateUploadUrlParams,
    StagingTicket, UploadImageParams, UploadOutcome,
};

/// Protocol revisions served: the three with `initialize`, and 2026-07-28 without it.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// Batch concurrency when the caller names none (the PRD's default).
const DEFAULT_BATCH_CONCURRENCY: usize = 5;

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
                Some((
                    principal,
                    parts
                        .extensions
                        .get::<CallMeta>()
                        .cloned()
                        .unwrap_or_default(),
                ))
            });
        from_http
            .or_else(|| {
                self.local_principal.clone().map(|p| {
                    let meta = CallMeta {
                        request_id: context.id.to_string(),
                        ..CallMeta::default()
                    };
                    (p, meta)
                })
            })
            .ok_or_else(|| {
                CallToolResult::error(vec![ContentBlock::text("unauthenticated call refused")])
            })
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
        let started = Instant::now();
        let (principal, meta) = self.caller(&context)?;
        let requested_bucket = params.bucket.clone();
        let result = match upload_request(params, &BatchDefaults::default()) {
            Ok(request) => self.uploader.upload(&principal, request).await,
            Err(e) => Err(e),
        };
        let mut event = AuditEvent {
            buckets: requested_bucket.into_iter().collect(),
            uploads: Some(UploadStats {
                failed: 1,
                ..UploadStats::default()
            }),
            ..AuditEvent::new("upload_image_to_s3", &principal.id, &meta, started)
        };
        match result {
            Ok(outcome) => {
                event.buckets = vec![outcome.bucket.clone()];
                event.keys = vec![outcome.key.clone()];
                event.bytes_in = outcome.original_bytes as u64;
                event.bytes_out = outcome.bytes as u64;
                event.uploads = Some(UploadStats {
                    succeeded: 1,
                    failed: 0,
                    bytes: outcome.bytes as u64,
                    deduplicated: u64::from(outcome.deduplicated),
                });
                self.audit.record(&event);
                Ok(Json(outcome))
            }
            Err(e) => {
                event.result = e.kind();
                self.audit.record(&event);
                Err(tool_error(e))
            }
        }
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
    ) -> Result<Json<StagingTicket>, CallToolResult> {
        let started = Instant::now();
        let (principal, meta) = self.caller(&context)?;
        let result = self
            .uploader
            .create_upload_url(
                &principal,
                StagingRequest {
                    filename: params.filename,
                    content_type: params.content_type,
                    bytes: params.bytes,
                },
            )
            .await;
        let mut event = AuditEvent {
            buckets: vec![self.uploader.config().default_bucket.clone()],
            ..AuditEvent::new("create_upload_url", &principal.id, &meta, started)
        };
        match result {
            Ok(ticket) => {
                // The staging key is logged; the presigned URL (and its signature) never is.
                event.keys = vec![ticket.staging_key.clone()];
                self.audit.record(&event);
                Ok(Json(ticket))
            }
            Err(e) => {
                event.result = e.kind();
                self.audit.record(&event);
                Err(tool_error(e))
            }
        }
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
        let started = Instant::now();
        let (principal, meta) = self.caller(&context)?;
        let defaults = BatchDefaults {
            bucket: params.bucket,
            prefix: params.prefix,
            format: params.format,
            quality: params.quality,
            max_width: params.max_width,
            max_height: params.max_height,
            widths: params.widths,
        };
        // Items whose arguments are unusable fail alone; the rest still run.
        let mut requests = Vec::new();
        let mut refused = Vec::new();
        for (index, item) in params.items.into_iter().enumerate() {
            match upload_request(item, &defaults) {
                Ok(request) => requests.push((index, request)),
                Err(e) => refused.push((index, e)),
            }
        }
        let total = requests.len() + refused.len();
        let concurrency = params.concurrency.map_or(DEFAULT_BATCH_CONCURRENCY, |c| {
            usize::try_from(c).unwrap_or(usize::MAX)
        });

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
        let (indices, requests): (Vec<usize>, Vec<UploadRequest>) = requests.into_iter().unzip();
        let run = async {
            if requests.is_empty() && !refused.is_empty() {
                Ok(Vec::new())
            } else {
                self.uploader
                    .upload_batch(&principal, requests, concurrency, Some(sender))
                    .await
            }
        };
        let (outcomes, ()) = tokio::join!(run, forward_progress);
        let mut event = AuditEvent::new("batch_upload_images", &principal.id, &meta, started);
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(e) => {
                event.result = e.kind();
                self.audit.record(&event);
                return Err(tool_error(e));
            }
        };
        let mut stats = UploadStats::default();
        for outcome in &outcomes {
            match outcome {
                Ok(o) => {
                    stats.succeeded += 1;
                    stats.bytes += o.bytes as u64;
                    stats.deduplicated += u64::from(o.deduplicated);
                    event.bytes_in += o.original_bytes as u64;
                    event.bytes_out += o.bytes as u64;
                    if !event.buckets.contains(&o.bucket) {
                        event.buckets.push(o.bucket.clone());
                    }
                    event.keys.push(o.key.clone());
                }
                Err(_) => stats.failed += 1,
            }
        }
        stats.failed += refused.len() as u64;
        if stats.failed > 0 {
            event.result = if stats.succeeded > 0 {
                "partial"
            } else {
                "failed"
            };
        }
        event.uploads = Some(stats);
        self.audit.record(&event);

        let mut results: Vec<BatchItemResult> = indices
            .into_iter()
            .zip(outcomes)
            .chain(refused.into_iter().map(|(index, e)| (index, Err(e))))
            .map(|(index, outcome)| item_result(index, outcome))
            .collect();
        results.sort_by_key(|r| r.index);
        let succeeded = results.iter().filter(|r| r.ok).count();
        tracing::info!(
            items = total,
            succeeded,
            failed = total - succeeded,
            "batch done"
        );
        Ok(Json(BatchResult {
            failed: total - succeeded,
            succeeded,
            results,
        }))
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
        let started = Instant::now();
        let (principal, meta) = self.caller(&context)?;
        let config = self.uploader.config();
        let buckets = self.uploader.writable_buckets(&principal).await;
        self.audit.record(&AuditEvent {
            buckets: buckets.clone(),
            ..AuditEvent::new("list_s3_buckets", &principal.id, &meta, started)
        });
        Ok(Json(BucketList {
            buckets: buckets
                .into_iter()
                .map(|name| BucketInfo {
                    default: name == config.default_bucket,
                    name,
                })
                .collect(),
            default_bucket: config.default_bucket.clone(),
        }))
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

/// Batch-level defaults an item may override.
#[derive(Default)]
struct BatchDefaults {
    bucket: Option<String>,
    prefix: Option<String>,
    format: Option<crate::imaging::OutputFormat>,
    quality: Option<u32>,
    max_width: Option<u32>,
    max_height: Option<u32>,
    widths: Option<Vec<u32>>,
}

/// Maps tool arguments to a pipeline request, checking what the schema cannot express.
fn upload_request(
    params: UploadImageParams,
    defaults: &BatchDefaults,
) -> Result<UploadRequest, UploadError> {
    let source = match (params.data, params.staging_key, params.path) {
        (Some(data), None, None) => Source::Inline(data),
        (None, Some(staging_key), None) => Source::Staged(staging_key),
        (None, None, Some(path)) => Source::Path(path.into()),
        (None, None, None) => {
            return Err(UploadError::InvalidInput(
                "no image given: pass the image as base64 or a data: URI in `data`, or a `staging_key` from \
                 create_upload_url"
                    .into(),
            ));
        }
        _ => {
            return Err(UploadError::InvalidInput(
                "give the image once: exactly one of `data`, `staging_key` or `path`".into(),
            ));
        }
    };
    let quality = params
        .quality
        .or(defaults.quality)
        .map(|q| {
            u8::try_from(q)
                .ok()
                .filter(|q| (1..=100).contains(q))
                .ok_or_else(|| {
                    UploadError::InvalidInput(format!(
                        "quality is {q}; use a value from 1 to 100 (80 is a good default)"
                    ))
                })
        })
        .transpose()?;
    Ok(UploadRequest {
        source,
        filename: params.filename,
        bucket: params.bucket.or_else(|| defaults.bucket.clone()),
        key: params.key,
        prefix: params.prefix.or_else(|| defaults.prefix.clone()),
        format: params.format.or(defaults.format),
        quality,
        max_width: params.max_width.or(defaults.max_width),
        max_height: params.max_height.or(defaults.max_height),
        overwrite: params.overwrite.unwrap_or(false),
        widths: params
            .widths
            .or_else(|| defaults.widths.clone())
            .unwrap_or_default(),
        rasterize: params.rasterize.unwrap_or(false),
    })
}

fn item_result(index: usize, outcome: Result<UploadOutcome, UploadError>) -> BatchItemResult {
    match outcome {
        Ok(upload) => BatchItemResult {
            index,
            ok: true,
            upload: Some(upload),
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

/// Storage and internal failures are ours and logged as warnings; refusals of bad input are info.
fn log_failure(error: &UploadError) {
    if error.is_retryable() || matches!(error, UploadError::Storage(_)) {
        tracing::warn!(kind = error.kind(), error = %error, "upload failed");
    } else {
        tracing::info!(kind = error.kind(), error = %error, "upload refused");
    }
}
