//! The MCP endpoint over real HTTP, against the embedded S3 store: protocol versions, the
//! upload round trip, and a clear error (with nothing written) for every bad input.

mod common;

use common::{TestServer, corpus_base64, initialize, result_text};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn tools_list_after_initialize(version: &str) {
    let server = TestServer::start().await;
    let init = server.rpc(&initialize(version)).await;
    assert_eq!(init["result"]["protocolVersion"], version, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "s3-upload-mcp");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    let list = server
        .mcp_post()
        .header("mcp-protocol-version", version)
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"upload_image_to_s3"), "{names:?}");
    assert!(names.contains(&"list_s3_buckets"), "{names:?}");
}

#[tokio::test]
async fn initialize_then_tools_list_on_2025_06_18() {
    tools_list_after_initialize("2025-06-18").await;
}

#[tokio::test]
async fn initialize_then_tools_list_on_2025_11_25() {
    tools_list_after_initialize("2025-11-25").await;
}

#[tokio::test]
async fn initialize_on_2025_03_26_is_served() {
    let server = TestServer::start().await;
    let init = server.rpc(&initialize("2025-03-26")).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
}

#[tokio::test]
async fn tools_list_on_2026_07_28_needs_no_initialize() {
    let server = TestServer::start().await;
    let response = server
        .mcp_post()
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let tools = body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(tools.iter().any(|t| t["name"] == "upload_image_to_s3"));
}

#[tokio::test]
async fn upload_tool_declares_its_output_schema() {
    let server = TestServer::start().await;
    let list = server
        .rpc(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    let upload = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "upload_image_to_s3")
        .unwrap()
        .clone();
    let output = &upload["outputSchema"]["properties"];
    for field in [
        "url",
        "bucket",
        "key",
        "etag",
        "content_type",
        "bytes",
        "original_bytes",
        "width",
        "height",
        "format",
        "sha256",
    ] {
        assert!(
            output.get(field).is_some(),
            "outputSchema lacks {field}: {upload}"
        );
    }
    let required = upload["inputSchema"]["required"].as_array().unwrap();
    assert!(required.contains(&json!("filename")));
    // Rust-only numeric formats make strict clients (TypeScript SDK, Inspector) warn.
    let all = list["result"]["tools"].to_string();
    assert!(
        !all.contains("\"format\":\"uint") && !all.contains("\"format\":\"int"),
        "{all}"
    );
}

#[tokio::test]
async fn inline_upload_returns_url_that_serves_the_same_bytes() {
    let server = TestServer::start().await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/flowers.jpeg"), "filename": "flowers.jpeg"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = &result["structuredContent"];
    // Older clients read the text block: it carries the same JSON.
    let text: Value = serde_json::from_str(&result_text(&result)).unwrap();
    assert_eq!(&text, outcome);

    let url = outcome["url"].as_str().unwrap();
    let served = reqwest::get(url).await.unwrap();
    assert_eq!(served.status(), 200, "{url}");
    assert_eq!(
        served.headers()["content-type"].to_str().unwrap(),
        outcome["content_type"].as_str().unwrap()
    );
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let body = served.bytes().await.unwrap();
    assert_eq!(body.len() as u64, outcome["bytes"].as_u64().unwrap());
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        outcome["sha256"].as_str().unwrap()
    );
    assert_eq!(outcome["original_bytes"].as_u64().unwrap(), 85267);
    assert!(outcome["width"].as_u64().unwrap() > 0 && outcome["height"].as_u64().unwrap() > 0);
    assert_eq!(outcome["bucket"], "uploads");
    let key = outcome["key"].as_str().unwrap();
    assert!(key.starts_with("images/flowers-"), "{key}");
    assert!(
        key.contains(&outcome["sha256"].as_str().unwrap()[..12]),
        "{key}"
    );
}

