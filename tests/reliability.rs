//! Uploads against a misbehaving S3: the SDK's retries ride out sporadic faults without losing or
//! corrupting a byte, and a store that is down trips the circuit breaker so calls fail fast with
//! an error that says it is our storage, not the caller's input, and when to retry.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::fault::{Fault, FaultPlan};
use common::{TestServer, result_text};
use s3_upload_mcp::storage::{LocalEndpoint, NewObject, Storage, WriteMode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A small PNG unique to `n` (so content-addressed keys never collide), base64-encoded.
fn distinct_png(n: u32) -> String {
    let image = image::RgbImage::from_fn(40, 24, |x, y| {
        let bits = if y < 4 && (n >> (x % 32)) & 1 == 1 {
            255
        } else {
            0
        };
        image::Rgb([bits, (x * 6) as u8, (y * 10) as u8 ^ (n as u8)])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png)
}

async fn upload(server: &TestServer, n: u32) -> Value {
    server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": distinct_png(n), "filename": format!("img-{n}.png"), "format": "png"}),
        )
        .await
}

/// Fetches a stored object straight from the store (not through the faulty proxy).
async fn stored_sha256(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    hex::encode(Sha256::digest(response.bytes().await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_20_percent_faults_200_uploads_at_concurrency_16_all_succeed_and_bytes_match() {
    // Three attempts would lose ~0.8 % of calls at a 20 % independent fault rate (0.2³); eight
    // make "every upload succeeds" hold with overwhelming probability (0.2⁸ ≈ 3e-6 per call).
    let (server, proxy) = TestServer::start_behind(
        FaultPlan {
            stall: Duration::from_secs(4),
            ..FaultPlan::every_fault(0.20)
        },
        &[
            ("S3_MAX_ATTEMPTS", "8"),
            ("S3_RETRY_INITIAL_BACKOFF_MS", "10"),
            ("S3_RETRY_MAX_BACKOFF_MS", "200"),
            ("S3_ATTEMPT_TIMEOUT_MS", "1500"),
            ("S3_OPERATION_TIMEOUT_MS", "30000"),
        ],
    )
    .await;
    let server = Arc::new(server);
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut uploads = tokio::task::JoinSet::new();
    for n in 0..200u32 {
        let server = server.clone();
        let limit = limit.clone();
        uploads.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            (n, upload(&server, n).await)
        });
    }
    let mut keys = HashSet::new();
    let mut failures = Vec::new();
    while let Some(joined) = uploads.join_next().await {
        let (n, result) = joined.unwrap();
        if result["isError"] == json!(true) {
            failures.push(format!("#{n}: {}", result_text(&result)));
            continue;
        }
        let outcome = &result["structuredContent"];
        let url = proxy.direct_url(outcome["url"].as_str().unwrap());
        assert_eq!(
            stored_sha256(&url).await,
            outcome["sha256"].as_str().unwrap(),
            "#{n}: stored bytes differ from the reported sha256"
        );
        keys.insert(outcome["key"].as_str().unwrap().to_owned());
    }
    let counts = proxy.counts();
    assert!(failures.is_empty(), "{failures:#?}\n{counts:?}");
    assert_eq!(keys.len(), 200);
    // The faults really happened, of every kind.
    assert!(counts.injected() >= 20, "{counts:?}");
    for fault in Fault::ALL {
        assert!(counts.of(fault) > 0, "no {fault:?} injected: {counts:?}");
    }
    // Exactly the 200 objects, and no half-written ones.
    assert_eq!(server.stored_objects("uploads").len(), 200);
    assert_eq!(server.unfinished_writes(), Vec::<String>::new());
    eprintln!("20% faults: {counts:?}");
}

#[tokio::test]
async fn with_every_request_failing_the_first_call_fails_within_the_budget_then_calls_fail_fast() {
    const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
    let (server, proxy) = TestServer::start_behind(
        FaultPlan {
            stall: Duration::from_secs(20),
            ..FaultPlan::every_fault(1.0)
        },
        &[
            ("S3_MAX_ATTEMPTS", "3"),
            ("S3_RETRY_INITIAL_BACKOFF_MS", "20"),
            ("S3_RETRY_MAX_BACKOFF_MS", "100"),
            ("S3_ATTEMPT_TIMEOUT_MS", "600"),
            ("S3_OPERATION_TIMEOUT_MS", "3000"),
            ("CIRCUIT_BREAKER_THRESHOLD", "1"),
            ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "60"),
        ],
    )
    .await;

    // A caller mistake is reported as such and never reaches the store, broken or not.
    let before = proxy.counts().requests;
    let mistake = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": "aGVsbG8gd29ybGQ=", "filename": "a.png"}),
        )
        .await;
    assert_eq!(mistake["isError"], json!(true));
    assert!(
        !result_text(&mistake).contains("storage"),
        "{}",
        result_text(&mistake)
    );
    assert_eq!(proxy.counts().requests, before);

    // The first call goes through the SDK's retry cycle and fails within the operation timeout.
    let started = Instant::now();
    let first = upload(&server, 1).await;
    let first_took = started.elapsed();
    assert_eq!(first["isError"], json!(true), "{first}");
    let message = result_text(&first);
    assert!(message.contains("storage is unavailable"), "{message}");
    assert!(
        first_took < OPERATION_TIMEOUT + Duration::from_secs(2),
        "first call took {first_took:?}"
    );
    let sent = proxy.counts().requests;
    assert!(sent > before, "the first call reached the proxy");

    // Every following call is refused by the breaker without touching the network.
    let mut slowest = Duration::ZERO;
    for n in 2..12 {
        let started = Instant::now();
        let refused = upload(&server, n).await;
        let took = started.elapsed();
        let message = result_text(&refused);
        assert_eq!(refused["isError"], json!(true), "{refused}");
        assert!(
            message.contains("storage unavailable, retry in"),
            "{message}"
        );
        assert!(
            took < Duration::from_millis(1000),
            "call {n} took {took:?}, not fast"
        );
        slowest = slowest.max(took);
    }
    eprintln!(
        "100% faults: first call failed after {first_took:?}; slowest fail-fast call {slowest:?}"
    );
    assert_eq!(
        proxy.counts().requests,
        sent,
        "fail-fast calls sent nothing"
    );
    // Nothing partial: only whole objects (a LostResponse fault stores one, then hangs up).
    assert_objects_are_whole(&server, &proxy).await;
}

