//! Hostile input through the real HTTP endpoint: malformed JSON-RPC of every shape, wrong types,
//! huge and deeply nested values, traversal and NUL bytes in keys and names, disallowed buckets,
//! out-of-range numbers, unknown formats, truncated and bomb images. None may produce a 5xx or a
//! panic, none may write an object, and the server must be healthy afterwards.

mod common;

use base64::Engine as _;
use common::{ACCEPT, TestServer, corpus_base64, crafted};
use serde_json::{Value, json};

/// What goes over the wire.
enum Body {
    /// Bytes exactly as given.
    Raw(Vec<u8>),
    /// A JSON-RPC message.
    Rpc(Value),
    /// `tools/call` of upload_image_to_s3 with these arguments.
    Upload(Value),
}

struct Case {
    name: &'static str,
    body: Body,
    /// False for odd-but-harmless input the server may accept (it still must not 5xx).
    must_refuse: bool,
}

impl Case {
    /// Accepting this input is fine; answering it with a 5xx or a panic is not.
    fn may_be_accepted(mut self) -> Self {
        self.must_refuse = false;
        self
    }
}

fn raw(name: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        body: Body::Raw(body.into()),
        must_refuse: true,
    }
}

fn rpc(name: &'static str, message: Value) -> Case {
    Case {
        name,
        body: Body::Rpc(message),
        must_refuse: true,
    }
}

fn upload(name: &'static str, arguments: Value) -> Case {
    Case {
        name,
        body: Body::Upload(arguments),
        must_refuse: true,
    }
}

