//! Many images in one call: batch limits checked first, bounded concurrency, per-item results in
//! input order, progress as items finish. One bad item never fails the others.

use futures::StreamExt as _;
use tokio::sync::mpsc::UnboundedSender;

use super::source::StagedHead;
use super::{InputReason, Source, StoredImage, UploadError, UploadRequest, Uploader};
use crate::auth::Principal;

/// Sent each time an item finishes, so a transport can report progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProgress {
    pub done: usize,
    pub total: usize,
    pub message: String,
}

/// One item's result.
pub type ItemResult = Result<StoredImage, UploadError>;

impl Uploader {
    /// Uploads `requests` with at most `concurrency` in flight (the configured default when
    /// `None`, capped by `MAX_CONCURRENCY`). Fails as a whole only for batch-level limits (item
    /// count, total bytes); otherwise every item gets its own result, in input order.
    pub async fn upload_batch(
        &self,
        principal: &Principal,
        requests: Vec<UploadRequest>,
        concurrency: Option<usize>,
        progress: Option<UnboundedSender<BatchProgress>>,
    ) -> Result<Vec<ItemResult>, UploadError> {
        let limits = self.settings.batch;
        let total = requests.len();
        let refuse = |message: String| Err(UploadError::invalid(InputReason::Batch, message));
        if total == 0 {
            return refuse("items is empty; pass at least one image".into());
        }
        if total > limits.max_items {
            return refuse(format!(
                "the batch has {total} items; the limit is {} (MAX_BATCH_ITEMS); split it into several calls",
                limits.max_items
            ));
        }
        // Staged items are HEADed once, here: the size counts against the batch, and the
        // answer goes with the item so its upload does not ask again.
        let heads = self.staged_heads(principal, &requests).await;
        let declared: u64 = requests
            .iter()
            .zip(&heads)
            .map(|(request, head)| declared_size(&request.source, head.as_ref()))
            .sum();
        if declared > limits.max_bytes as u64 {
            return refuse(format!(
                "the batch holds about {declared} bytes of images; the limit is {} (MAX_BATCH_BYTES); split it into several calls",
                limits.max_bytes
            ));
        }
        let concurrency = concurrency
            .unwrap_or(limits.default_concurrency)
            .clamp(1, limits.max_concurrency);

        let mut results: Vec<Option<ItemResult>> = (0..total).map(|_| None).collect();
        let uploads: Vec<_> = requests
            .into_iter()
            .zip(heads)
            .enumerate()
            .map(|(index, (request, head))| async move {
                let filename = request.filename.clone();
                (index, filename, self.run(principal, request, head).await)
            })
            .collect();
        let mut finished = futures::stream::iter(uploads).buffer_unordered(concurrency);
        let mut done = 0;
        while let Some((index, filename, result)) = finished.next().await {
            done += 1;
            if let Some(progress) = &progress {
                let status = match &result {
                    Ok(stored) => format!("uploaded {filename} → {}", stored.key),
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

    /// The HEAD answer for each well-formed staged item of the caller's own (`None` for the
    /// other items).
    async fn staged_heads(
        &self,
        principal: &Principal,
        requests: &[UploadRequest],
    ) -> Vec<Option<StagedHead>> {
        let bucket = &self.settings.default_bucket;
        let heads: Vec<_> = requests
            .iter()
            .map(|request| async move {
                let key = match &request.source {
                    Source::Staged(text) => self.own_staging_key(principal, text)?,
                    _ => return None,
                };
                // Malformed or foreign keys and other sources are reported by the item itself.
                Some(self.storage.head(bucket, &key.key()).await)
            })
            .collect();
        futures::stream::iter(heads).buffered(8).collect().await
    }
}

/// Input bytes an item will read: the decoded size of inline data, a staged object's size.
/// Local files (stdio only) are bounded per item by MAX_INPUT_BYTES.
fn declared_size(source: &Source, head: Option<&StagedHead>) -> u64 {
    match (source, head) {
        (Source::Inline(text), _) => text.len() as u64 / 4 * 3,
        (Source::Staged(_), Some(Ok(Some(info)))) => info.size,
        _ => 0,
    }
}
