//! The server as an OAuth 2.1 resource server, against a real OpenID Provider on loopback
//! (`oidc-provider`, started per test): which tokens are accepted, how each refusal is
//! answered, how keys are fetched and bounded, what the metadata says, and who may write where.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::oidc::Oidc;
use common::process::ServeProcess;
use common::{ACCEPT, TestServer, corpus_base64, initialize, tool_call};
use s3_upload_mcp::config::RunMode;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ROBOT_KEY: &str = "robot-key-88d0c3aa51";

/// Principals: the designers group writes `figma/*` of `uploads`; the client `mcp-tests-nogroups`
/// (its `sub`) writes `ci/*`; an API key writes anything.
fn principals_file() -> tempfile::NamedTempFile {
    use sha2::Digest as _;
    let document = json!({"keys": [
        {"id": "design-team", "oauth_group": "designers", "buckets": ["uploads"], "prefixes": ["figma/*"]},
        {"id": "ci-robot", "oauth_subject": "mcp-tests-nogroups", "prefixes": ["ci/*"]},
        {"id": "robot", "sha256": hex::encode(sha2::Sha256::digest(ROBOT_KEY))},
    ]});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document.to_string()).unwrap();
    file
}

struct OAuthServer {
    server: TestServer,
    _principals: tempfile::NamedTempFile,
}

impl std::ops::Deref for OAuthServer {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// `AUTH_MODE=api_key,oauth` trusting `oidc`, `upload` scope required, keys fetched again at
/// most once a second (so the tests need not wait 30 s), plus `extra`.
async fn oauth_server(oidc: &Oidc, extra: &[(&str, &str)]) -> OAuthServer {
    oauth_server_as(RunMode::Serve, oidc, extra).await
}

async fn oauth_server_as(mode: RunMode, oidc: &Oidc, extra: &[(&str, &str)]) -> OAuthServer {
    let file = principals_file();
    let path = file.path().display().to_string();
    let mut vars = vec![
        ("AUTH_MODE", "api_key,oauth"),
        ("API_KEYS_FILE", path.as_str()),
        ("OAUTH_ISSUER", oidc.issuer()),
        ("OAUTH_REQUIRED_SCOPES", "upload"),
        ("OAUTH_JWKS_MIN_REFRESH_SECONDS", "1"),
        ("ALLOWED_BUCKETS", "uploads,archive"),
    ];
    vars.extend_from_slice(extra);
    OAuthServer {
        server: TestServer::start_as(mode, &vars).await,
        _principals: file,
    }
}

/// One answer: status, `WWW-Authenticate` (if any), body.
struct Answer {
    status: u16,
    challenge: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(server: &TestServer, bearer: Option<&str>, message: &Value) -> Answer {
    let mut request = server.mcp_post().body(message.to_string());
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer {
        status,
        challenge,
        headers,
        body,
    }
}

fn list_tools() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

fn upload(extra: Value) -> Value {
    let mut arguments =
        json!({"data": corpus_base64("images/with-alpha.png"), "filename": "hero.png"});
    arguments
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    tool_call("upload_image_to_s3", arguments)
}

fn metadata_url(server: &TestServer) -> String {
    format!("{}/.well-known/oauth-protected-resource/mcp", server.base)
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_the_issuer_list_tools_and_upload_within_their_group_policy() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    for client in ["mcp-tests", "mcp-tests-es256"] {
        let token = oidc.token(client, &server.mcp_url(), "upload").await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        let answer = post(&server, Some(&token), &initialize("2025-06-18")).await;
        assert_eq!(answer.status, 200, "{client}: {}", answer.body);
        let listed = post(&server, Some(&token), &list_tools()).await;
        let names: Vec<&str> = listed.body["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", listed.body))
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"upload_image_to_s3"), "{names:?}");
        let uploaded = post(&server, Some(&token), &upload(json!({}))).await;
        let key = uploaded.body["result"]["structuredContent"]["key"]
            .as_str()
            .unwrap_or_else(|| panic!("{client} ({:?}): {}", header.alg, uploaded.body));
        // The designers' policy: their folder, no prefix given.
        assert!(key.starts_with("images/figma/hero-"), "{key}");
    }
    assert_eq!(
        server.stored_objects("uploads").len(),
        1,
        "same image, deduplicated"
    );
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_pointing_at_the_resource_metadata() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let answer = post(&server, None, &list_tools()).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            format!(
                "Bearer resource_metadata=\"{}\", scope=\"upload\"",
                metadata_url(&server)
            )
            .as_str()
        ),
        "no error= when no credentials were sent (RFC 6750 §3.1)"
    );
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("OAuth access token or an API key"),
        "{message}"
    );
    // At the root endpoint the metadata is the root document.
    let response = server
        .http
        .post(format!("{}/", server.base))
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(list_tools().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                server.base
            ))
    );
}