#[tokio::test]
async fn data_uri_upload_keeps_png_when_asked_for_the_original() {
    let server = TestServer::start().await;
    let data = format!(
        "data:image/png;base64,{}",
        corpus_base64("images/with-alpha.png")
    );
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": data, "filename": "메인 배너.png", "format": "original", "prefix": "figma/landing"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = &result["structuredContent"];
    assert_eq!(outcome["content_type"], "image/png");
    assert_eq!(outcome["format"], "png");
    let key = outcome["key"].as_str().unwrap();
    assert!(
        key.starts_with("images/figma/landing/mein-baeneo-") && key.ends_with(".png"),
        "{key}"
    );

    let head = server
        .http
        .head(outcome["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let original = head.headers()["x-amz-meta-original-filename"]
        .to_str()
        .unwrap();
    assert_eq!(original, "%EB%A9%94%EC%9D%B8 %EB%B0%B0%EB%84%88.png");
    assert_eq!(
        head.headers()["x-amz-meta-sha256"].to_str().unwrap(),
        outcome["sha256"].as_str().unwrap()
    );
    assert!(head.headers().contains_key("x-amz-meta-uploaded-at"));
}

#[tokio::test]
async fn explicit_key_is_used_as_given() {
    let server = TestServer::start().await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/with-alpha.png"), "filename": "a.png",
                   "key": "site/hero.webp", "format": "webp", "quality": 70}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    // Keys are relative to KEY_PREFIX, the public root ("images" by default).
    assert_eq!(result["structuredContent"]["key"], "images/site/hero.webp");
    assert_eq!(result["structuredContent"]["content_type"], "image/webp");
    let served = reqwest::get(result["structuredContent"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(&served.bytes().await.unwrap()[8..12], b"WEBP");
}

/// Each bad argument gets `isError: true`, a message that names the fix, and no object.
#[tokio::test]
async fn bad_inputs_get_tool_errors_and_write_nothing() {
    let server = TestServer::start().await;
    let png = corpus_base64("images/with-alpha.png");
    let cases = [
        (
            json!({"data": "%%% not base64 %%%", "filename": "a.png"}),
            "base64",
        ),
        (json!({"data": "", "filename": "a.png"}), "empty"),
        (json!({"filename": "a.png"}), "data"),
        (
            json!({"data": "aGVsbG8gd29ybGQ=", "filename": "a.png"}),
            "not a supported image",
        ),
        (
            json!({"data": png, "filename": "a.png", "bucket": "someone-elses-bucket"}),
            "uploads",
        ),
        (
            json!({"data": png, "filename": "a.png", "quality": 0}),
            "1 to 100",
        ),
        (
            json!({"data": png, "filename": "a.png", "quality": 101}),
            "1 to 100",
        ),
        (json!({"data": png, "filename": ""}), "filename"),
        (
            json!({"data": png, "filename": "a.png", "key": "../../etc/passwd"}),
            "..",
        ),
        (
            json!({"data": png, "filename": "a.png", "key": "/abs.png"}),
            "relative",
        ),
        (json!({"data": png, "filename": "a\u{0}.png"}), "control"),
        (json!({"path": "/etc/passwd", "filename": "a.png"}), "stdio"),
        (
            json!({"data": png, "path": "/tmp/a.png", "filename": "a.png"}),
            "exactly one of",
        ),
    ];
    for (arguments, hint) in cases {
        let result = server
            .call_tool("upload_image_to_s3", arguments.clone())
            .await;
        assert_eq!(result["isError"], json!(true), "{arguments} → {result}");
        let text = result_text(&result);
        assert!(
            text.contains(hint),
            "{arguments}: message {text:?} should mention {hint:?}"
        );
    }
    assert!(
        server.stored_objects("uploads").is_empty(),
        "{:?}",
        server.stored_objects("uploads")
    );
}

#[tokio::test]
async fn caller_keys_cannot_climb_out_of_the_public_root_into_staging() {
    let server = TestServer::start().await;
    let png = corpus_base64("images/with-alpha.png");
    for arguments in [
        json!({"data": png, "filename": "a.png", "key": "../_staging/x.png"}),
        json!({"data": png, "filename": "a.png", "prefix": "../_staging"}),
        json!({"data": png, "filename": "a.png", "key": "x/..\\../_staging/x.png"}),
    ] {
        let result = server
            .call_tool("upload_image_to_s3", arguments.clone())
            .await;
        assert_eq!(result["isError"], json!(true), "{arguments} → {result}");
        assert!(result_text(&result).contains("'..'"), "{result}");
    }
    assert!(server.stored_objects("uploads").is_empty());
}

/// Layouts that would publish the staging area never start: the binary exits at once, naming
/// the variable and the fix, before it listens.
#[test]
fn the_binary_refuses_a_staging_area_the_public_could_read() {
    for (var, value, fix) in [
        (
            "STAGING_PREFIX",
            "images/_staging/",
            "STAGING_PREFIX=_staging/",
        ),
        ("STAGING_PREFIX", "images", "STAGING_PREFIX=_staging/"),
        ("KEY_PREFIX", "/", "a folder"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_s3-upload-mcp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env_clear()
            .env(var, value)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        if status.is_none() {
            child.kill().unwrap();
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            status.is_some_and(|s| !s.success()),
            "{var}={value} started a server: {stdout}"
        );
        assert!(
            stderr.contains(var) && stderr.contains(fix),
            "{var}={value}: {stderr}"
        );
        assert!(!stdout.contains("ready"), "{stdout}");
    }
}

#[tokio::test]
async fn truncated_and_bomb_images_are_refused_with_the_numbers() {
    let server = TestServer::start().await;
    let bomb = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("bad/65536-uint32-limit.png"), "filename": "bomb.png"}),
        )
        .await;
    assert_eq!(bomb["isError"], json!(true));
    assert!(result_text(&bomb).contains("MAX_PIXELS"), "{bomb}");
    let truncated = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("bad/truncated.png"), "filename": "t.png"}),
        )
        .await;
    assert_eq!(truncated["isError"], json!(true), "{truncated}");
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn unknown_tool_is_a_jsonrpc_error() {
    let server = TestServer::start().await;
    let unknown = server
        .rpc(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                     "params": {"name": "delete_everything", "arguments": {}}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{unknown}"
    );
}

