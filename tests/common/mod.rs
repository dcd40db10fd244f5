//! Shared helpers: a real server (app + embedded S3 store) on loopback, and a JSON-RPC client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use s3_upload_mcp::app::Services;
use s3_upload_mcp::config::{Config, RunMode, StoreKind};
use s3_upload_mcp::local::EmbeddedStore;
use s3_upload_mcp::runtime::{self, Exposure, Launch, Store};
use s3_upload_mcp::telemetry::AuditSink;
use s3_upload_mcp::upload::Uploader;
use serde_json::{Value, json};

pub mod crafted;
pub mod fault;
pub mod oidc;
pub mod process;

pub const ACCEPT: &str = "application/json, text/event-stream";

/// The corpus shared by the project (`../shared/corpus`), read in place.
pub fn corpus(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative)
}

pub fn corpus_base64(relative: &str) -> String {
    let bytes = std::fs::read(corpus(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The app and an embedded S3 store on loopback ports, with data in a temporary directory.
pub struct TestServer {
    pub base: String,
    /// The same app value the socket serves, for driving with `oneshot` (Lambda events).
    pub app: axum::Router,
    pub http: reqwest::Client,
    pub uploader: Arc<Uploader>,
    /// The configuration the server was built from.
    pub config: Config,
    data_dir: tempfile::TempDir,
    _backend_store: Option<EmbeddedStore>,
    server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with these environment-style variables (nothing is read from the real environment).
    pub async fn start_with(vars: &[(&str, &str)]) -> Self {
        Self::start_as(RunMode::Serve, vars).await
    }

    /// Starts configured as under `mode` (Lambda: any Host, JSON logs), still on the embedded store.
    pub async fn start_as(mode: RunMode, vars: &[(&str, &str)]) -> Self {
        let config = config(mode, vars);
        let data_dir = tempfile::tempdir().expect("temp dir");
        let runtime = runtime::build(
            config.clone(),
            launch(Store::Embedded {
                data_dir: data_dir.path().to_owned(),
                listen: "127.0.0.1:0".parse().unwrap(),
            }),
        )
        .await
        .expect("the runtime builds");
        Self::serve(config, runtime.services, runtime.embedded, data_dir).await
    }

    /// Serves the app on a loopback port for already built services. The app is the one the
    /// Lambda runtime serves (which reads Lambda request contexts), so tests can also drive it
    /// with Lambda events through `oneshot`.
    pub async fn serve(
        config: Config,
        services: Services,
        store: Option<EmbeddedStore>,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let uploader = services.uploader.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = s3_upload_mcp::lambda::app(services);
        // The listener `serve` uses, with its connection limits.
        let server = tokio::spawn(s3_upload_mcp::serve::serve_app(
            listener,
            app.clone(),
            config.http.connections,
            std::future::pending(),
        ));
        TestServer {
            base: format!("http://{addr}"),
            app,
            http: reqwest::Client::new(),
            uploader,
            config,
            data_dir,
            _backend_store: store,
            server,
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// A POST to the MCP endpoint with the headers every MCP client sends; add more and a body.
    pub fn mcp_post(&self) -> reqwest::RequestBuilder {
        self.http
            .post(self.mcp_url())
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
    }

    /// POSTs one JSON-RPC message as a 2025-x client would (no session).
    pub async fn post(&self, message: &Value) -> reqwest::Response {
        self.mcp_post()
            .body(message.to_string())
            .send()
            .await
            .expect("request reaches the server")
    }

    /// POSTs and returns the JSON body, asserting HTTP 200.
    pub async fn rpc(&self, message: &Value) -> Value {
        json_reply(self.post(message).await).await
    }

    /// Calls a tool as the holder of `api_key` and returns the JSON-RPC `result`.
    pub async fn call_tool_as(&self, api_key: &str, name: &str, arguments: Value) -> Value {
        let response = self
            .mcp_post()
            .header("x-api-key", api_key)
            .body(tool_call(name, arguments).to_string())
            .send()
            .await
            .expect("request reaches the server");
        result_of(json_reply(response).await)
    }

    /// Calls a tool and returns the JSON-RPC `result` (which may carry `isError`).
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Value {
        result_of(self.rpc(&tool_call(name, arguments)).await)
    }

    /// Every object file the embedded store holds in `bucket`.
    pub fn stored_objects(&self, bucket: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir.path().join("s3").join(bucket), &mut out);
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A configuration from these environment-style variables (nothing is read from the real
/// environment).
pub fn config(mode: RunMode, vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(mode, StoreKind::Embedded, |k| vars.get(k).cloned())
        .expect("test configuration is valid")
}

/// How the test servers are launched: HTTP on loopback, audit lines on stderr.
pub fn launch(store: Store) -> Launch {
    Launch {
        exposure: Exposure::Http("127.0.0.1:0".parse().unwrap()),
        store,
        allowed_dirs: Vec::new(),
        audit: AuditSink::Stderr,
    }
}

/// A `tools/call` request.
pub fn tool_call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

/// The `result` of a JSON-RPC reply.
fn result_of(reply: Value) -> Value {
    reply
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("no result: {reply}"))
}

/// The JSON body of an HTTP 200 answer.
async fn json_reply(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A principals file for `keys` (`{"id", "key", ...policy}`; each key is stored as its SHA-256).
pub fn api_keys_file(keys: &[Value]) -> tempfile::NamedTempFile {
    use sha2::Digest as _;
    let entries: Vec<Value> = keys
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let key = entry
                .as_object_mut()
                .and_then(|e| e.remove("key"))
                .expect("each entry has a key");
            let digest = sha2::Sha256::digest(key.as_str().expect("a string key").as_bytes());
            entry["sha256"] = json!(hex::encode(digest));
            entry
        })
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), json!({ "keys": entries }).to_string()).unwrap();
    file
}

/// A server with `AUTH_MODE=api_key` and the principals `keys` (see [`api_keys_file`]). The
/// keys file lives as long as the returned handle.
pub async fn start_with_keys(
    keys: &[Value],
    vars: &[(&str, &str)],
) -> (TestServer, tempfile::NamedTempFile) {
    let file = api_keys_file(keys);
    let path = file.path().display().to_string();
    let mut all = vec![("AUTH_MODE", "api_key"), ("API_KEYS_FILE", path.as_str())];
    all.extend_from_slice(vars);
    (TestServer::start_with(&all).await, file)
}

pub fn initialize(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "s3-upload-mcp-tests", "version": "1.0"}
    }})
}