#[tokio::test]
async fn refused_tokens_get_401_invalid_token_and_are_never_echoed() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let audience = server.mcp_url();
    let base = oidc.claims(&audience);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let with = |extra: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    // Keys are cached first, so each refusal below is about the token, not the fetch.
    let good = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(post(&server, Some(&good), &list_tools()).await.status, 200);
    let active_rsa = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();

    let cases = [
        (
            "expired",
            json!({"claims": with(json!({"iat": now - 600, "exp": now - 300}))}),
            "expired",
        ),
        (
            "not yet valid",
            json!({"claims": with(json!({"nbf": now + 600}))}),
            "not valid yet",
        ),
        (
            "wrong audience",
            json!({"claims": with(json!({"aud": "https://other.example/mcp"}))}),
            "another audience",
        ),
        (
            "no exp",
            json!({"claims": with(json!({"exp": null}))}),
            "exp claim",
        ),
        (
            "tampered payload",
            json!({"claims": base, "tamper": {"groups": ["admins"], "sub": "root"}}),
            "signature is invalid",
        ),
        (
            "alg none",
            json!({"alg": "none", "claims": base}),
            "accepted algorithm",
        ),
        (
            "HS256 keyed with the issuer's public key",
            json!({"alg": "HS256", "claims": base}),
            "",
        ),
        (
            "unknown kid",
            json!({"claims": base, "kid": "nobody-has-this", "key_kid": active_rsa}),
            "does not publish",
        ),
        (
            "no kid",
            json!({"claims": base, "header": {"kid": null}, "key_kid": active_rsa}),
            "no kid",
        ),
        (
            "no aud, client not accepted",
            json!({"claims": with(json!({"aud": null}))}),
            "no aud",
        ),
    ];
    for (case, request, reason) in cases {
        let token = oidc.sign(request).await;
        let answer = post(&server, Some(&token), &upload(json!({}))).await;
        assert_eq!(answer.status, 401, "{case}: {}", answer.body);
        let challenge = answer.challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\"")
                && challenge.contains(&format!("resource_metadata=\"{}\"", metadata_url(&server)))
                && challenge.ends_with("scope=\"upload\""),
            "{case}: {challenge}"
        );
        assert!(challenge.contains(reason), "{case}: {challenge}");
        let everything = format!("{challenge} {}", answer.body);
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!everything.contains(part), "{case}: the token was echoed");
        }
    }
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn tokens_from_an_issuer_not_trusted_are_refused_without_contacting_it() {
    let trusted = Oidc::start();
    let other = Oidc::start();
    let server = oauth_server(&trusted, &[]).await;
    // A perfectly valid token, from the other (real) issuer, for this server.
    let token = other.token("mcp-tests", &server.mcp_url(), "upload").await;
    let answer = post(&server, Some(&token), &list_tools()).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .challenge
            .unwrap()
            .contains("error_description=\"the token's issuer is not one this server trusts\"")
    );
    let stats = other.stats().await;
    assert_eq!(stats["discovery"], 0, "{stats}");
    assert_eq!(stats["jwks"], 0, "{stats}");
    // Nor is the trusted issuer asked anything on its behalf.
    assert_eq!(trusted.stats().await["jwks"], 0);
}

