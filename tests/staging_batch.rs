//! Large and many images through the real app and the embedded S3 store: presigned staging,
//! multipart, batch with progress, dedupe and overwrite rules.

mod common;

use common::{TestServer, corpus, corpus_base64, result_text, sse_messages};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Asks for a staging URL and PUTs `body` to it with the headers the ticket lists.
async fn stage(
    server: &TestServer,
    filename: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Value {
    let mut arguments = json!({"filename": filename});
    if let Some(ct) = content_type {
        arguments["content_type"] = json!(ct);
    }
    let ticket = server.call_tool("create_upload_url", arguments).await;
    assert_ne!(ticket["isError"], json!(true), "{ticket}");
    let ticket = ticket["structuredContent"].clone();
    let mut put = server
        .http
        .put(ticket["upload_url"].as_str().unwrap())
        .body(body);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let response = put.send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "PUT to the presigned URL: {}",
        response.text().await.unwrap()
    );
    ticket
}

fn staged_files(server: &TestServer) -> Vec<std::path::PathBuf> {
    server
        .stored_objects("uploads")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/_staging/"))
        .collect()
}

async fn fetch(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn staging_round_trip_uploads_by_key_and_removes_the_staged_copy() {
    let server = TestServer::start().await;
    let bytes = std::fs::read(corpus("images/Landscape_1.jpg")).unwrap();
    let ticket = stage(
        &server,
        "Landscape 1.jpg",
        Some("image/jpeg"),
        bytes.clone(),
    )
    .await;
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"]["content-type"], "image/jpeg");
    assert!(
        ticket["curl"].as_str().unwrap().starts_with("curl -sS"),
        "{ticket}"
    );
    assert!(
        ticket["curl"]
            .as_str()
            .unwrap()
            .contains("--upload-file './Landscape 1.jpg'"),
        "{ticket}"
    );
    assert!(
        ticket["staging_key"]
            .as_str()
            .unwrap()
            .starts_with("_staging/")
    );
    assert_eq!(staged_files(&server).len(), 1);

    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "Landscape 1.jpg"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = &result["structuredContent"];
    assert_eq!(
        outcome["original_bytes"].as_u64().unwrap(),
        bytes.len() as u64
    );
    let served = fetch(outcome["url"].as_str().unwrap()).await;
    assert_eq!(
        hex::encode(Sha256::digest(&served)),
        outcome["sha256"].as_str().unwrap()
    );
    assert!(
        staged_files(&server).is_empty(),
        "the staging object is deleted after success"
    );

    // The key was consumed: using it again says to start over.
    let again = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "x.jpg"}),
        )
        .await;
    assert_eq!(again["isError"], json!(true));
    assert!(result_text(&again).contains("create_upload_url"), "{again}");
}

#[tokio::test]
async fn the_curl_command_from_the_ticket_uploads_the_file() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        corpus("images/with-alpha.png"),
        dir.path().join("with-alpha.png"),
    )
    .unwrap();
    let ticket = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "with-alpha.png", "content_type": "image/png"}),
        )
        .await;
    let ticket = &ticket["structuredContent"];
    // The embedded store runs on this test's runtime: wait for curl off it.
    let command = ticket["curl"].as_str().unwrap().to_owned();
    let cwd = dir.path().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .status()
    })
    .await
    .unwrap()
    .expect("curl runs");
    assert!(status.success());
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "with-alpha.png"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
}

