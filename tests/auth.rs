//! Who may call and what they may write: API keys (file and Secrets Manager), IAM identities,
//! per-principal policies, rotation without restart, and an audit line for every call.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ACCEPT, TestServer, corpus_base64, initialize, result_text};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DESIGNER_KEY: &str = "designer-key-4f1c9a7e2b";
const ROBOT_KEY: &str = "robot-key-88d0c3aa51";
const SITE_KEY: &str = "site-key-0b7e61d4f9";
const LOGO_KEY: &str = "logo-key-5d2a90c7e3";
/// What a client puts in `x-request-id` to pass for another call in the audit log.
const FORGED_REQUEST_ID: &str = "req-of-another-call";

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A principals document: the designer may write `figma/*` in `uploads` up to 200 kB; the
/// site owner `sites/a.example.com/*` (a folder with dots in its name); the logo keeper the one
/// key `logos/brand.webp`; the robot anything anywhere.
fn keys_document(keys: &[(&str, &str)]) -> String {
    let entries: Vec<Value> = keys
        .iter()
        .map(|(id, key)| match *id {
            "designer" => json!({"id": id, "sha256": digest(key), "buckets": ["uploads"], "prefixes": ["figma/*"], "max_bytes": 200_000}),
            "site" => json!({"id": id, "sha256": digest(key), "buckets": ["uploads"], "prefixes": ["sites/a.example.com/*"]}),
            "logo" => json!({"id": id, "sha256": digest(key), "buckets": ["uploads"], "prefixes": ["logos/brand.webp"]}),
            _ => json!({"id": id, "sha256": digest(key), "buckets": ["*"], "prefixes": ["*"]}),
        })
        .collect();
    json!({ "keys": entries }).to_string()
}

struct KeyedServer {
    server: TestServer,
    keys_file: tempfile::NamedTempFile,
}

async fn keyed_server(extra: &[(&str, &str)]) -> KeyedServer {
    let keys_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keys_file.path(),
        keys_document(&[
            ("designer", DESIGNER_KEY),
            ("robot", ROBOT_KEY),
            ("site", SITE_KEY),
            ("logo", LOGO_KEY),
        ]),
    )
    .unwrap();
    let path = keys_file.path().display().to_string();
    let mut vars = vec![
        ("AUTH_MODE", "api_key"),
        ("API_KEYS_FILE", path.as_str()),
        ("ALLOWED_BUCKETS", "uploads,archive"),
    ];
    vars.extend_from_slice(extra);
    KeyedServer {
        server: TestServer::start_with(&vars).await,
        keys_file,
    }
}