/// MCP 2025-11-25 (SEP-1303): arguments that do not match the input schema are tool execution
/// errors, so the model sees which field to fix; rmcp implements it that way.
#[tokio::test]
async fn missing_or_ill_typed_arguments_name_the_field() {
    let server = TestServer::start().await;
    let missing = server
        .call_tool("upload_image_to_s3", json!({"data": "aGk="}))
        .await;
    assert_eq!(missing["isError"], json!(true), "{missing}");
    assert!(result_text(&missing).contains("filename"), "{missing}");

    let bad_format = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": "aGk=", "filename": "a.png", "format": "bmp"}),
        )
        .await;
    assert_eq!(bad_format["isError"], json!(true), "{bad_format}");
    assert!(result_text(&bad_format).contains("webp"), "{bad_format}");

    let misspelt = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": "aGk=", "filename": "a.png", "max_widht": 10}),
        )
        .await;
    assert_eq!(misspelt["isError"], json!(true), "{misspelt}");
    assert!(result_text(&misspelt).contains("max_widht"), "{misspelt}");
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let server = TestServer::start().await;
    let response = server
        .mcp_post()
        .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700, "{body}");
}

#[tokio::test]
async fn oversize_body_is_413_naming_create_upload_url() {
    let server = TestServer::start_with(&[("MAX_REQUEST_BYTES", "100000")]).await;
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "upload_image_to_s3", "arguments": {"data": "A".repeat(200_000), "filename": "big.png"}}});
    let response = server.post(&big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("create_upload_url"),
        "{body}"
    );
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn default_body_limit_is_lambdas_six_megabytes() {
    let server = TestServer::start().await;
    // 5 MB of JSON passes the HTTP limit (rmcp's own default would refuse it at 4 MiB) …
    let under = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "upload_image_to_s3", "arguments": {"data": "A".repeat(5_000_000), "filename": "x.png"}}});
    let response = server.post(&under).await;
    assert_eq!(response.status(), 200);
    // … and 6.5 MB does not.
    let over = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "upload_image_to_s3", "arguments": {"data": "A".repeat(6_500_000), "filename": "x.png"}}});
    assert_eq!(server.post(&over).await.status(), 413);
}

