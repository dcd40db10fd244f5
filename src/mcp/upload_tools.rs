//! The upload tools: `upload_image_to_s3`, `create_upload_url`, `batch_upload_images` and
//! `list_s3_buckets`, and how their arguments become pipeline requests.

use rmcp::RoleServer;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};

use super::schema::{
    BatchItemResult, BatchResult, BatchUploadParams, BucketInfo, BucketList, CreateUploadUrlParams,
    UploadImageParams, UploadOutcome, UploadUrl,
};
use super::{Activity, McpServer, log_failure, present};
use crate::auth::Principal;
use crate::upload::{
    BatchProgress, InputReason, Source, StagingRequest, StoredImage, UploadError, UploadRequest,
};

#[tool_router(router = upload_tools, vis = "pub(super)")]
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
                // Neither the presigned URL (its signature) nor the staging token is logged.
                activity.keys.push(ticket.staging_key.redacted());
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