async fn call(
    server: &TestServer,
    auth: Option<(&str, &str)>,
    name: &str,
    arguments: Value,
) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.mcp_url())
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}).to_string());
    if let Some((header, value)) = auth {
        request = request.header(header, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn png() -> Value {
    json!(corpus_base64("images/with-alpha.png"))
}

#[tokio::test]
async fn missing_or_wrong_keys_get_401_and_nothing_is_written() {
    let KeyedServer { server, .. } = keyed_server(&[]).await;
    for auth in [
        None,
        Some(("authorization", "Bearer wrong-key")),
        Some(("x-api-key", "wrong-key")),
        Some(("authorization", "Basic Zm9vOmJhcg==")),
    ] {
        let response = server
            .http
            .post(server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header(auth.map_or("x-ignored", |a| a.0), auth.map_or("", |a| a.1))
            .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "upload_image_to_s3", "arguments": {"data": png(), "filename": "a.png"}}}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"s3-upload-mcp\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Unauthorized"),
            "{body}"
        );
        assert!(
            !body.to_string().contains("wrong-key"),
            "the presented key is never echoed"
        );
    }
    assert!(server.stored_objects("uploads").is_empty());
    // Health checks stay open.
    assert_eq!(
        reqwest::get(format!("{}/healthz", server.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn bearer_and_x_api_key_headers_both_authenticate() {
    let KeyedServer { server, .. } = keyed_server(&[]).await;
    let bearer = format!("Bearer {ROBOT_KEY}");
    let (status, reply) = call(
        &server,
        Some(("authorization", &bearer)),
        "upload_image_to_s3",
        json!({"data": png(), "filename": "a.png"}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    let (status, reply) = call(
        &server,
        Some(("x-api-key", ROBOT_KEY)),
        "list_s3_buckets",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["result"]["structuredContent"]["buckets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_principal_writes_only_inside_its_buckets_and_prefixes() {
    let KeyedServer { server, .. } = keyed_server(&[]).await;
    let auth = Some(("x-api-key", DESIGNER_KEY));

    // No prefix: the principal's own ("figma/*" → figma/).
    let (_, reply) = call(
        &server,
        auth,
        "upload_image_to_s3",
        json!({"data": png(), "filename": "a.png"}),
    )
    .await;
    let key = reply["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(key.starts_with("images/figma/a-"), "{key}");

    for (arguments, hint) in [
        (
            json!({"data": png(), "filename": "a.png", "prefix": "marketing"}),
            "figma/*",
        ),
        (
            json!({"data": png(), "filename": "a.png", "key": "home/hero.png"}),
            "figma/*",
        ),
        (
            json!({"data": png(), "filename": "a.png", "bucket": "archive"}),
            "use one of: uploads",
        ),
        (
            json!({"data": corpus_base64("images/2569067123_aca715a2ee_o.jpg"), "filename": "big.jpg"}),
            "200000",
        ),
    ] {
        let (status, reply) = call(&server, auth, "upload_image_to_s3", arguments.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            reply["result"]["isError"],
            json!(true),
            "{arguments}: {reply}"
        );
        let text = result_text(&reply["result"]);
        assert!(text.contains(hint), "{text:?} should name {hint:?}");
    }
    assert_eq!(server.stored_objects("uploads").len(), 1);
    assert!(server.stored_objects("archive").is_empty());

    // list_s3_buckets shows only what the principal may use.
    let (_, listed) = call(&server, auth, "list_s3_buckets", json!({})).await;
    let names: Vec<&str> = listed["result"]["structuredContent"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["uploads"]);

    // The staging URL's limit is the principal's.
    let (_, ticket) = call(
        &server,
        auth,
        "create_upload_url",
        json!({"filename": "a.png", "bytes": 1000}),
    )
    .await;
    assert_eq!(
        ticket["result"]["structuredContent"]["max_bytes"], 200_000,
        "{ticket}"
    );
}

/// Variant names come from the key's last segment, and every key written is checked against the
/// policy: a folder with a dot in its name cannot carry a variant out of the principal's prefix,
/// nor let `overwrite` replace someone else's object there.
#[tokio::test]
async fn variants_of_a_key_in_a_dotted_folder_stay_inside_the_principals_prefix() {
    let KeyedServer { server, .. } = keyed_server(&[]).await;
    // Another principal's object, exactly where the variant used to land.
    let (_, theirs) = call(
        &server,
        Some(("x-api-key", ROBOT_KEY)),
        "upload_image_to_s3",
        json!({"data": png(), "filename": "a.png", "key": "sites/a.example-64w.webp"}),
    )
    .await;
    let theirs = &theirs["result"]["structuredContent"];
    let their_url = theirs["url"].as_str().unwrap_or_else(|| panic!("{theirs}"));
    let their_bytes = reqwest::get(their_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let (_, reply) = call(
        &server,
        Some(("x-api-key", SITE_KEY)),
        "upload_image_to_s3",
        json!({"data": corpus_base64("images/Landscape_1.jpg"), "filename": "hero.jpg",
               "key": "sites/a.example.com/hero", "widths": [64], "overwrite": true}),
    )
    .await;
    let outcome = &reply["result"]["structuredContent"];
    assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    assert_eq!(outcome["key"], "images/sites/a.example.com/hero");
    let variants = outcome["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{outcome}");
    assert_eq!(
        variants[0]["key"],
        "images/sites/a.example.com/hero-64w.webp"
    );
    assert_eq!(variants[0]["width"], 64);

    let after = reqwest::get(their_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        after, their_bytes,
        "the other principal's object was replaced"
    );
    let data = server.stored_objects("uploads");
    let stored: Vec<String> = data
        .iter()
        .filter(|p| !p.to_string_lossy().contains(".s3s-fs"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored.len(), 3, "{stored:#?}");
    assert!(
        stored
            .iter()
            .any(|p| p.ends_with("images/sites/a.example.com/hero-64w.webp")),
        "{stored:#?}"
    );
}

/// The policy covers every key a call writes, variants included, and is checked before the
/// first write: a variant the policy does not allow refuses the upload with nothing stored.
#[tokio::test]
async fn a_variant_outside_the_policy_refuses_the_upload_before_anything_is_written() {
    let KeyedServer { server, .. } = keyed_server(&[]).await;
    let (_, reply) = call(
        &server,
        Some(("x-api-key", LOGO_KEY)),
        "upload_image_to_s3",
        json!({"data": png(), "filename": "brand.png", "key": "logos/brand.webp", "widths": [64]}),
    )
    .await;
    assert_eq!(reply["result"]["isError"], json!(true), "{reply}");
    let text = result_text(&reply["result"]);
    assert!(
        text.contains("logos/brand-64w.webp") && text.contains("logos/brand.webp"),
        "the refusal names the variant key and the allowed prefixes: {text}"
    );
    assert!(server.stored_objects("uploads").is_empty());

    // Without widths the same key is the logo keeper's to write.
    let (_, reply) = call(
        &server,
        Some(("x-api-key", LOGO_KEY)),
        "upload_image_to_s3",
        json!({"data": png(), "filename": "brand.png", "key": "logos/brand.webp"}),
    )
    .await;
    assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    assert_eq!(server.stored_objects("uploads").len(), 1);
}

#[tokio::test]
async fn a_rotated_key_file_takes_effect_without_restart() {
    let KeyedServer { server, keys_file } = keyed_server(&[("API_KEYS_TTL_SECONDS", "1")]).await;
    let old = Some(("x-api-key", ROBOT_KEY));
    assert_eq!(
        call(&server, old, "list_s3_buckets", json!({})).await.0,
        200
    );

    const NEW_KEY: &str = "robot-key-rotated-77aa";
    std::fs::write(keys_file.path(), keys_document(&[("robot", NEW_KEY)])).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        call(
            &server,
            Some(("x-api-key", NEW_KEY)),
            "list_s3_buckets",
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(&server, old, "list_s3_buckets", json!({})).await.0,
        401
    );

    // A broken document is not a lockout: the last good set stays in force.
    std::fs::write(keys_file.path(), "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        call(
            &server,
            Some(("x-api-key", NEW_KEY)),
            "list_s3_buckets",
            json!({})
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn an_invalid_principals_document_stops_the_server_at_start() {
    let keys_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keys_file.path(),
        r#"{"keys":[{"id":"x","sha256":"not-hex"}]}"#,
    )
    .unwrap();
    let config = s3_upload_mcp::config::Config::from_lookup(
        s3_upload_mcp::config::RunMode::Serve,
        s3_upload_mcp::config::StoreKind::Embedded,
        |k| match k {
            "AUTH_MODE" => Some("api_key".into()),
            "API_KEYS_FILE" => Some(keys_file.path().display().to_string()),
            _ => None,
        },
    )
    .unwrap();
    let err = s3_upload_mcp::auth::Authenticator::from_settings(&config.auth)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("64 hex"), "{err}");
}

#[tokio::test]
async fn iam_callers_are_matched_by_role_arn() {
    let keys_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keys_file.path(),
        json!({"keys": [{"id": "design-agent", "principal_arn": "arn:aws:iam::123456789012:role/DesignAgent", "prefixes": ["agents/*"]}]}).to_string(),
    )
    .unwrap();
    let path = keys_file.path().display().to_string();
    let server = TestServer::start_as(
        s3_upload_mcp::config::RunMode::Lambda,
        &[("AUTH_MODE", "iam"), ("API_KEYS_FILE", &path)],
    )
    .await;
    use tower::ServiceExt as _;
    let event = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("events/function-url-iam-tools-list.json"),
    )
    .unwrap();
    let response = server
        .app
        .clone()
        .oneshot(lambda_http::request::from_str(&event).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The same request without the IAM context (as if AuthType were NONE) is refused.
    let event = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("events/function-url-unauthenticated.json"),
    )
    .unwrap();
    let response = server
        .app
        .clone()
        .oneshot(lambda_http::request::from_str(&event).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// A child process that is killed when the test ends, also when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary, as deployed: one JSON audit line per call on stdout, with the principal and
/// EMF metrics, and never the key.
#[tokio::test]
async fn every_call_leaves_an_audit_line_with_the_principal_and_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, keys_document(&[("designer", DESIGNER_KEY)])).unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_s3-upload-mcp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AUTH_MODE", "api_key")
            .env("API_KEYS_FILE", &keys)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts"),
    );
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mcp_url = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints its banner");
        if let Some(url) = line.trim().strip_prefix("MCP endpoint:") {
            break url.trim().to_owned();
        }
    };
    let http = reqwest::Client::new();
    let post = |body: Value, key: &str| {
        http.post(&mcp_url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("authorization", format!("Bearer {key}"))
            .header("user-agent", "audit-test/1.0")
            // A client's id is recorded beside the server's, never instead of it.
            .header("x-request-id", FORGED_REQUEST_ID)
            .body(body.to_string())
            .send()
    };
    assert_eq!(
        post(initialize("2025-06-18"), DESIGNER_KEY)
            .await
            .unwrap()
            .status(),
        200
    );
    let upload = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "upload_image_to_s3", "arguments": {"data": png(), "filename": "a.png"}}}),
        DESIGNER_KEY,
    )
    .await
    .unwrap();
    let answered_id = upload.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let reply: Value = upload.json().await.unwrap();
    let key = reply["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned();
    let refused = post(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "upload_image_to_s3", "arguments": {"data": png(), "filename": "a.png", "prefix": "elsewhere"}}}),
        DESIGNER_KEY,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 200);

    let mut audit = Vec::new();
    while audit.len() < 2 {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("audit lines arrive");
        match serde_json::from_str::<Value>(&line) {
            Ok(event) if event["type"] == "audit" => audit.push(event),
            _ => {} // the banner
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
        text
    };

    let ok = &audit[0];
    assert_eq!(ok["type"], "audit");
    assert_eq!(ok["principal"], "designer");
    assert_eq!(ok["tool"], "upload_image_to_s3");
    assert_eq!(ok["bucket"], "uploads");
    assert_eq!(ok["keys"], json!([key]));
    assert_eq!(ok["result"], "ok");
    assert_eq!(ok["source_ip"], "127.0.0.1");
    assert_eq!(ok["user_agent"], "audit-test/1.0");
    assert!(ok["bytes_in"].as_u64().unwrap() > 0 && ok["latency_ms"].is_u64());
    assert_eq!(
        ok["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "S3UploadMcp"
    );
    assert_eq!(ok["Uploads"], 1);
    assert_eq!(ok["UploadFailures"], 0);

    let refused = &audit[1];
    assert_eq!(refused["result"], "key_not_permitted");
    assert_eq!(refused["UploadFailures"], 1);

    // Request ids are the server's: unique, unguessable, and the one the response carried.
    assert_eq!(ok["request_id"], answered_id.as_str());
    for event in &audit {
        let id = event["request_id"].as_str().unwrap();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(event["client_request_id"], FORGED_REQUEST_ID);
    }
    assert_ne!(audit[0]["request_id"], audit[1]["request_id"]);

    for text in audit.iter().map(Value::to_string).chain([stderr]) {
        assert!(
            !text.contains(DESIGNER_KEY),
            "the key leaked into the logs: {text}"
        );
        assert!(
            !text.contains(&digest(DESIGNER_KEY)),
            "the key's digest leaked into the logs"
        );
        assert!(
            !text.to_ascii_lowercase().contains("bearer "),
            "an Authorization header leaked"
        );
    }
}
