//! Logging: JSON lines under Lambda (CloudWatch), readable text locally; always on stderr so
//! stdout stays free for the stdio transport and for `serve`'s banner.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Quiet defaults for chatty dependencies; `RUST_LOG` overrides everything.
const DEFAULT_FILTER: &str =
    "info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_s3=warn,s3s=warn,rmcp=warn";

/// Installs the global subscriber once; later calls are ignored (tests start many servers).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