#[tokio::test]
async fn get_on_the_mcp_endpoint_is_405() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.mcp_url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn root_path_is_the_mcp_endpoint_too() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(format!("{}/", server.base))
        .header("content-type", "application/json")
        .header("accept", common::ACCEPT)
        .body(initialize("2025-06-18").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn healthz_answers_with_json() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn foreign_host_header_is_refused_locally() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.mcp_url())
        .header("host", "evil.example.com")
        .header("content-type", "application/json")
        .header("accept", common::ACCEPT)
        .body(initialize("2025-06-18").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn list_s3_buckets_shows_the_allowed_buckets() {
    let server = TestServer::start_with(&[("ALLOWED_BUCKETS", "uploads,second-bucket")]).await;
    let result = server.call_tool("list_s3_buckets", json!({})).await;
    let listed = &result["structuredContent"];
    assert_eq!(listed["default_bucket"], "uploads");
    let names: Vec<&str> = listed["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["uploads", "second-bucket"]);
}

#[tokio::test]
async fn upload_to_a_second_allowed_bucket() {
    let server = TestServer::start_with(&[("ALLOWED_BUCKETS", "second-bucket")]).await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/with-alpha.png"), "filename": "a.png", "bucket": "second-bucket"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert_eq!(result["structuredContent"]["bucket"], "second-bucket");
    assert_eq!(server.stored_objects("second-bucket").len(), 1);
}

#[tokio::test]
async fn widths_give_stored_variants_a_srcset_and_an_img_tag() {
    let server = TestServer::start().await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/Landscape_1.jpg"), "filename": "Landscape_1.jpg", "widths": [160, 320, 1000]}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = &result["structuredContent"];
    let variants = outcome["variants"].as_array().unwrap();
    let widths: Vec<u64> = variants
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect();
    // The image is 600 px wide: 1000 is the main image itself, never a wider copy.
    assert_eq!(outcome["width"], 600);
    assert_eq!(widths, [160, 320]);
    for variant in variants {
        let served = reqwest::get(variant["url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        let bytes = served.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, variant["bytes"].as_u64().unwrap());
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            u64::from(decoded.width()),
            variant["width"].as_u64().unwrap()
        );
        assert_eq!(
            u64::from(decoded.height()),
            variant["height"].as_u64().unwrap()
        );
    }
    let srcset = outcome["srcset"].as_str().unwrap();
    assert!(
        srcset.ends_with(&format!(
            "{} {}w",
            outcome["url"].as_str().unwrap(),
            outcome["width"]
        )),
        "{srcset}"
    );
    let html = outcome["html"].as_str().unwrap();
    for part in [
        "<img src=\"",
        "srcset=\"",
        "sizes=\"",
        "width=\"",
        "height=\"",
        "alt=\"Landscape 1\"",
        "loading=\"lazy\"",
        "decoding=\"async\"",
    ] {
        assert!(html.contains(part), "{html} lacks {part}");
    }
    assert_eq!(server.stored_objects("uploads").len(), 3);
}

#[tokio::test]
async fn svg_is_stored_sanitized_or_rasterized_on_request() {
    let server = TestServer::start().await;
    let hostile = r#"<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" onload="alert(1)"><script>alert(2)</script><circle cx="12" cy="12" r="10" fill="red"/></svg>"#;
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hostile);
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": data, "filename": "icon.svg"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert_eq!(result["structuredContent"]["content_type"], "image/svg+xml");
    let served = reqwest::get(result["structuredContent"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    let body = served.text().await.unwrap();
    assert!(body.contains("<circle"), "{body}");
    assert!(
        !body.contains("script") && !body.contains("onload"),
        "{body}"
    );

    let raster = server
        .call_tool("upload_image_to_s3", json!({"data": corpus_base64("images/lucide-anchor.svg"), "filename": "anchor.svg", "rasterize": true, "format": "png"}))
        .await;
    assert_ne!(raster["isError"], json!(true), "{raster}");
    assert_eq!(raster["structuredContent"]["content_type"], "image/png");
}

#[tokio::test]
async fn a_foreign_browser_origin_is_refused_when_origins_are_pinned() {
    let server = TestServer::start_with(&[("MCP_ALLOWED_ORIGINS", "http://localhost:*")]).await;
    let post = |origin: &'static str| {
        server
            .mcp_post()
            .header("origin", origin)
            .body(initialize("2025-06-18").to_string())
            .send()
    };
    assert_eq!(
        post("https://evil.example.com").await.unwrap().status(),
        403
    );
    assert_eq!(post("http://localhost:6274").await.unwrap().status(), 200);
}