#[tokio::test]
async fn unknown_kids_cannot_make_the_server_hammer_the_issuer() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[("OAUTH_JWKS_MIN_REFRESH_SECONDS", "4")]).await;
    let audience = server.mcp_url();
    let good = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(post(&server, Some(&good), &list_tools()).await.status, 200);
    assert_eq!(oidc.jwks_fetches().await, 1);
    let active = kid_of(&good);
    tokio::time::sleep(Duration::from_millis(4100)).await;

    // 40 requests at once, each with another kid the issuer never published.
    let mut tokens = Vec::new();
    for n in 0..40 {
        tokens.push(
            oidc.sign(json!({"claims": oidc.claims(&audience), "kid": format!("forged-{n}"), "key_kid": active}))
                .await,
        );
    }
    let started = Instant::now();
    let message = list_tools();
    let answers =
        futures::future::join_all(tokens.iter().map(|t| post(&server, Some(t), &message))).await;
    assert!(answers.iter().all(|a| a.status == 401));
    assert_eq!(
        oidc.jwks_fetches().await,
        2,
        "40 unknown kids after the bound: one fetch, shared"
    );
    // Within the bound: refused from the cache, the issuer is not asked.
    for token in &tokens[..10] {
        assert_eq!(post(&server, Some(token), &list_tools()).await.status, 401);
    }
    assert_eq!(oidc.jwks_fetches().await, 2);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "still inside the bound"
    );
    // Known keys keep working meanwhile.
    assert_eq!(post(&server, Some(&good), &list_tools()).await.status, 200);
    // Once the bound has passed, one more unknown kid may look again, once.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(
        post(&server, Some(&tokens[0]), &list_tools()).await.status,
        401
    );
    assert_eq!(oidc.jwks_fetches().await, 3);
    assert_eq!(oidc.stats().await["discovery"], 1, "discovered once");
}

#[tokio::test]
async fn a_token_without_the_required_scope_gets_403_insufficient_scope() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let token = oidc.token("mcp-tests", &server.mcp_url(), "read").await;
    let answer = post(&server, Some(&token), &list_tools()).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the token lacks the required scope\", \
                 resource_metadata=\"{}\", scope=\"upload\"",
                metadata_url(&server)
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_valid_token_whose_group_matches_no_policy_gets_403_saying_who_to_ask() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let token = oidc
        .token("mcp-tests-marketing", &server.mcp_url(), "upload")
        .await;
    let answer = post(&server, Some(&token), &upload(json!({}))).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(
        answer.challenge, None,
        "no challenge: a new token would not help"
    );
    let message = answer.body["error"]["message"].as_str().unwrap();
    for expected in [
        "\"mcp-tests-marketing\"",
        "groups: marketing",
        "ask the server's operator",
        "oauth_group",
        "OAUTH_DEFAULT_PREFIX",
    ] {
        assert!(message.contains(expected), "{message}");
    }
    assert!(server.stored_objects("uploads").is_empty());
}

#[tokio::test]
async fn a_group_policy_cannot_write_outside_its_prefix_or_bucket() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let token = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    for (extra, hint) in [
        (json!({"prefix": "marketing"}), "figma/*"),
        (json!({"key": "home/hero.png"}), "figma/*"),
        (json!({"bucket": "archive"}), "uploads"),
    ] {
        let answer = post(&server, Some(&token), &upload(extra.clone())).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["result"]["isError"], true, "{extra}");
        let text = answer.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap();
        assert!(text.contains(hint), "{extra}: {text}");
    }
    assert!(server.stored_objects("uploads").is_empty());
    assert!(server.stored_objects("archive").is_empty());
}

