//! Shared by the targets that run the upload pipeline: one runtime and one uploader per process,
//! built by the service's own composition root and wired to a store that does not exist, so
//! nothing leaves the machine.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use s3_upload_mcp::auth::Principal;
use s3_upload_mcp::config::{Config, RunMode, StoreKind};
use s3_upload_mcp::mcp::schema::UploadImageParams;
use s3_upload_mcp::runtime::{self, Exposure, Launch, Store};
use s3_upload_mcp::telemetry::AuditSink;
use s3_upload_mcp::upload::Uploader;

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

pub fn uploader() -> &'static Arc<Uploader> {
    static UPLOADER: OnceLock<Arc<Uploader>> = OnceLock::new();
    UPLOADER.get_or_init(|| {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("S3_BUCKET_NAME", "fuzz-bucket"),
            ("ALLOWED_BUCKETS", "fuzz-bucket,other-bucket"),
            // Port 9 (discard) is closed on loopback: connections are refused at once.
            ("S3_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "fuzz"),
            ("AWS_SECRET_ACCESS_KEY", "fuzz"),
            ("S3_MAX_ATTEMPTS", "1"),
            ("S3_CONNECT_TIMEOUT_MS", "100"),
            ("S3_OPERATION_TIMEOUT_MS", "500"),
            // The first failed put opens the breaker for an hour: later puts fail in microseconds.
            ("CIRCUIT_BREAKER_THRESHOLD", "1"),
            ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "3600"),
            ("MAX_PIXELS", "4000000"),
            ("MAX_INPUT_BYTES", "1048576"),
        ]);
        let config = Config::from_lookup(RunMode::Serve, StoreKind::S3, |k| {
            vars.get(k).map(|v| (*v).to_owned())
        })
        .expect("fuzz configuration is valid");
        let launch = Launch {
            exposure: Exposure::Stdio,
            store: Store::S3,
            allowed_dirs: Vec::new(),
            audit: AuditSink::Stderr,
        };
        runtime()
            .block_on(runtime::build(config, launch))
            .expect("the fuzz runtime builds")
            .services
            .uploader
    })
}

/// Runs tool arguments through the same mapping and pipeline as `upload_image_to_s3`.
pub fn upload(params: UploadImageParams) {
    let Ok(request) = params.into_request(None) else {
        return;
    };
    let _ = runtime().block_on(uploader().upload(&Principal::local(), request));
}
