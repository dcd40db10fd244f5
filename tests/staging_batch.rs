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
    let mut arguments = json!({"filename": filename, "bytes": body.len()});
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

/// Staged originals: files under the staging prefix, without the tickets' `.issued`/`.claimed`
/// markers and the empty objects used files are replaced by.
fn staged_files(server: &TestServer) -> Vec<std::path::PathBuf> {
    server
        .stored_objects("uploads")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/_staging/"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
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
            json!({"filename": "with-alpha.png", "content_type": "image/png",
                   "bytes": std::fs::metadata(corpus("images/with-alpha.png")).unwrap().len()}),
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
    let never_uploaded = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "never-uploaded.png", "bytes": 100}),
        )
        .await["structuredContent"]["staging_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for (staging_key, hint) in [
        (
            never_uploaded.as_str(),
            "PUT the file to its upload_url first",
        ),
        (
            "_staging/0123456789abcdef0123456789abcdef/never-uploaded.png",
            "form",
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
        .call_tool(
            "create_upload_url",
            json!({"filename": "late.png", "bytes": 1362}),
        )
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
async fn a_failed_upload_keeps_its_staging_object_and_its_ticket_for_a_retry() {
    let server = TestServer::start().await;
    let ticket = stage(
        &server,
        "notes.png",
        None,
        b"these bytes are not an image".to_vec(),
    )
    .await;
    let finalize = json!({"staging_key": ticket["staging_key"], "filename": "notes.png"});
    for _ in 0..2 {
        let result = server
            .call_tool("upload_image_to_s3", finalize.clone())
            .await;
        assert_eq!(result["isError"], json!(true));
        assert!(
            result_text(&result).contains("not a supported image"),
            "the retry runs again instead of finding the ticket used: {result}"
        );
    }
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
            json!({"filename": "page.html", "content_type": "text/html", "bytes": 100}),
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

// ---- Staging tickets are the asking principal's, sized, typed and single-use (issue 10) ----

const ALICE: &str = "alice-key-0123456789abcdef";
const BOB: &str = "bob-key-fedcba9876543210";

/// Alice may write `alice/*` and send at most 5 MB; Bob may write `bob/*`.
async fn alice_and_bob(vars: &[(&str, &str)]) -> (TestServer, tempfile::NamedTempFile) {
    common::start_with_keys(
        &[
            json!({"id": "alice", "key": ALICE, "buckets": ["uploads"], "prefixes": ["alice/*"], "max_bytes": 5_000_000}),
            json!({"id": "bob", "key": BOB, "buckets": ["uploads"], "prefixes": ["bob/*"]}),
        ],
        vars,
    )
    .await
}

/// A ticket for `body` as `api_key`, with the file PUT to it.
async fn stage_as(server: &TestServer, api_key: &str, filename: &str, body: &[u8]) -> Value {
    let ticket = server
        .call_tool_as(
            api_key,
            "create_upload_url",
            json!({"filename": filename, "bytes": body.len(), "content_type": "image/png"}),
        )
        .await;
    assert_ne!(ticket["isError"], json!(true), "{ticket}");
    let ticket = ticket["structuredContent"].clone();
    let response = put_to(&server.http, &ticket, body.to_vec(), None).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    ticket
}

/// PUTs `body` to the ticket's URL with its headers, `content_type` replacing the ticket's.
async fn put_to(
    http: &reqwest::Client,
    ticket: &Value,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> reqwest::Response {
    let mut put = http.put(ticket["upload_url"].as_str().unwrap()).body(body);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        let value = match (name.as_str(), content_type) {
            ("content-type", Some(replacement)) => replacement,
            _ => value.as_str().unwrap(),
        };
        put = put.header(name.as_str(), value);
    }
    put.send().await.unwrap()
}

fn png_bytes() -> Vec<u8> {
    std::fs::read(corpus("images/with-alpha.png")).unwrap()
}

/// Final objects under `images/<folder>/`.
fn finals_under(server: &TestServer, folder: &str) -> Vec<std::path::PathBuf> {
    server
        .stored_objects("uploads")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&format!("/images/{folder}/")))
        .collect()
}

#[tokio::test]
async fn a_staging_key_is_finalized_only_by_the_principal_it_was_issued_to() {
    let (server, _keys) = alice_and_bob(&[]).await;
    let ticket = stage_as(&server, ALICE, "a.png", &png_bytes()).await;
    let stolen =
        json!({"staging_key": ticket["staging_key"], "filename": "stolen.png", "prefix": "bob"});

    let single = server
        .call_tool_as(BOB, "upload_image_to_s3", stolen.clone())
        .await;
    assert_eq!(single["isError"], json!(true), "{single}");
    assert!(
        result_text(&single).contains("issued to another caller"),
        "{single}"
    );
    let batch = server
        .call_tool_as(BOB, "batch_upload_images", json!({"items": [stolen]}))
        .await;
    let item = &batch["structuredContent"]["results"][0];
    assert_eq!(item["ok"], false, "{batch}");
    assert!(
        item["error"]
            .as_str()
            .unwrap()
            .contains("issued to another caller")
    );
    assert!(finals_under(&server, "bob").is_empty());
    assert_eq!(
        staged_files(&server).len(),
        1,
        "Bob's attempts left it staged"
    );

    let own = server
        .call_tool_as(
            ALICE,
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "a.png", "prefix": "alice"}),
        )
        .await;
    assert_ne!(own["isError"], json!(true), "{own}");
    assert_eq!(finals_under(&server, "alice").len(), 1);
}