#[tokio::test]
async fn a_subject_entry_and_the_default_prefix_give_people_their_own_folders() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[("OAUTH_DEFAULT_PREFIX", "users/{sub}/*")]).await;
    let audience = server.mcp_url();
    // `mcp-tests-nogroups` is named by an oauth_subject entry: its policy, not the default.
    let ci = oidc.token("mcp-tests-nogroups", &audience, "upload").await;
    let answer = post(&server, Some(&ci), &upload(json!({}))).await;
    let key = answer.body["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert!(key.starts_with("images/ci/"), "{key}");

    // The marketing client matches no entry: the default, one folder per subject.
    let person = oidc.token("mcp-tests-marketing", &audience, "upload").await;
    let answer = post(&server, Some(&person), &upload(json!({}))).await;
    let key = answer.body["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert!(
        key.starts_with("images/users/mcp-tests-marketing/hero-"),
        "{key}"
    );
    let elsewhere = post(
        &server,
        Some(&person),
        &upload(json!({"prefix": "users/someone-else"})),
    )
    .await;
    assert_eq!(elsewhere.body["result"]["isError"], true);

    // A subject with path syntax gets a hashed folder, never someone else's or a parent.
    let sneaky = oidc
        .sign(json!({"claims": {"sub": "../ci", "aud": audience, "scope": "upload", "client_id": "x"}}))
        .await;
    let answer = post(&server, Some(&sneaky), &upload(json!({}))).await;
    let key = answer.body["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert!(key.starts_with("images/users/sha256-"), "{key}");
}

#[tokio::test]
async fn keys_rotated_at_the_issuer_are_used_without_a_restart() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let audience = server.mcp_url();
    let before = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(
        post(&server, Some(&before), &list_tools()).await.status,
        200
    );

    let rotated = oidc.admin("/test/rotate", json!({"alg": "RS256"})).await;
    // The bound on unknown-kid fetches (1 s here, 30 s by default) passes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(
        kid_of(&after),
        rotated["kid"].as_str().unwrap(),
        "signed with the new key"
    );
    let answer = post(&server, Some(&after), &upload(json!({}))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["result"]["structuredContent"]["key"].is_string());
    // The old key is still published: tokens signed with it still work.
    assert_eq!(
        post(&server, Some(&before), &list_tools()).await.status,
        200
    );
    assert_eq!(oidc.jwks_fetches().await, 2);
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_key_the_issuer_stops_publishing_is_refused_once_the_cache_expires() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[("OAUTH_JWKS_TTL_SECONDS", "1")]).await;
    let audience = server.mcp_url();
    let old = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(post(&server, Some(&old), &list_tools()).await.status, 200);
    oidc.admin("/test/rotate", json!({"alg": "RS256"})).await;
    oidc.admin("/test/retire", json!({"kid": kid_of(&old)}))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = post(&server, Some(&old), &list_tools()).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.challenge.unwrap().contains("does not publish"));
    let new = oidc.token("mcp-tests", &audience, "upload").await;
    assert_eq!(post(&server, Some(&new), &list_tools()).await.status, 200);
}

#[tokio::test]
async fn cached_keys_outlive_an_issuer_outage_and_no_keys_at_all_is_503_not_401() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[("OAUTH_JWKS_TTL_SECONDS", "1")]).await;
    let token = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    assert_eq!(post(&server, Some(&token), &list_tools()).await.status, 200);

    oidc.admin("/test/outage", json!({"status": 503})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Stale, the refresh fails: the cached key keeps serving.
    let fetches = oidc.jwks_fetches().await;
    assert_eq!(post(&server, Some(&token), &list_tools()).await.status, 200);
    assert_eq!(oidc.jwks_fetches().await, fetches + 1, "it did try");

    // A server that never had the keys cannot check the token: 503, retry later.
    let fresh = oauth_server(&oidc, &[]).await;
    let token = oidc.token("mcp-tests", &fresh.mcp_url(), "upload").await;
    let answer = post(&fresh, Some(&token), &list_tools()).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(answer.challenge, None);

    oidc.admin("/test/outage", json!({"status": null})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post(&fresh, Some(&token), &list_tools()).await.status, 200);
}

