//! Lambda events from `events/` (Function URL and API Gateway HTTP API), parsed by lambda_http
//! and run through the same app the Lambda runtime serves.

mod common;

use std::path::Path;

use common::TestServer;
use http_body_util::BodyExt;
use s3_upload_mcp::config::RunMode;
use serde_json::Value;
use tower::ServiceExt;

fn event(name: &str) -> lambda_http::Request {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not a Lambda HTTP event: {e}"))
}

async fn run(server: &TestServer, name: &str) -> (u16, Value) {
    let response = server.app.clone().oneshot(event(name)).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{name}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// Configured as under Lambda (API keys on, any Host); the events carry the example key whose
/// digest is in tests/fixtures/events-api-keys.json.
async fn lambda_server() -> TestServer {
    TestServer::start_as(RunMode::Lambda, &[("API_KEYS_FILE", &keys_file())]).await
}

fn keys_file() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events-api-keys.json")
        .display()
        .to_string()
}

#[tokio::test]
async fn function_url_initialize_is_answered() {
    let server = lambda_server().await;
    let (status, body) = run(&server, "function-url-initialize.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
}

#[tokio::test]
async fn function_url_tools_list_is_answered() {
    let server = lambda_server().await;
    let (status, body) = run(&server, "function-url-tools-list.json").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "upload_image_to_s3")
    );
}

#[tokio::test]
async fn function_url_tools_call_uploads_the_image() {
    let server = lambda_server().await;
    let (status, body) = run(&server, "function-url-tools-call.json").await;
    assert_eq!(status, 200, "{body}");
    let outcome = &body["result"]["structuredContent"];
    assert_eq!(outcome["content_type"], "image/png", "{body}");
    assert_eq!(outcome["width"], 16);
    let served = reqwest::get(outcome["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.bytes().await.unwrap().len() as u64,
        outcome["bytes"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn http_api_events_with_base64_bodies_are_answered() {
    let server = lambda_server().await;
    let (status, body) = run(&server, "http-api-initialize.json").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = run(&server, "http-api-tools-list.json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["tools"].is_array());
    let (status, body) = run(&server, "http-api-tools-call.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["format"], "png",
        "{body}"
    );
    assert_eq!(server.stored_objects("uploads").len(), 1);
}

#[tokio::test]
async fn function_url_host_is_refused_when_hosts_are_pinned() {
    let keys = keys_file();
    let vars = [
        ("MCP_ALLOWED_HOSTS", "mcp.example.com"),
        ("API_KEYS_FILE", keys.as_str()),
    ];
    let server = TestServer::start_as(RunMode::Lambda, &vars).await;
    let response = server
        .app
        .clone()
        .oneshot(event("function-url-tools-list.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn an_event_without_a_key_is_401_and_writes_nothing() {
    let server = lambda_server().await;
    let response = server
        .app
        .clone()
        .oneshot(event("function-url-unauthenticated.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key"),
        "{body}"
    );
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn an_oversize_event_body_is_413_naming_create_upload_url() {
    let server = lambda_server().await;
    // The tools/call event with 7 MB of base64 in place of the image (Lambda's limit is 6 MB).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/function-url-tools-call.json");
    let mut event_json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut body: Value = serde_json::from_str(event_json["body"].as_str().unwrap()).unwrap();
    body["params"]["arguments"]["data"] = Value::String("A".repeat(7_000_000));
    event_json["body"] = Value::String(body.to_string());
    let request = lambda_http::request::from_str(&event_json.to_string()).unwrap();
    let response = server.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 413);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("create_upload_url"),
        "{body}"
    );
}

#[tokio::test]
async fn a_batch_with_a_progress_token_streams_progress_as_sse() {
    let server = lambda_server().await;
    let response = server
        .app
        .clone()
        .oneshot(event("function-url-batch-progress.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let messages = common::sse_messages(&text);
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(progress, 2, "{text}");
    let result = messages
        .iter()
        .find(|m| m["id"] == 4)
        .expect("final result");
    assert_eq!(
        result["result"]["structuredContent"]["failed"], 2,
        "{result}"
    );
}
