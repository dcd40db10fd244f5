//! Shared by the targets that run the upload pipeline: one runtime and one uploader per process,
//! wired to a store that does not exist so nothing leaves the machine.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use s3_upload_mcp::config::{Config, RunMode, StoreKind};
use s3_upload_mcp::storage::{StaticCredentials, Storage};
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

pub fn uploader() -> &'static Uploader {
    static UPLOADER: OnceLock<Uploader> = OnceLock::new();
    UPLOADER.get_or_init(|| {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("S3_BUCKET_NAME", "fuzz-bucket"),
            ("ALLOWED_BUCKETS", "fuzz-bucket,other-bucket"),
            // Port 9 (discard) is closed on loopback: connections are refused at once.
            ("S3_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_REGION", "us-east-1"),
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
        let storage = runtime().block_on(Storage::connect(
            &config,
            Some(StaticCredentials {
                access_key_id: "fuzz".into(),
                secret_access_key: "fuzz".into(),
            }),
        ));
        Uploader::new(Arc::new(config), storage)
    })
}