#[tokio::test]
async fn the_protected_resource_metadata_names_the_resource_its_issuer_and_scopes() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let get = |path: &str| {
        let url = format!("{}{path}", server.base);
        let http = server.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let response = get("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let document: Value = response.json().await.unwrap();
    assert_eq!(
        document,
        json!({
            "resource": server.mcp_url(),
            "authorization_servers": [oidc.issuer()],
            "scopes_supported": ["upload"],
            "bearer_methods_supported": ["header"],
            "resource_name": "s3-upload-mcp",
        })
    );
    let root: Value = get("/.well-known/oauth-protected-resource")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(root["resource"], server.base);
    assert_eq!(
        get("/.well-known/oauth-protected-resource/other")
            .await
            .status(),
        404
    );

    // A token issued for exactly the resource the document names is accepted.
    let token = oidc
        .token(
            "mcp-tests",
            document["resource"].as_str().unwrap(),
            "upload",
        )
        .await;
    assert_eq!(post(&server, Some(&token), &list_tools()).await.status, 200);

    // A Host the server does not answer to gets no document.
    let response = server
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base
        ))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn with_the_metadata_proxy_clients_find_the_issuers_endpoints_at_this_server() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[("OAUTH_METADATA_PROXY", "true")]).await;
    let get = |path: &str| {
        let url = format!("{}{path}", server.base);
        let http = server.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let document: Value = get("/.well-known/oauth-protected-resource/mcp")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(document["authorization_servers"], json!([server.base]));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], server.base, "{path}");
        // The endpoints stay the issuer's: tokens come from it and carry its `iss`.
        assert_eq!(metadata["token_endpoint"], oidc.info.token_endpoint);
        assert!(
            metadata["code_challenge_methods_supported"]
                .as_array()
                .is_some_and(|m| m.contains(&json!("S256")))
        );
    }
    let token = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    assert_eq!(post(&server, Some(&token), &list_tools()).await.status, 200);

    // An issuer that cannot be reached: a gateway error, not a made-up document.
    oidc.admin("/test/outage", json!({"status": 503})).await;
    let cold = oauth_server(&oidc, &[("OAUTH_METADATA_PROXY", "true")]).await;
    let response = cold
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            cold.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn a_configured_resource_url_is_the_audience_and_the_metadata_everywhere() {
    let oidc = Oidc::start();
    let public = "https://mcp.example.com/mcp";
    let server = oauth_server(&oidc, &[("MCP_RESOURCE_URL", public)]).await;
    for path in ["", "/mcp"] {
        let document: Value = server
            .http
            .get(format!(
                "{}/.well-known/oauth-protected-resource{path}",
                server.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(document["resource"], public);
    }
    let answer = post(&server, None, &list_tools()).await;
    assert!(answer.challenge.unwrap().contains(
        "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
    ));
    let for_public = oidc.token("mcp-tests", public, "upload").await;
    assert_eq!(
        post(&server, Some(&for_public), &list_tools()).await.status,
        200
    );
    let for_local = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    assert_eq!(
        post(&server, Some(&for_local), &list_tools()).await.status,
        401
    );
}

#[tokio::test]
async fn without_oauth_there_is_no_metadata_and_api_key_challenges_are_unchanged() {
    let file = principals_file();
    let path = file.path().display().to_string();
    let server =
        TestServer::start_with(&[("AUTH_MODE", "api_key"), ("API_KEYS_FILE", &path)]).await;
    let response = server
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base
        ))
        .send()
        .await
        .unwrap();
    // Not served: like any path but /healthz, it is behind authentication.
    assert_eq!(response.status(), 401);
    let answer = post(&server, None, &list_tools()).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer realm=\"s3-upload-mcp\"")
    );
}

#[tokio::test]
async fn api_keys_and_access_tokens_both_work_when_auth_mode_lists_both() {
    let oidc = Oidc::start();
    let server = oauth_server(&oidc, &[]).await;
    let token = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    assert_eq!(post(&server, Some(&token), &list_tools()).await.status, 200);
    assert_eq!(
        post(&server, Some(ROBOT_KEY), &list_tools()).await.status,
        200
    );
    let listed = server
        .call_tool_as(ROBOT_KEY, "list_s3_buckets", json!({}))
        .await;
    assert_eq!(
        listed["structuredContent"]["buckets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let wrong = post(&server, Some("wrong-key"), &list_tools()).await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .challenge
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\", error_description=\"invalid API key\"")
    );
}