#[tokio::test]
async fn six_parallel_finalizes_of_one_staged_file_store_one_image_and_refuse_five() {
    let server = TestServer::start().await;
    let ticket = stage(&server, "p.png", Some("image/png"), png_bytes()).await;
    // Different filenames, so each success would land on its own key.
    let finalizes = (0..6).map(|i| {
        server.call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": format!("p{i}.png")}),
        )
    });
    let results = futures::future::join_all(finalizes).await;
    let (ok, refused): (Vec<_>, Vec<_>) = results.iter().partition(|r| r["isError"] != json!(true));
    assert_eq!(ok.len(), 1, "{results:?}");
    for result in &refused {
        assert!(
            result_text(result).contains("already used, or another call is using it"),
            "{result}"
        );
    }
    let finals: Vec<_> = server
        .stored_objects("uploads")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/images/"))
        .collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
}

#[tokio::test]
async fn a_used_upload_url_stages_nothing_more_and_its_key_finalizes_once() {
    let server = TestServer::start().await;
    let ticket = stage(&server, "r.png", Some("image/png"), png_bytes()).await;
    let finalize = json!({"staging_key": ticket["staging_key"], "filename": "r.png"});
    let first = server
        .call_tool("upload_image_to_s3", finalize.clone())
        .await;
    assert_ne!(first["isError"], json!(true), "{first}");

    let again = put_to(&server.http, &ticket, png_bytes(), None).await;
    assert_eq!(again.status(), 412, "a second PUT to a used URL");
    assert!(staged_files(&server).is_empty(), "the original is gone");

    let second = server.call_tool("upload_image_to_s3", finalize).await;
    assert_eq!(second["isError"], json!(true), "{second}");
    assert!(result_text(&second).contains("already used"), "{second}");
}

#[tokio::test]
async fn a_second_put_before_finalizing_cannot_replace_the_staged_file() {
    let server = TestServer::start().await;
    let png = png_bytes();
    let ticket = stage(&server, "s.png", Some("image/png"), png.clone()).await;
    let mut swapped = png.clone();
    swapped.reverse();
    let again = put_to(&server.http, &ticket, swapped, None).await;
    assert_eq!(again.status(), 412);
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "s.png", "format": "original"}),
        )
        .await;
    assert_eq!(
        result["structuredContent"]["original_bytes"],
        png.len(),
        "{result}"
    );
}

