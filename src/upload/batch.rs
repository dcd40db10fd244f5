//! Many images in one call: bounded concurrency, per-item results in input order, progress as
//! items finish. One bad item never fails the others.

use futures::StreamExt as _;
use tokio::sync::mpsc::UnboundedSender;

use super::{Source, UploadError, UploadOutcome, UploadRequest, Uploader};
use crate::auth::Principal;

/// Sent each time an item finishes, so a transport can report progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProgress {
    pub done: usize,
    pub total: usize,
    pub message: String,
}

impl Uploader {
    /// Uploads `requests` with at most `concurrency` in flight (capped by `MAX_CONCURRENCY`).
    /// Fails as a whole only for batch-level limits (item count, total bytes); otherwise every
    /// item gets its own result, in input order.
    pub async fn upload_batch(
        &self,
        principal: &Principal,
        requests: Vec<UploadRequest>,
        concurrency: usize,
        progress: Option<UnboundedSender<BatchProgress>>,
    ) -> Result<Vec<Result<UploadOutcome, UploadError>>, UploadError> {
        let config = self.config();
        let total = requests.len();
        if total == 0 {
            return Err(UploadError::InvalidInput(
                "items is empty; pass at least one image".into(),
            ));
        }
        if total > config.max_batch_items {
            return Err(UploadError::InvalidInput(format!(
                "the batch has {total} items; the limit is {} (MAX_BATCH_ITEMS); split it into several calls",
                config.max_batch_items
            )));
        }
        let declared = self.declared_bytes(&requests).await;
        if declared > config.max_batch_bytes as u64 {
            return Err(UploadError::InvalidInput(format!(
                "the batch holds about {declared} bytes of images; the limit is {} (MAX_BATCH_BYTES); split it into several calls",
                config.max_batch_bytes
            )));
        }
        let concurrency = concurrency.clamp(1, config.max_concurrency);

        let mut results: Vec<Option<Result<UploadOutcome, UploadError>>> =
            (0..total).map(|_| None).collect();
        let uploads: Vec<_> = requests
            .into_iter()
            .enumerate()
            .map(|(index, request)| self.upload_item(principal, index, request))
            .collect();
        let mut finished = futures::stream::iter(uploads).buffer_unordered(concurrency);
        let mut done = 0;
        while let Some((index, filename, result)) = finished.next().await {
            done += 1;
            if let Some(progress) = &progress {
                let status = match &result {
                    Ok(outcome) => format!("uploaded {filename} → {}", outcome.key),
                    Err(e) => format!("failed {filename}: {}", e.kind()),
                };
                // The receiver may be gone (client disconnected); the batch still completes.
                let _ = progress.send(BatchProgress {
                    done,
                    total,
                    message: format!("{done}/{total} {status}"),
                });
            }
            results[index] = Some(result);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every index finishes exactly once"))
            .collect())
    }

    async fn upload_item(
        &self,
        principal: &Principal,
        index: usize,
        request: UploadRequest,
    ) -> (usize, String, Result<UploadOutcome, UploadError>) {
        let filename = request.filename.clone();
        (index, filename, self.upload(principal, request).await)
    }

    async fn declared_size(&self, source: &Source) -> u64 {
        let config = self.config();
        match source {
            Source::Inline(text) => text.len() as u64 / 4 * 3,
            // Local files (stdio only) are bounded per item by MAX_INPUT_BYTES.
            Source::Path(_) => 0,
            Source::Staged(key) => {
                if super::source::validate_staging_key(&config.staging_prefix, key).is_err() {
                    return 0; // the item itself reports the bad key
                }
                match self.storage.head(&config.default_bucket, key).await {
                    Ok(Some(info)) => info.size,
                    _ => 0, // reported by the item itself
                }
            }
        }
    }

    /// Input bytes the batch will read: decoded size of inline data and staged-object sizes.
    async fn declared_bytes(&self, requests: &[UploadRequest]) -> u64 {
        let sizes: Vec<_> = requests
            .iter()
            .map(|request| self.declared_size(&request.source))
            .collect();
        let sizes = futures::stream::iter(sizes)
            .buffer_unordered(8)
            .collect::<Vec<u64>>()
            .await;
        sizes.iter().sum()
    }
}
