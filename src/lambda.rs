//! Running under AWS Lambda: state built once at init, requests served by the streaming runner
//! (a Function URL in RESPONSE_STREAM mode can then carry SSE progress).

use std::sync::Arc;

use crate::config::{Config, RunMode, StoreKind};
use crate::storage::Storage;
use crate::upload::Uploader;
use crate::{app, telemetry};

pub async fn run() -> anyhow::Result<()> {
    let config = Config::from_env(RunMode::Lambda, StoreKind::S3)?;
    telemetry::init(config.log_format);
    let storage = Storage::connect(&config, None).await;
    let uploader = Arc::new(Uploader::new(Arc::new(config), storage));
    lambda_http::run_with_streaming_response(app::app(uploader))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
}