#[tokio::test]
async fn a_put_of_another_size_than_the_ticket_is_refused_and_nothing_is_staged() {
    let (server, _keys) = alice_and_bob(&[]).await;
    let over = server
        .call_tool_as(
            ALICE,
            "create_upload_url",
            json!({"filename": "big.png", "bytes": 5_000_001}),
        )
        .await;
    assert_eq!(over["isError"], json!(true), "{over}");
    assert!(result_text(&over).contains("5000000 bytes"), "{over}");
    let missing = server
        .call_tool_as(ALICE, "create_upload_url", json!({"filename": "big.png"}))
        .await;
    assert_eq!(missing["isError"], json!(true), "{missing}");
    assert!(result_text(&missing).contains("bytes"), "{missing}");

    let png = png_bytes();
    let ticket = server
        .call_tool_as(
            ALICE,
            "create_upload_url",
            json!({"filename": "x.png", "bytes": png.len(), "content_type": "image/png"}),
        )
        .await["structuredContent"]
        .clone();
    assert_eq!(ticket["bytes"], png.len());
    assert!(
        ticket["upload_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match"),
        "{ticket}"
    );

    // Through an HTTP client: a body longer (5 MB) or shorter than the signed length.
    let five_mb = put_to(&server.http, &ticket, vec![0; 5_000_000], None).await;
    assert_eq!(five_mb.status(), 403);
    let short = put_to(&server.http, &ticket, png[..100].to_vec(), None).await;
    assert_eq!(short.status(), 403);

    // Over a raw socket: 64 MiB chunked without a length, and chunked under a Content-Length
    // that matches the ticket (hyper ignores the length when chunked framing is also sent).
    let url = ticket["upload_url"].as_str().unwrap();
    let (endpoint, path) = url.split_at(url.find("/uploads/").unwrap());
    let headers: String = ticket["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| format!("{n}: {}\r\n", v.as_str().unwrap()))
        .collect();
    let mib = bytes::Bytes::from(
        [
            b"100000\r\n".as_slice(),
            &vec![0u8; 1 << 20],
            b"\r\n".as_slice(),
        ]
        .concat(),
    );
    let chunked =
        || std::iter::repeat_n(mib.clone(), 64).chain([bytes::Bytes::from_static(b"0\r\n\r\n")]);
    let host = endpoint.trim_start_matches("http://");
    for framing in [
        "Transfer-Encoding: chunked\r\n".to_owned(),
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            png.len()
        ),
    ] {
        let head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\n{headers}{framing}");
        let answer = common::raw_http(endpoint, &head, chunked()).await;
        assert_ne!(answer.status, Some(200), "{framing:?}: {answer:?}");
    }
    assert!(staged_files(&server).is_empty());

    // The file of the signed size goes through.
    assert_eq!(put_to(&server.http, &ticket, png, None).await.status(), 200);
    assert_eq!(staged_files(&server).len(), 1);
}

#[tokio::test]
async fn a_staging_put_is_an_image_or_octet_stream_never_html() {
    let server = TestServer::start().await;
    let png = png_bytes();
    let untyped = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "x.png", "bytes": png.len()}),
        )
        .await["structuredContent"]
        .clone();
    assert_eq!(
        untyped["headers"]["content-type"],
        "application/octet-stream"
    );
    assert!(
        untyped["curl"]
            .as_str()
            .unwrap()
            .contains("-H 'content-type: application/octet-stream'")
    );
    let typed = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "x.png", "bytes": png.len(), "content_type": "image/png"}),
        )
        .await["structuredContent"]
        .clone();
    for ticket in [&untyped, &typed] {
        for content_type in [
            "text/html",
            "image/svg+xml; charset=utf-8",
            "application/xhtml+xml",
        ] {
            let response = put_to(&server.http, ticket, png.clone(), Some(content_type)).await;
            assert_eq!(response.status(), 403, "{content_type}");
        }
    }
    assert!(staged_files(&server).is_empty());

    let response = put_to(&server.http, &untyped, png.clone(), None).await;
    assert_eq!(response.status(), 200);
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": untyped["staging_key"], "filename": "x.png"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
}