#[tokio::test]
async fn cognito_shaped_tokens_are_accepted_by_client_id_and_id_tokens_are_not() {
    let oidc = Oidc::start_with(&["--groups-claim", "cognito:groups"]);
    let server = oauth_server(
        &oidc,
        &[
            ("OAUTH_CLIENT_IDS", "cognito-app"),
            ("OAUTH_GROUPS_CLAIM", "cognito:groups"),
        ],
    )
    .await;
    let cognito = |extra: Value| {
        let mut claims = json!({"sub": "5f0c-user", "client_id": "cognito-app", "token_use": "access",
                                "scope": "upload openid", "cognito:groups": ["designers"], "username": "ann"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "claims": claims })
    };
    let access = oidc.sign(cognito(json!({}))).await;
    let answer = post(&server, Some(&access), &upload(json!({}))).await;
    let key = answer.body["result"]["structuredContent"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert!(key.starts_with("images/figma/"), "{key}");

    for (case, extra, reason) in [
        (
            "ID token",
            json!({"token_use": "id"}),
            "an ID token, not an access token",
        ),
        (
            "ID token with aud",
            json!({"token_use": "id", "aud": "cognito-app"}),
            "another audience",
        ),
        (
            "another app client",
            json!({"client_id": "other-app"}),
            "no aud",
        ),
    ] {
        let token = oidc.sign(cognito(extra)).await;
        let answer = post(&server, Some(&token), &list_tools()).await;
        assert_eq!(answer.status, 401, "{case}");
        assert!(answer.challenge.unwrap().contains(reason), "{case}");
    }
}

#[tokio::test]
async fn on_lambda_the_resource_is_the_function_url_the_request_came_to() {
    let oidc = Oidc::start();
    let server = oauth_server_as(RunMode::Lambda, &oidc, &[]).await;
    let event = |token: Option<&str>| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("events/function-url-tools-list.json"),
        )
        .unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        let headers = event["headers"].as_object_mut().unwrap();
        headers.remove("x-api-key");
        if let Some(token) = token {
            headers.insert("authorization".into(), json!(format!("Bearer {token}")));
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let response = server.app.clone().oneshot(event(None)).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer resource_metadata=\"https://{host}/.well-known/oauth-protected-resource\", scope=\"upload\""
        )
        .as_str()
    );
    // A client connected to the Function URL root asks for that resource (some add a slash).
    let token = oidc
        .token("mcp-tests", &format!("https://{host}/"), "upload")
        .await;
    let response = server
        .app
        .clone()
        .oneshot(event(Some(&token)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Tokens issued for the local test URL are for another resource here.
    let local = oidc.token("mcp-tests", &server.mcp_url(), "upload").await;
    let response = server
        .app
        .clone()
        .oneshot(event(Some(&local)))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// The real binary: the audit line names the principal and the token's subject, and neither it
/// nor the logs hold the token.
#[tokio::test]
async fn the_audit_line_records_principal_and_subject_and_never_the_token() {
    let oidc = Oidc::start();
    let dir = tempfile::tempdir().unwrap();
    let file = principals_file();
    let path = file.path().display().to_string();
    let serve = ServeProcess::start(
        &dir.path().join("data"),
        &[
            ("AUTH_MODE", "oauth"),
            ("API_KEYS_FILE", &path),
            ("OAUTH_ISSUER", oidc.issuer()),
            ("RUST_LOG", "debug"),
        ],
    );
    let token = oidc.token("mcp-tests", &serve.mcp_url, "upload").await;
    let response = reqwest::Client::new()
        .post(&serve.mcp_url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("authorization", format!("Bearer {token}"))
        .body(upload(json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let audit = serve.audit_lines(1);
    assert_eq!(audit[0]["principal"], "design-team");
    assert_eq!(audit[0]["sub"], "mcp-tests");
    assert_eq!(audit[0]["result"], "ok");
    let logs = serve.stop();
    let signature = token.rsplit('.').next().unwrap();
    for text in [audit[0].to_string(), logs] {
        assert!(!text.contains(signature), "the token leaked: {text}");
    }
}