fn nested(depth: usize) -> String {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"upload_image_to_s3\",\"arguments\":{{\"filename\":\"a.png\",\"data\":{}{}}}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PNG that is only a signature and an IHDR claiming 100000×100000 pixels.
fn png_header_bomb() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&ihdr);
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn cases() -> Vec<Case> {
    let png = corpus_base64("images/with-alpha.png");
    let ok = |extra: Value| {
        let mut args = json!({"data": png, "filename": "a.png"});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    vec![
        // Malformed JSON-RPC.
        raw("empty body", ""),
        raw("whitespace body", "   \n "),
        raw("JSON null", "null"),
        raw("bare string", "\"tools/call\""),
        raw("bare number", "42"),
        raw("empty object", "{}"),
        raw("empty batch", "[]"),
        raw("batch of junk", "[1, \"two\", null, {}]"),
        raw(
            "truncated message",
            "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"upl",
        ),
        raw(
            "invalid UTF-8",
            b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"\xff\xfe\"}".to_vec(),
        ),
        raw(
            "NUL byte in the body",
            b"{\"jsonrpc\": \"2.0\",\0 \"id\": 1}".to_vec(),
        ),
        raw("nesting 100 000 deep", nested(100_000)),
        raw("nesting 120 deep (under the parser's limit)", nested(120)),
        rpc(
            "wrong jsonrpc version",
            json!({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}),
        ),
        rpc(
            "no jsonrpc member",
            json!({"id": 1, "method": "tools/list"}),
        ),
        rpc(
            "object as id",
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list"}),
        ),
        rpc(
            "method is a number",
            json!({"jsonrpc": "2.0", "id": 1, "method": 7}),
        ),
        rpc(
            "unknown method",
            json!({"jsonrpc": "2.0", "id": 1, "method": "s3/deleteBucket"}),
        ),
        rpc(
            "1 MB method name",
            json!({"jsonrpc": "2.0", "id": 1, "method": "x".repeat(1 << 20)}),
        ),
        rpc(
            "params is a string",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "upload"}),
        ),
        rpc(
            "tool name is a number",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}),
        ),
        rpc(
            "arguments is an array",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "upload_image_to_s3", "arguments": [1, 2]}}),
        ),
        rpc(
            "arguments is null",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "upload_image_to_s3", "arguments": null}}),
        ),
        rpc(
            "a response sent as a request",
            json!({"jsonrpc": "2.0", "id": 1, "result": {"ok": true}}),
        ),
        rpc(
            "notification of tools/call",
            json!({"jsonrpc": "2.0", "method": "tools/call",
                   "params": {"name": "upload_image_to_s3", "arguments": ok(json!({}))}}),
        ),
        // Wrong types.
        upload("no arguments", json!({})),
        upload(
            "data is a number",
            json!({"data": 123, "filename": "a.png"}),
        ),
        upload(
            "data is an object",
            json!({"data": {"b64": png}, "filename": "a.png"}),
        ),
        upload(
            "filename is an object",
            ok(json!({"filename": {"name": "a.png"}})),
        ),
        upload("quality is a string", ok(json!({"quality": "high"}))),
        upload("quality is a float", ok(json!({"quality": 80.5}))),
        upload("quality is negative", ok(json!({"quality": -1}))),
        upload("quality is huge", ok(json!({"quality": 1e20}))),
        upload("quality is 0", ok(json!({"quality": 0}))),
        upload("quality is 101", ok(json!({"quality": 101}))),
        upload("max_width is negative", ok(json!({"max_width": -5}))),
        upload(
            "max_width overflows u32",
            ok(json!({"max_width": 1u64 << 40})),
        ),
        upload("format is unknown", ok(json!({"format": "bmp"}))),
        upload("format is a number", ok(json!({"format": 3}))),
        upload("unknown argument", ok(json!({"acl": "public-read"}))),
        // Huge strings.
        upload(
            "1 MB filename",
            ok(json!({"filename": "a".repeat(1 << 20)})),
        ),
        upload(
            "3 MB of non-base64 data",
            json!({"data": "!".repeat(3 << 20), "filename": "a.png"}),
        ),
        upload("5000-byte key", ok(json!({"key": "k/".repeat(2500)}))),
        // Traversal, NUL and control bytes in keys, prefixes, filenames and buckets.
        upload(
            "key ../../etc/passwd",
            ok(json!({"key": "../../etc/passwd"})),
        ),
        upload(
            "key with backslash traversal",
            ok(json!({"key": "..\\..\\windows\\x.png"})),
        ),
        // S3 keys are literal: "%2e%2e" is a name, not "..", and the returned URL escapes the '%'
        // (checked in `encoded_traversal_is_a_literal_name_in_an_escaped_url`).
        upload(
            "key with encoded traversal",
            ok(json!({"key": "%2e%2e/%2e%2e/x.png"})),
        )
        .may_be_accepted(),
        upload("absolute key", ok(json!({"key": "/etc/passwd"}))),
        upload("key with NUL", ok(json!({"key": "a\u{0}b.png"}))),
        upload("key with newline", ok(json!({"key": "a\nb.png"}))),
        upload("prefix ../..", ok(json!({"prefix": "../.."}))),
        upload("prefix with NUL", ok(json!({"prefix": "x\u{0}y"}))),
        upload(
            "key into the staging area",
            ok(json!({"key": "../_staging/x.png"})),
        ),
        upload("filename with NUL", ok(json!({"filename": "a\u{0}.png"}))),
        upload(
            "filename with header injection",
            ok(json!({"filename": "a.png\r\nx-amz-acl: public-read"})),
        ),
        upload("filename is empty", ok(json!({"filename": ""}))),
        upload("filename is whitespace", ok(json!({"filename": "   "}))),
        // Buckets.
        upload(
            "disallowed bucket",
            ok(json!({"bucket": "someone-elses-bucket"})),
        ),
        upload("bucket with traversal", ok(json!({"bucket": "../uploads"}))),
        upload("bucket with NUL", ok(json!({"bucket": "uploads\u{0}"}))),
        upload(
            "bucket as URL",
            ok(json!({"bucket": "http://169.254.169.254/latest"})),
        ),
        // Sources.
        upload("empty data", json!({"data": "", "filename": "a.png"})),
        upload(
            "data that decodes to nothing",
            json!({"data": "====", "filename": "a.png"}),
        ),
        upload(
            "path source over HTTP",
            json!({"path": "/etc/passwd", "filename": "a.png"}),
        ),
        upload("data and path", ok(json!({"path": "/etc/passwd"}))),
        upload(
            "data URI that is not base64",
            json!({"data": "data:image/png,notbase64", "filename": "a.png"}),
        ),
        upload(
            "HTML in a data URI",
            json!({"data": format!("data:text/html;base64,{}", b64(b"<script>alert(1)</script>")), "filename": "a.png"}),
        ),
        // Images that are not what they claim, broken, or bombs.
        upload(
            "text pretending to be PNG",
            json!({"data": b64(b"hello world"), "filename": "a.png"}),
        ),
        upload(
            "PNG signature only",
            json!({"data": b64(b"\x89PNG\r\n\x1a\n"), "filename": "a.png"}),
        ),
        upload(
            "truncated PNG",
            json!({"data": corpus_base64("bad/truncated.png"), "filename": "t.png"}),
        ),
        // The JPEG decoder pads a truncated scan with grey; the image is stored as received.
        upload(
            "truncated JPEG",
            json!({"data": corpus_base64("bad/truncated.jpg"), "filename": "t.jpg"}),
        )
        .may_be_accepted(),
        upload(
            "corrupt JPEG header",
            json!({"data": corpus_base64("bad/corrupt-header.jpg"), "filename": "c.jpg"}),
        ),
        upload(
            "20000×14000 JPEG bomb",
            json!({"data": corpus_base64("bad/giant-image.jpg"), "filename": "g.jpg"}),
        ),
        upload(
            "65536×65536 PNG bomb",
            json!({"data": corpus_base64("bad/65536-uint32-limit.png"), "filename": "b.png"}),
        ),
        upload(
            "IHDR-only 100000×100000 PNG",
            json!({"data": b64(&png_header_bomb()), "filename": "h.png"}),
        ),
    ]
}