#[tokio::test]
async fn open_upload_urls_are_bounded_per_principal() {
    let (server, _keys) = alice_and_bob(&[("MAX_OPEN_UPLOAD_URLS", "3")]).await;
    let ask = |key: &'static str, name: &str| {
        server.call_tool_as(
            key,
            "create_upload_url",
            json!({"filename": name, "bytes": png_bytes().len(), "content_type": "image/png"}),
        )
    };
    let first = stage_as(&server, ALICE, "0.png", &png_bytes()).await;
    for name in ["1.png", "2.png"] {
        assert_ne!(ask(ALICE, name).await["isError"], json!(true));
    }
    let refused = ask(ALICE, "3.png").await;
    assert_eq!(refused["isError"], json!(true), "{refused}");
    let text = result_text(&refused);
    assert!(
        text.contains("3 upload URLs") && text.contains("MAX_OPEN_UPLOAD_URLS"),
        "{text}"
    );
    // The bound is per principal.
    assert_ne!(ask(BOB, "b.png").await["isError"], json!(true));

    // Using one gives one back; a failed use does not.
    let used = server
        .call_tool_as(
            ALICE,
            "upload_image_to_s3",
            json!({"staging_key": first["staging_key"], "filename": "0.png", "prefix": "alice"}),
        )
        .await;
    assert_ne!(used["isError"], json!(true), "{used}");
    assert_ne!(ask(ALICE, "4.png").await["isError"], json!(true));
    assert_eq!(ask(ALICE, "5.png").await["isError"], json!(true));
}

/// The binary's audit lines name the ticket without the token that identifies it; neither do
/// its logs at the level it runs with (debug logs of the SDK show request paths).
#[tokio::test]
async fn the_audit_log_carries_a_redacted_staging_key_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let keys = common::api_keys_file(&[
        json!({"id": "alice", "key": ALICE, "buckets": ["*"], "prefixes": ["*"]}),
    ]);
    let keys = keys.path().display().to_string();
    let serve = common::process::ServeProcess::start(
        &dir.path().join("data"),
        &[
            ("AUTH_MODE", "api_key"),
            ("API_KEYS_FILE", &keys),
            ("RUST_LOG", "info"),
        ],
    );
    let http = reqwest::Client::new();
    let call = async |name: &str, arguments: Value| -> Value {
        let response = http
            .post(&serve.mcp_url)
            .header("content-type", "application/json")
            .header("accept", common::ACCEPT)
            .header("x-api-key", ALICE)
            .body(common::tool_call(name, arguments).to_string())
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()["result"].clone()
    };
    let png = png_bytes();
    let ticket = call(
        "create_upload_url",
        json!({"filename": "a.png", "bytes": png.len(), "content_type": "image/png"}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(put_to(&http, &ticket, png, None).await.status(), 200);
    let staging_key = ticket["staging_key"].as_str().unwrap().to_owned();
    let finalize = json!({"staging_key": staging_key, "filename": "a.png"});
    assert_ne!(
        call("upload_image_to_s3", finalize.clone()).await["isError"],
        json!(true)
    );
    assert_eq!(
        call("upload_image_to_s3", finalize).await["isError"],
        json!(true)
    );

    let audit = serve.audit_lines(3);
    let logs = serve.stop();
    let token = staging_key.rsplit('/').nth(1).unwrap();
    let redacted = audit[0]["keys"][0].as_str().unwrap();
    assert!(
        redacted.starts_with("_staging/") && redacted.ends_with("/a.png"),
        "{redacted}"
    );
    assert!(
        redacted.contains(&token[..8]),
        "the issue time stays: {redacted}"
    );
    assert_eq!(audit[2]["result"], "staging_key_used");
    for text in audit.iter().map(Value::to_string).chain([logs]) {
        assert!(
            !text.contains(&token[8..]),
            "the staging token leaked: {text}"
        );
    }
}
