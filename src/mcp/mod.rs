//! The MCP server: tool definitions, and the one place upload errors become MCP results.

pub mod schema;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

use crate::upload::{Source, UploadError, UploadRequest, Uploader};
use schema::{BucketInfo, BucketList, UploadImageParams, UploadOutcome};

/// Protocol revisions served: the three with `initialize`, and 2026-07-28 without it.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

const INSTRUCTIONS: &str = "Turns images into public, web-ready URLs. Call upload_image_to_s3 with the \
image as base64 (or a data: URI) in `data` and its original `filename`; the result's `url` serves the \
optimised image (WebP unless the original is smaller, scaled to fit 1920×1080 by default). \
list_s3_buckets shows where images may go.";

/// One MCP server instance per request (stateless); cheap to clone.
#[derive(Clone)]
pub struct McpServer {
    uploader: Arc<Uploader>,
    tool_router: ToolRouter<Self>,
}

impl McpServer {
    pub fn new(uploader: Arc<Uploader>) -> Self {
        McpServer {
            uploader,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl McpServer {
    #[tool(
        description = "Upload an image (base64 or data: URI) and get a public URL. The image is \
            oriented, stripped of metadata, scaled to fit max_width×max_height and converted to \
            WebP unless the original is smaller. Returns url, key, bytes, width, height, sha256.",
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
    ) -> Result<Json<UploadOutcome>, CallToolResult> {
        let request = upload_request(params).map_err(tool_error)?;
        let outcome = self.uploader.upload(request).await.map_err(tool_error)?;
        tracing::info!(bucket = %outcome.bucket, key = %outcome.key, bytes = outcome.bytes, "uploaded");
        Ok(Json(outcome))
    }

    #[tool(
        description = "List the S3 buckets this server may upload to, and which one is the default.",
        annotations(
            title = "List upload buckets",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_s3_buckets(&self) -> Json<BucketList> {
        let config = self.uploader.config();
        let buckets = self.uploader.writable_buckets().await;
        Json(BucketList {
            buckets: buckets
                .into_iter()
                .map(|name| BucketInfo {
                    default: name == config.default_bucket,
                    name,
                })
                .collect(),
            default_bucket: config.default_bucket.clone(),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }
}

/// Maps tool arguments to a pipeline request, checking what the schema cannot express.
fn upload_request(params: UploadImageParams) -> Result<UploadRequest, UploadError> {
    let source = match (params.data, params.path) {
        (Some(data), None) => Source::Inline(data),
        (None, Some(path)) => Source::Path(path.into()),
        (Some(_), Some(_)) => {
            return Err(UploadError::InvalidInput(
                "give the image once: either `data` or `path`, not both".into(),
            ));
        }
        (None, None) => {
            return Err(UploadError::InvalidInput(
                "no image given: pass the image as base64 or a data: URI in `data`".into(),
            ));
        }
    };
    let quality = params
        .quality
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
        bucket: params.bucket,
        key: params.key,
        prefix: params.prefix,
        format: params.format,
        quality,
        max_width: params.max_width,
        max_height: params.max_height,
    })
}

/// A failed upload as the agent sees it: `isError: true` and a message that says what to do.
/// Storage and internal failures are logged here with their detail.
fn tool_error(error: UploadError) -> CallToolResult {
    match &error {
        UploadError::Storage(_) | UploadError::Internal => {
            tracing::warn!(kind = error.kind(), error = %error, "upload failed");
        }
        _ => tracing::info!(kind = error.kind(), error = %error, "upload refused"),
    }
    CallToolResult::error(vec![ContentBlock::text(error.to_string())])
}