/// True when the answer refuses the request: an HTTP 4xx, a JSON-RPC error, or a tool error.
fn refused(status: u16, body: &str) -> bool {
    if (400..500).contains(&status) {
        return true;
    }
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    value.get("error").is_some() || value["result"]["isError"] == json!(true)
}

#[tokio::test]
async fn hostile_input_never_yields_a_5xx_or_an_object_and_the_server_stays_healthy() {
    let server = TestServer::start().await;
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut problems = Vec::new();
    let mut accepted = 0;
    for case in &cases {
        let body = match &case.body {
            Body::Raw(bytes) => bytes.clone(),
            Body::Rpc(message) => message.to_string().into_bytes(),
            Body::Upload(arguments) => json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "upload_image_to_s3", "arguments": arguments}})
            .to_string()
            .into_bytes(),
        };
        let response = server
            .http
            .post(server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "{}: no answer ({e}) — did the server panic?",
                    case.name
                ));
                continue;
            }
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let shown: String = text.chars().take(300).collect();
        if status >= 500 {
            problems.push(format!("{}: HTTP {status}: {shown}", case.name));
        } else if !refused(status, &text) {
            accepted += 1;
            if case.must_refuse && status != 202 {
                // 202 is the only acceptable non-refusal: a notification has no answer to carry one.
                problems.push(format!(
                    "{}: accepted with HTTP {status}: {shown}",
                    case.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let tolerated = cases.iter().filter(|c| !c.must_refuse).count();
    assert!(
        server.stored_objects("uploads").len() <= tolerated,
        "hostile input wrote {:?}",
        server.stored_objects("uploads")
    );
    let written = server.stored_objects("uploads").len();

    // Still healthy, and still working.
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/with-alpha.png"), "filename": "ok.png"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert_eq!(server.stored_objects("uploads").len(), written + 1);
    eprintln!(
        "{} hostile cases, {accepted} accepted (tolerated: {tolerated})",
        cases.len()
    );
}

#[tokio::test]
async fn encoded_traversal_is_a_literal_name_in_an_escaped_url() {
    let server = TestServer::start().await;
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/with-alpha.png"), "filename": "a.png",
                   "key": "%2e%2e/%2e%2e/x.png"}),
        )
        .await;
    if result["isError"] == json!(true) {
        return; // Refusing it is fine too.
    }
    let outcome = &result["structuredContent"];
    assert_eq!(outcome["key"], "images/%2e%2e/%2e%2e/x.png");
    let url = outcome["url"].as_str().unwrap();
    assert!(url.contains("/images/%252e%252e/%252e%252e/x.png"), "{url}");
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
}