#[tokio::test]
async fn a_twelve_megabyte_image_goes_up_in_parts_and_round_trips() {
    let server = TestServer::start().await;
    // Noise does not compress: a 2000×2000 RGB PNG of it is about 12 MB.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let pixels: Vec<u8> = (0..2000 * 2000 * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let mut png = Vec::new();
    image::RgbImage::from_raw(2000, 2000, pixels)
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert!(png.len() > 12_000_000, "{}", png.len());

    let ticket = stage(&server, "noise.png", None, png.clone()).await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "noise.png", "format": "original", "max_width": 0, "max_height": 0}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = &result["structuredContent"];
    let bytes = outcome["bytes"].as_u64().unwrap();
    assert!(
        bytes >= 8 * 1024 * 1024,
        "{bytes} bytes is below the multipart threshold"
    );
    // A multipart object's ETag is "<md5 of part md5s>-<part count>".
    assert!(outcome["etag"].as_str().unwrap().contains('-'), "{outcome}");
    let served = fetch(outcome["url"].as_str().unwrap()).await;
    assert_eq!(served.len() as u64, bytes);
    assert_eq!(
        hex::encode(Sha256::digest(&served)),
        outcome["sha256"].as_str().unwrap()
    );
}

#[tokio::test]
async fn unknown_and_out_of_prefix_staging_keys_are_refused() {
    let server = TestServer::start().await;
    for (staging_key, hint) in [
        (
            "_staging/0123456789abcdef0123456789abcdef/never-uploaded.png",
            "create_upload_url",
        ),
        ("images/someone-elses.png", "outside the staging area"),
        ("_staging/../images/x.png", ".."),
        (
            "_staging/0123456789abcdef0123456789abcdef/../../x.png",
            "..",
        ),
        ("_staging/not-a-token/x.png", "form"),
        ("/etc/passwd", "'/'"),
    ] {
        let result = server
            .call_tool(
                "upload_image_to_s3",
                json!({"staging_key": staging_key, "filename": "x.png"}),
            )
            .await;
        assert_eq!(result["isError"], json!(true), "{staging_key}: {result}");
        let text = result_text(&result);
        assert!(
            text.contains(hint),
            "{staging_key}: {text:?} should mention {hint:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_staging_url_refuses_the_put() {
    let server = TestServer::start_with(&[("STAGING_URL_EXPIRY_SECONDS", "1")]).await;
    let ticket = server
        .call_tool("create_upload_url", json!({"filename": "late.png"}))
        .await;
    let url = ticket["structuredContent"]["upload_url"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = server
        .http
        .put(url)
        .body(std::fs::read(corpus("images/with-alpha.png")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(staged_files(&server).is_empty());
}

#[tokio::test]
async fn a_failed_upload_keeps_its_staging_object_for_a_retry() {
    let server = TestServer::start().await;
    let ticket = stage(
        &server,
        "notes.png",
        None,
        b"these bytes are not an image".to_vec(),
    )
    .await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "notes.png"}),
        )
        .await;
    assert_eq!(result["isError"], json!(true));
    assert_eq!(staged_files(&server).len(), 1);
    let finals: Vec<_> = server
        .stored_objects("uploads")
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("/_staging/"))
        .collect();
    assert!(finals.is_empty(), "{finals:?}");
}

#[tokio::test]
async fn create_upload_url_checks_size_and_type_up_front() {
    let server = TestServer::start().await;
    let too_big = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "huge.png", "bytes": 1_000_000_000u64}),
        )
        .await;
    assert_eq!(too_big["isError"], json!(true));
    assert!(
        result_text(&too_big).contains("MAX_INPUT_BYTES"),
        "{too_big}"
    );
    let not_image = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "page.html", "content_type": "text/html"}),
        )
        .await;
    assert_eq!(not_image["isError"], json!(true));
    assert!(
        result_text(&not_image).contains("image type"),
        "{not_image}"
    );
}

#[tokio::test]
async fn inline_data_over_the_limit_points_to_create_upload_url() {
    let server = TestServer::start_with(&[("MAX_INPUT_BYTES", "10000")]).await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/flowers.jpeg"), "filename": "f.jpeg"}),
        )
        .await;
    assert_eq!(result["isError"], json!(true));
    assert!(
        result_text(&result).contains("create_upload_url"),
        "{result}"
    );
}

