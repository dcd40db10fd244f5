//! Running under AWS Lambda: state built once at init, requests served by the streaming runner
//! (a Function URL in RESPONSE_STREAM mode can then carry SSE progress).

use crate::app::{self, Services};
use crate::auth::AuthMode;
use crate::config::{Config, RunMode, StoreKind};
use crate::storage::Storage;
use crate::telemetry::{self, AuditSink};

pub async fn run() -> anyhow::Result<()> {
    let config = Config::from_env(RunMode::Lambda, StoreKind::S3)?;
    telemetry::init(config.log_format);
    if config.auth_mode == AuthMode::None {
        tracing::warn!(
            "AUTH_MODE=none with ALLOW_UNAUTHENTICATED=true: ANYONE who can reach this function can write to your bucket"
        );
    }
    let storage = Storage::connect(&config, None).await;
    let services = Services::build(config, storage, AuditSink::Stdout).await?;
    lambda_http::run_with_streaming_response(app::app(services))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
}