/// The same hostile tool calls, sixteen at a time, do not knock the server over either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_input_in_parallel_leaves_the_server_healthy() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let mut calls = tokio::task::JoinSet::new();
    for case in cases() {
        let Body::Upload(arguments) = case.body else {
            continue;
        };
        if !case.must_refuse {
            continue;
        }
        let server = server.clone();
        calls.spawn(async move {
            let response = server
                .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "upload_image_to_s3", "arguments": arguments}}))
                .await;
            (case.name, response.status().as_u16())
        });
    }
    while let Some(joined) = calls.join_next().await {
        let (name, status) = joined.expect("no panic");
        assert!(status < 500, "{name}: HTTP {status}");
    }
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(server.stored_objects("uploads").is_empty());
}

/// Inputs that crashed a fuzz target (fuzz/regressions/<target>/), replayed through the HTTP
/// endpoint. process_image inputs start with one byte of options for the fuzzer; the image is
/// the rest.
///
/// `webp-encoder-panic-wide-gif`: a GIF frame wider than 16383 px (still under MAX_PIXELS) made
/// the `webp` crate's `Encoder::encode` panic on VP8_ENC_ERROR_BAD_DIMENSION. The pipeline runs
/// in `spawn_blocking`, so the server survived and answered a tool error ("internal error"); the
/// imaging rewrite encodes through `encode_advanced`, which returns that as an error instead.
#[tokio::test]
async fn fuzz_crashes_are_answered_with_tool_errors_and_the_server_survives() {
    let server = TestServer::start().await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/process_image");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let result = server
            .call_tool(
                "upload_image_to_s3",
                json!({"data": b64(&input[1..]), "filename": "fuzz.gif", "max_width": 0, "max_height": 0}),
            )
            .await;
        assert_eq!(
            result["isError"],
            json!(true),
            "{}: {result}",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed > 0);
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(server.stored_objects("uploads").is_empty());
}

// Imaging bounds (issue 10): inputs of a few hundred bytes to a few MB that decode, inflate or
// render into gigabytes. Each is answered with a tool error that names the bound, quickly, the
// server stays up and the next valid upload still succeeds.

fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

/// Calls upload_image_to_s3 and returns its error text; fails when the call is accepted or takes
/// longer than `within`.
async fn refused_with(
    server: &TestServer,
    arguments: Value,
    within: std::time::Duration,
) -> String {
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(within, server.call_tool("upload_image_to_s3", arguments))
        .await
        .unwrap_or_else(|_| panic!("no answer within {within:?}"));
    assert_eq!(result["isError"], json!(true), "accepted: {result}");
    eprintln!("refused in {:?}", started.elapsed());
    common::result_text(&result)
}

/// Calls upload_image_to_s3, expects success and returns the stored object's bytes.
async fn stored_bytes(server: &TestServer, arguments: Value) -> (Value, Vec<u8>) {
    let result = server.call_tool("upload_image_to_s3", arguments).await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let outcome = result["structuredContent"].clone();
    let url = outcome["url"].as_str().expect("a URL").to_owned();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    (outcome, bytes.to_vec())
}