#[tokio::test]
async fn identical_content_is_deduplicated_onto_one_object() {
    let server = TestServer::start().await;
    let arguments =
        json!({"data": corpus_base64("images/flowers.jpeg"), "filename": "flowers.jpeg"});
    let first = server
        .call_tool("upload_image_to_s3", arguments.clone())
        .await;
    let second = server.call_tool("upload_image_to_s3", arguments).await;
    assert_eq!(first["structuredContent"]["deduplicated"], false, "{first}");
    assert_eq!(
        second["structuredContent"]["deduplicated"], true,
        "{second}"
    );
    assert_eq!(
        first["structuredContent"]["key"],
        second["structuredContent"]["key"]
    );
    assert_eq!(
        first["structuredContent"]["etag"],
        second["structuredContent"]["etag"]
    );
    assert_eq!(server.stored_objects("uploads").len(), 1);
}

#[tokio::test]
async fn an_existing_explicit_key_is_refused_unless_overwrite_is_set() {
    let server = TestServer::start().await;
    let upload = |file: &str, overwrite: bool| json!({"data": corpus_base64(file), "filename": "hero.png", "key": "home/hero.webp", "format": "webp", "overwrite": overwrite});
    let first = server
        .call_tool("upload_image_to_s3", upload("images/with-alpha.png", false))
        .await;
    assert_ne!(first["isError"], json!(true), "{first}");

    // The same bytes again: an idempotent retry, not a conflict.
    let retry = server
        .call_tool("upload_image_to_s3", upload("images/with-alpha.png", false))
        .await;
    assert_eq!(retry["structuredContent"]["deduplicated"], true, "{retry}");

    let other = server
        .call_tool("upload_image_to_s3", upload("images/flowers.jpeg", false))
        .await;
    assert_eq!(other["isError"], json!(true), "{other}");
    assert!(result_text(&other).contains("overwrite: true"), "{other}");
    let served = fetch(first["structuredContent"]["url"].as_str().unwrap()).await;
    assert_eq!(
        hex::encode(Sha256::digest(&served)),
        first["structuredContent"]["sha256"].as_str().unwrap()
    );

    let replaced = server
        .call_tool("upload_image_to_s3", upload("images/flowers.jpeg", true))
        .await;
    assert_ne!(replaced["isError"], json!(true), "{replaced}");
    let served = fetch(replaced["structuredContent"]["url"].as_str().unwrap()).await;
    assert_eq!(
        hex::encode(Sha256::digest(&served)),
        replaced["structuredContent"]["sha256"].as_str().unwrap()
    );
}

fn batch_items(count: usize) -> Vec<Value> {
    let files = [
        "images/flowers.jpeg",
        "images/with-alpha.png",
        "images/Landscape_3.jpg",
        "images/320x240.jpg",
    ];
    (0..count)
        .map(|i| json!({"data": corpus_base64(files[i % files.len()]), "filename": format!("item-{i}.img"), "prefix": format!("batch/{i}")}))
        .collect()
}

#[tokio::test]
async fn batch_of_eight_reports_progress_and_results_in_order() {
    let server = TestServer::start().await;
    let request = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "batch_upload_images",
        "arguments": {"items": batch_items(8), "format": "webp", "quality": 75, "concurrency": 3},
        "_meta": {"progressToken": "batch-1"}
    }});
    let response = server.post(&request).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let messages = sse_messages(&response.text().await.unwrap());

    let progress: Vec<&Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 8, "{messages:?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["params"]["progressToken"], "batch-1");
        assert_eq!(p["params"]["progress"].as_f64().unwrap(), (i + 1) as f64);
        assert_eq!(p["params"]["total"].as_f64().unwrap(), 8.0);
        assert!(
            p["params"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/8", i + 1))
        );
    }
    let reply = messages
        .iter()
        .find(|m| m["id"] == 9)
        .expect("final result");
    let result = &reply["result"]["structuredContent"];
    assert_eq!(result["succeeded"], 8, "{reply}");
    assert_eq!(result["failed"], 0);
    for (i, item) in result["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["ok"], true);
        assert_eq!(item["format"], "webp");
        assert!(
            item["key"]
                .as_str()
                .unwrap()
                .starts_with(&format!("images/batch/{i}/item-{i}-")),
            "{item}"
        );
        let served = fetch(item["url"].as_str().unwrap()).await;
        assert_eq!(
            hex::encode(Sha256::digest(&served)),
            item["sha256"].as_str().unwrap()
        );
    }
}

