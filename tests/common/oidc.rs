//! The real OpenID Provider (`tests/oidc/provider.mjs`, the certified `oidc-provider` package)
//! on a loopback port, for the OAuth tests: tokens from its token endpoint, and crafted tokens
//! signed with its real keys through its test-only admin port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// What the provider's ready line says.
#[derive(Debug, serde::Deserialize)]
pub struct OidcInfo {
    pub issuer: String,
    pub admin: String,
    pub token_endpoint: String,
}

/// The secret of every test client.
pub const CLIENT_SECRET: &str = "mcp-tests-secret";

/// A running provider; stopped when dropped, and on its own if this process dies first (its
/// stdin is our pipe: `--exit-with-stdin`).
pub struct Oidc {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub info: OidcInfo,
    http: reqwest::Client,
}

impl Oidc {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the provider with extra arguments (e.g. `--groups-claim cognito:groups`). Installs
    /// its npm packages first if they are missing (idempotent, serialized by the script).
    pub fn start_with(args: &[&str]) -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(repo.join("scripts/ensure-oidc-provider.sh"))
            .output()
            .expect("scripts/ensure-oidc-provider.sh runs (needs node >= 20 and npm)");
        assert!(
            out.status.success(),
            "installing the test OpenID Provider failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let provider = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let mut child = Command::new("node")
            .arg(&provider)
            .arg("--exit-with-stdin")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its warnings (Node version, in-memory adapter); Stdio::inherit() when debugging.
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // Blocks until the ready line; if node dies first this reads EOF: no hang.
        stdout
            .read_line(&mut line)
            .expect("read the provider's stdout");
        let info = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("the provider did not start ({e}): {line:?}")
        });
        Oidc {
            child,
            _stdout: stdout,
            info,
            http: reqwest::Client::new(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.info.issuer
    }

    /// An access token from the token endpoint (client credentials) for `resource`.
    pub async fn token(&self, client_id: &str, resource: &str, scope: &str) -> String {
        let response = self
            .http
            .post(&self.info.token_endpoint)
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "token request refused: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A token over arbitrary claims, signed with the issuer's real keys (`/test/sign`).
    pub async fn sign(&self, request: Value) -> String {
        let signed = self.admin("/test/sign", request).await;
        signed["token"]
            .as_str()
            .unwrap_or_else(|| panic!("sign failed: {signed}"))
            .to_owned()
    }

    /// How often discovery, JWKS and token endpoints were asked for.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/test/stats", self.info.admin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The number of JWKS fetches so far.
    pub async fn jwks_fetches(&self) -> u64 {
        self.stats().await["jwks"].as_u64().unwrap()
    }

    /// POSTs to the admin port (`/test/rotate`, `/test/outage`, ...).
    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.info.admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let reply: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {reply}");
        reply
    }

    /// The claims of a token from client `mcp-tests`, for `/test/sign`.
    pub fn claims(&self, audience: &str) -> Value {
        json!({"sub": "mcp-tests", "client_id": "mcp-tests", "aud": audience,
               "scope": "upload", "groups": ["designers"]})
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