/// After an attack: /healthz answers and a valid upload is stored.
async fn assert_still_serving(server: &TestServer) {
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("the server is still up");
    assert_eq!(health.status(), 200);
    let result = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/with-alpha.png"), "filename": "after.png"}),
        )
        .await;
    assert_ne!(result["isError"], json!(true), "{result}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_animated_webp_whose_frames_exceed_the_pixel_limit_is_refused_before_any_frame_is_decoded()
 {
    let server = TestServer::start().await;
    // The builder makes valid animations: a small one is stored, with every frame.
    let small = crafted::animated_webp(16, 16, 3);
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(&small), "filename": "ok.webp", "format": "original"}),
    )
    .await;
    assert_eq!(
        (outcome["width"].clone(), outcome["height"].clone()),
        (json!(16), json!(16))
    );
    // The review's 7000×7000 canvas with 10 frames of 1×1 decoded 2.4 GB; with 30 frames it
    // aborted under a 4 GB cap.
    for frames in [10, 30] {
        let webp = crafted::animated_webp(7000, 7000, frames);
        assert!(webp.len() < 1300, "{} bytes", webp.len());
        let error = refused_with(
            &server,
            json!({"data": b64(&webp), "filename": "bomb.webp"}),
            secs(5),
        )
        .await;
        assert!(
            error.contains("7000×7000")
                && error.contains(&format!("{frames} frames"))
                && error.contains("MAX_PIXELS"),
            "{error}"
        );
    }
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn an_animated_gif_whose_frames_exceed_the_pixel_limit_is_refused_before_any_frame_is_decoded()
 {
    let server = TestServer::start().await;
    let small = crafted::animated_gif(16, 16, 3);
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(&small), "filename": "ok.gif", "format": "original"}),
    )
    .await;
    assert_eq!(outcome["format"], "gif");
    let gif = crafted::animated_gif(7000, 7000, 30);
    let error = refused_with(
        &server,
        json!({"data": b64(&gif), "filename": "bomb.gif"}),
        secs(5),
    )
    .await;
    assert!(
        error.contains("7000×7000") && error.contains("30 frames") && error.contains("MAX_PIXELS"),
        "{error}"
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_png_whose_iccp_profile_inflates_to_gigabytes_is_refused_without_inflating_it() {
    let server = TestServer::start().await;
    // Same builder, empty profile: an ordinary PNG.
    stored_bytes(
        &server,
        json!({"data": b64(&crafted::png_with_iccp_bomb(0)), "filename": "ok.png"}),
    )
    .await;
    // 4.2 GB of zeros in a ~4 MB file: the review measured ~0.9 GB of memory per request.
    let bomb = crafted::png_with_iccp_bomb(250);
    assert!(bomb.len() < 5 << 20, "{} bytes", bomb.len());
    for format in ["auto", "original"] {
        let error = refused_with(
            &server,
            json!({"data": b64(&bomb), "filename": "icc.png", "format": format}),
            secs(10),
        )
        .await;
        assert!(error.contains("iCCP") && error.contains("4 MiB"), "{error}");
    }
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn bytes_after_the_image_are_cut_from_the_stored_original() {
    let server = TestServer::start().await;
    let trailer = b"<html><script>alert(document.cookie)</script></html>";
    for name in [
        "320x240.jpg",
        "with-alpha.png",
        "4.webp",
        "rotating-squares.gif",
    ] {
        let mut input = std::fs::read(common::corpus(&format!("images/{name}"))).unwrap();
        input.extend_from_slice(trailer);
        let (outcome, stored) = stored_bytes(
            &server,
            json!({"data": b64(&input), "filename": name, "format": "original",
                   "max_width": 0, "max_height": 0}),
        )
        .await;
        assert_eq!(outcome["encoder"], "original-stripped", "{name}: {outcome}");
        assert!(
            !contains(&stored, b"<script"),
            "{name}: the trailer was stored"
        );
        image::load_from_memory(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // A JPEG with an HDR gain map: the secondary image after the EOI is cut, and so is the MPF
    // segment that pointed at it.
    let gain_map = std::fs::read(common::corpus("images/gain-map.jpg")).unwrap();
    let (_, stored) = stored_bytes(
        &server,
        json!({"data": b64(&gain_map), "filename": "hdr.jpg", "format": "original",
               "max_width": 0, "max_height": 0}),
    )
    .await;
    assert!(stored.ends_with(&[0xFF, 0xD9]));
    assert!(
        !contains(&stored, b"MPF\0") && !contains(&stored, b"hdrgm"),
        "gain map kept"
    );
    assert!(
        gain_map.len() - stored.len() > 31_000,
        "{} bytes",
        stored.len()
    );
}

#[tokio::test]
async fn a_crafted_svg_with_an_embedded_png_bomb_is_refused_and_the_server_stays_up() {
    let server = TestServer::start().await;
    // The review's 696 KB SVG: the 65536×65536 PNG as a data: URI. Rendering it aborted on a
    // 12 GB allocation; stored as SVG, it bombed every browser that showed it.
    let bomb = std::fs::read(common::corpus("bad/65536-uint32-limit.png")).unwrap();
    let svg = crafted::svg_embedding("image/png", &bomb);
    let data = b64(bomb.as_slice());
    let variants = [
        svg.clone(),
        // The declared type does not matter, nor where the data: URI sits.
        crafted::svg_embedding("image/jpeg", &bomb),
        svg.replace(
            "<image ",
            r#"<image xmlns:xlink="http://www.w3.org/1999/xlink" "#,
        )
        .replace(" href=", " xlink:href="),
        crafted::svg(
            100,
            100,
            &format!(
                r#"<filter id="f"><feImage href="data:image/png;base64,{data}"/></filter><rect width="100" height="100" filter="url(#f)"/>"#
            ),
        ),
    ];
    for (i, doc) in variants.iter().enumerate() {
        for rasterize in [true, false] {
            let error = refused_with(
                &server,
                json!({"data": b64(doc.as_bytes()), "filename": "bomb.svg", "rasterize": rasterize}),
                secs(10),
            )
            .await;
            assert!(
                error.contains("65536×65536") && error.contains("MAX_PIXELS"),
                "variant {i}, rasterize {rasterize}: {error}"
            );
        }
    }
    assert!(server.stored_objects("uploads").is_empty());
    // An embedded image within the limits is kept and drawn.
    let small = std::fs::read(common::corpus("images/with-alpha.png")).unwrap();
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(crafted::svg_embedding("image/png", &small).as_bytes()),
               "filename": "ok.svg", "rasterize": true}),
    )
    .await;
    assert_eq!(outcome["format"], "webp");
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn an_svg_with_an_internal_dtd_subset_is_refused_before_any_entity_expands() {
    let server = TestServer::start().await;
    // A 1 MB entity used 1000 times: a 1 GB document once expanded (17 s, 2.4 GB in the
    // review; 3000 uses aborted).
    let bomb = crafted::svg_internal_entity(1 << 20, 1000);
    for rasterize in [false, true] {
        let error = refused_with(
            &server,
            json!({"data": b64(bomb.as_bytes()), "filename": "dtd.svg", "rasterize": rasterize}),
            secs(5),
        )
        .await;
        assert!(error.contains("internal DTD subset"), "{error}");
    }
    // The stock SVG 1.1 DOCTYPE, without a subset, is fine.
    let stock = r#"<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;
    let (_, stored) = stored_bytes(
        &server,
        json!({"data": b64(stock.as_bytes()), "filename": "stock.svg"}),
    )
    .await;
    assert!(!contains(&stored, b"DOCTYPE"));
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn svg_renders_are_refused_before_they_exceed_the_pixel_or_work_bounds() {
    let server = TestServer::start().await;
    // The review's filter bomb at 8192² with no box: 54 s of CPU and 1.2 GB. Refused at once:
    // 8192² alone is more than MAX_PIXELS.
    let turbulence = crafted::svg_turbulence(8192);
    assert!(turbulence.len() < 300);
    let error = refused_with(
        &server,
        json!({"data": b64(turbulence.as_bytes()), "filename": "t.svg", "rasterize": true,
               "max_width": 0, "max_height": 0}),
        secs(5),
    )
    .await;
    assert!(
        error.contains("8192×8192") && error.contains("MAX_PIXELS"),
        "{error}"
    );
    // Smaller, its buffers fit the pixel limit; ten octaves of noise over them do not fit the
    // work bound.
    let error = refused_with(
        &server,
        json!({"data": b64(turbulence.as_bytes()), "filename": "t.svg", "rasterize": true,
               "max_width": 2048, "max_height": 2048}),
        secs(5),
    )
    .await;
    assert!(error.contains("numOctaves"), "{error}");
    // feMorphology visits its whole window per pixel: 10^12 operations, hours of CPU before.
    let morphology = crafted::svg(
        1000,
        1000,
        r#"<filter id="f"><feMorphology radius="500"/></filter><rect width="1000" height="1000" filter="url(#f)"/>"#,
    );
    let error = refused_with(
        &server,
        json!({"data": b64(morphology.as_bytes()), "filename": "m.svg", "rasterize": true}),
        secs(5),
    )
    .await;
    assert!(error.contains("pixel operations"), "{error}");
    // An 8192² SVG without costly filters renders within the default box, at 1080×1080.
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(crafted::svg(8192, 8192, r#"<rect width="100%" height="100%" fill="teal"/>"#).as_bytes()),
               "filename": "big.svg", "rasterize": true}),
    )
    .await;
    assert_eq!(
        (outcome["width"].clone(), outcome["height"].clone()),
        (json!(1080), json!(1080))
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn svg_variant_widths_at_or_above_the_output_are_not_rendered() {
    let server = TestServer::start().await;
    // widths [8192, 8191, …] on a 100×100 SVG rendered eight huge images, then dropped them
    // (47 s, 1.1 GB before).
    let svg = crafted::svg(100, 100, r#"<rect width="100" height="100" fill="teal"/>"#);
    let widths: Vec<u32> = (8185..=8192).rev().collect();
    let started = std::time::Instant::now();
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(svg.as_bytes()), "filename": "w.svg", "rasterize": true,
               "widths": widths}),
    )
    .await;
    assert!(started.elapsed() < secs(5), "{:?}", started.elapsed());
    assert_eq!(outcome["width"], 100);
    assert_eq!(outcome["variants"], json!([]));
    // Narrower widths still are.
    let (outcome, _) = stored_bytes(
        &server,
        json!({"data": b64(svg.as_bytes()), "filename": "w.svg", "rasterize": true,
               "widths": [50, 8192]}),
    )
    .await;
    let widths: Vec<&Value> = outcome["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["width"])
        .collect();
    assert_eq!(widths, [&json!(50)]);
}

#[tokio::test]
async fn css_escapes_and_fetching_functions_do_not_survive_in_a_stored_svg() {
    let server = TestServer::start().await;
    let svg = crafted::svg(
        10,
        10,
        r#"<style>@\69mport "https://evil.example/a.css"; rect { fill: u\72l(https://evil.example/u) }</style><style>rect { background: image-set("https://evil.example/i.png" 1x) }</style><style>circle { fill: teal }</style><rect width="10" height="10" style="fill: u\72l(https://evil.example/s)"/><circle r="3"/>"#,
    );
    let (_, stored) = stored_bytes(
        &server,
        json!({"data": b64(svg.as_bytes()), "filename": "css.svg"}),
    )
    .await;
    let stored = String::from_utf8(stored).unwrap();
    assert!(!stored.contains("evil"), "{stored}");
    assert!(stored.contains("circle { fill: teal }"), "{stored}");
}

#[tokio::test]
async fn an_svg_whose_references_multiply_is_refused_before_usvg_follows_them() {
    let server = TestServer::start().await;
    // 18 KB: 28 s of CPU before (one more level: about an hour), stored or rendered alike.
    let bomb = crafted::svg_pattern_expansion(4);
    assert!(bomb.len() < 20_000);
    for rasterize in [false, true] {
        let error = refused_with(
            &server,
            json!({"data": b64(bomb.as_bytes()), "filename": "p.svg", "rasterize": rasterize}),
            secs(5),
        )
        .await;
        assert!(error.contains("references are followed"), "{error}");
    }
    // Two levels are an ordinary document.
    stored_bytes(
        &server,
        json!({"data": b64(crafted::svg_pattern_expansion(2).as_bytes()), "filename": "ok.svg",
               "rasterize": true}),
    )
    .await;
    assert_still_serving(&server).await;
}