#[tokio::test]
async fn batch_without_a_progress_token_answers_with_plain_json() {
    let server = TestServer::start().await;
    let result = server
        .call_tool("batch_upload_images", json!({"items": batch_items(2)}))
        .await;
    assert_eq!(result["structuredContent"]["succeeded"], 2, "{result}");
}

#[tokio::test]
async fn one_bad_item_never_fails_the_batch() {
    let server = TestServer::start().await;
    let mut items = batch_items(3);
    items.insert(
        1,
        json!({"data": "bm90IGFuIGltYWdl", "filename": "bad.png"}),
    );
    items.push(json!({"filename": "no-source.png"}));
    items.push(json!({"data": corpus_base64("images/with-alpha.png"), "filename": "x.png", "bucket": "not-allowed"}));
    let result = server
        .call_tool("batch_upload_images", json!({"items": items}))
        .await;
    let summary = &result["structuredContent"];
    assert_eq!(summary["succeeded"], 3, "{result}");
    assert_eq!(summary["failed"], 3);
    let results = summary["results"].as_array().unwrap();
    let oks: Vec<bool> = results.iter().map(|r| r["ok"].as_bool().unwrap()).collect();
    assert_eq!(oks, [true, false, true, true, false, false]);
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a supported image")
    );
    assert_eq!(results[1]["retryable"], false);
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap()
            .contains("no image given")
    );
    assert!(
        results[5]["error"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
    assert_eq!(server.stored_objects("uploads").len(), 3);
}

#[tokio::test]
async fn batch_limits_give_clear_errors() {
    let server =
        TestServer::start_with(&[("MAX_BATCH_ITEMS", "3"), ("MAX_BATCH_BYTES", "100000")]).await;
    let too_many = server
        .call_tool("batch_upload_images", json!({"items": batch_items(4)}))
        .await;
    assert_eq!(too_many["isError"], json!(true));
    assert!(
        result_text(&too_many).contains("MAX_BATCH_ITEMS"),
        "{too_many}"
    );

    let heavy: Vec<Value> = (0..2)
        .map(|i| json!({"data": corpus_base64("images/Landscape_3.jpg"), "filename": format!("{i}.jpg")}))
        .collect();
    let too_heavy = server
        .call_tool("batch_upload_images", json!({"items": heavy}))
        .await;
    assert_eq!(too_heavy["isError"], json!(true));
    assert!(
        result_text(&too_heavy).contains("MAX_BATCH_BYTES"),
        "{too_heavy}"
    );

    let empty = server
        .call_tool("batch_upload_images", json!({"items": []}))
        .await;
    assert_eq!(empty["isError"], json!(true));
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn batch_items_can_come_from_staging() {
    let server = TestServer::start().await;
    let ticket = stage(
        &server,
        "flowers.jpeg",
        Some("image/jpeg"),
        std::fs::read(corpus("images/flowers.jpeg")).unwrap(),
    )
    .await;
    let result = server
        .call_tool(
            "batch_upload_images",
            json!({"items": [{"staging_key": ticket["staging_key"], "filename": "flowers.jpeg"},
                             {"data": corpus_base64("images/with-alpha.png"), "filename": "a.png"}]}),
        )
        .await;
    assert_eq!(result["structuredContent"]["succeeded"], 2, "{result}");
    assert!(staged_files(&server).is_empty());
}