/// Every object in the store holds exactly the bytes whose SHA-256 its metadata records, and no
/// temporary or multipart state is left behind.
async fn assert_objects_are_whole(server: &TestServer, proxy: &common::fault::FaultProxy) {
    let root = server.stored_objects("uploads");
    for path in root {
        let text = path.to_string_lossy();
        let key = &text[text.find("/uploads/").unwrap() + "/uploads/".len()..];
        let url = format!("{}/uploads/{key}", proxy.upstream_endpoint());
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let recorded = response.headers()["x-amz-meta-sha256"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        assert_eq!(hex::encode(Sha256::digest(&body)), recorded, "{key}");
    }
    assert_eq!(server.unfinished_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn after_the_cooldown_one_probe_closes_the_breaker_when_the_store_is_back() {
    let (server, proxy) = TestServer::start_behind(
        FaultPlan {
            mix: vec![Fault::SlowDown, Fault::InternalError, Fault::Reset],
            ..FaultPlan::every_fault(1.0)
        },
        &[
            ("S3_MAX_ATTEMPTS", "2"),
            ("S3_RETRY_INITIAL_BACKOFF_MS", "10"),
            ("S3_RETRY_MAX_BACKOFF_MS", "50"),
            ("S3_OPERATION_TIMEOUT_MS", "3000"),
            ("CIRCUIT_BREAKER_THRESHOLD", "2"),
            ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "1"),
        ],
    )
    .await;
    for n in 0..2 {
        let failed = upload(&server, n).await;
        assert!(
            result_text(&failed).contains("storage is unavailable"),
            "{failed}"
        );
    }
    let refused = upload(&server, 2).await;
    assert!(
        result_text(&refused).contains("storage unavailable, retry in 1s"),
        "{refused}"
    );

    proxy.set_rate(0.0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = upload(&server, 3).await;
    assert_ne!(probe["isError"], json!(true), "{probe}");
    for n in 4..8 {
        let ok = upload(&server, n).await;
        assert_ne!(ok["isError"], json!(true), "{ok}");
    }
    assert_eq!(server.stored_objects("uploads").len(), 5);
}

#[tokio::test]
async fn a_failed_probe_keeps_the_breaker_open() {
    let (server, _proxy) = TestServer::start_behind(
        FaultPlan {
            mix: vec![Fault::InternalError],
            ..FaultPlan::every_fault(1.0)
        },
        &[
            ("S3_MAX_ATTEMPTS", "1"),
            ("CIRCUIT_BREAKER_THRESHOLD", "1"),
            ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "1"),
        ],
    )
    .await;
    let failed = upload(&server, 0).await;
    assert!(result_text(&failed).contains("InternalError"), "{failed}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = upload(&server, 1).await;
    assert!(
        result_text(&probe).contains("InternalError"),
        "the probe reaches the store: {probe}"
    );
    let refused = upload(&server, 2).await;
    assert!(
        result_text(&refused).contains("storage unavailable, retry in"),
        "{refused}"
    );
}

/// 4xx answers (here BadDigest: the bytes do not match their checksum) are the request's fault:
/// the store is up, so the breaker stays shut.
#[tokio::test]
async fn client_errors_do_not_open_the_breaker() {
    let (server, proxy) = TestServer::start_behind(
        FaultPlan::every_fault(0.0),
        &[
            ("CIRCUIT_BREAKER_THRESHOLD", "1"),
            ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "60"),
        ],
    )
    .await;
    let storage = Storage::connect(
        &server.config.storage,
        Some(LocalEndpoint {
            url: proxy.endpoint(),
            credentials: server.store_credentials(),
        }),
    )
    .await;
    let object = |key: &str, checksum_of: &[u8]| NewObject {
        bucket: "uploads".into(),
        key: key.to_owned(),
        body: b"abc".to_vec(),
        content_type: "application/octet-stream".into(),
        cache_control: "no-store".into(),
        metadata: Vec::new(),
        sha256: Sha256::digest(checksum_of).into(),
    };
    for _ in 0..3 {
        let err = storage
            .put(
                object("images/corrupt.bin", b"something else"),
                WriteMode::Overwrite,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "rejected", "{err}");
        assert!(err.to_string().contains("BadDigest"), "{err}");
    }
    storage
        .put(object("images/fine.bin", b"abc"), WriteMode::Overwrite)
        .await
        .expect("breaker still closed");
    assert!(proxy.counts().forwarded >= 4);
}

/// A write that S3 stored but whose answer was lost is retried; the retry writes the same bytes
/// under the same content-addressed key, so the result is one correct object, not two.
#[tokio::test]
async fn a_lost_response_is_retried_into_one_correct_object() {
    let (server, proxy) = TestServer::start_behind(
        FaultPlan {
            mix: vec![Fault::LostResponse],
            ..FaultPlan::every_fault(1.0)
        },
        &[
            ("S3_MAX_ATTEMPTS", "3"),
            ("S3_RETRY_INITIAL_BACKOFF_MS", "10"),
        ],
    )
    .await;
    // Every attempt loses its answer: the call fails although the bytes were stored. The error
    // says storage, so the agent retries; it never claims success.
    let lost = upload(&server, 7).await;
    assert_eq!(lost["isError"], json!(true), "{lost}");
    assert!(result_text(&lost).contains("storage"), "{lost}");

    proxy.set_rate(0.0);
    let retried = upload(&server, 7).await;
    assert_ne!(retried["isError"], json!(true), "{retried}");
    let outcome = &retried["structuredContent"];
    assert_eq!(
        stored_sha256(&proxy.direct_url(outcome["url"].as_str().unwrap())).await,
        outcome["sha256"].as_str().unwrap()
    );
    assert_eq!(server.stored_objects("uploads").len(), 1);
    assert_eq!(server.unfinished_writes(), Vec::<String>::new());
}