/// The text block of a tool result.
pub fn result_text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The JSON-RPC messages of an SSE response body (its `data:` lines).
pub fn sse_messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .map(|data| {
            serde_json::from_str(data).unwrap_or_else(|e| panic!("bad SSE data ({e}): {data}"))
        })
        .collect()
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    /// `None` when the server closed the connection without answering.
    pub status: Option<u16>,
    /// The header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Body bytes written before the server stopped reading.
    pub sent: usize,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `head` (request line and header lines, each ending in CRLF) and then `body` on a new
/// TCP connection to `endpoint` (`http://host:port`), so no client library normalizes the path
/// or the framing, and reads the answer.
pub async fn raw_http(
    endpoint: &str,
    head: &str,
    body: impl IntoIterator<Item = bytes::Bytes>,
) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut sent = 0;
    let mut written = stream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .await;
    for chunk in body {
        if written.is_err() {
            break;
        }
        written = stream.write_all(&chunk).await;
        if written.is_ok() {
            sent += chunk.len();
        }
    }
    let mut answer = Vec::new();
    // A server that refused early may reset the connection once it stops reading.
    let _ = stream.read_to_end(&mut answer).await;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(at) => (
            String::from_utf8_lossy(&answer[..at]).into_owned(),
            answer[at + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&answer).into_owned(), Vec::new()),
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok());
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body,
        sent,
    }
}
