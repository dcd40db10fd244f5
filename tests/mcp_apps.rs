//! The upload view (MCP Apps) over real HTTP against the embedded store: `open_uploader` and its
//! `ui://` resource as hosts read them, and the store answering a browser's cross-origin PUT the
//! way the view in a sandboxed iframe makes it. The view itself runs in Chromium in
//! `scripts/browser-tests.sh`.

mod common;

use common::{TestServer, corpus_base64, initialize, result_text, start_with_keys};
use serde_json::{Value, json};

const UPLOADER_URI: &str = "ui://s3-upload-mcp/uploader.html";
const VIEW_HTML: &str = include_str!("../src/mcp/ui/uploader.html");
/// What a Claude sandbox origin looks like; the test host's is `http://localhost:PORT`.
const SANDBOX_ORIGIN: &str = "https://0123abcd.claudemcpcontent.com";

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// `scheme://host:port` of a URL the server returned.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.split(['/', '?']).next().unwrap();
    format!("{scheme}://{host}")
}

/// A ticket for a small PNG as the view asks for one: filename, type and exact size.
async fn ticket(server: &TestServer, bytes: usize) -> Value {
    let ticket = server
        .call_tool(
            "create_upload_url",
            json!({"filename": "pixel.png", "content_type": "image/png", "bytes": bytes}),
        )
        .await;
    assert_ne!(ticket["isError"], true, "{ticket}");
    ticket["structuredContent"].clone()
}

fn png() -> Vec<u8> {
    std::fs::read(common::corpus("images/ui-dashboard-light.png")).expect("corpus image")
}

#[tokio::test]
async fn the_server_declares_resources_and_the_ui_extension_and_lists_open_uploader_with_its_view()
{
    let server = TestServer::start().await;
    let init = server.rpc(&initialize("2025-11-25")).await;
    let capabilities = &init["result"]["capabilities"];
    assert!(capabilities["resources"].is_object(), "{capabilities}");
    assert!(capabilities["tools"].is_object(), "{capabilities}");
    assert_eq!(
        capabilities["extensions"]["io.modelcontextprotocol/ui"],
        json!({}),
        "{capabilities}"
    );

    let list = server.rpc(&rpc(2, "tools/list", json!({}))).await;
    let tool = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "open_uploader")
        .cloned()
        .unwrap_or_else(|| panic!("open_uploader is listed: {list}"));
    assert_eq!(tool["_meta"]["ui"]["resourceUri"], UPLOADER_URI);
    assert_eq!(tool["_meta"]["ui/resourceUri"], UPLOADER_URI);
    // No visibility: the model may call it, and the view may call the upload tools.
    assert!(tool["_meta"]["ui"].get("visibility").is_none(), "{tool}");
    assert_eq!(tool["annotations"]["readOnlyHint"], true);
    let properties = tool["inputSchema"]["properties"].as_object().unwrap();
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["format", "prefix", "widths"]);
    assert!(
        !tool["inputSchema"].to_string().contains("uint32"),
        "numeric formats are dropped: {tool}"
    );
    assert!(
        tool["outputSchema"]["properties"]["max_bytes"].is_object(),
        "{tool}"
    );
}

#[tokio::test]
async fn the_view_is_an_mcp_app_resource_whose_csp_allows_exactly_the_store_it_uploads_to() {
    let server = TestServer::start().await;
    let read = server
        .rpc(&rpc(3, "resources/read", json!({"uri": UPLOADER_URI})))
        .await;
    let content = &read["result"]["contents"][0];
    assert_eq!(content["uri"], UPLOADER_URI, "{read}");
    assert_eq!(content["mimeType"], "text/html;profile=mcp-app");
    assert_eq!(
        content["text"].as_str(),
        Some(VIEW_HTML),
        "the embedded view"
    );
    let ui = &content["_meta"]["ui"];
    assert_eq!(ui["permissions"], json!({"clipboardWrite": {}}));

    // The origins are the ones the URLs really have: the presigned PUT's and the published image's.
    let bytes = png();
    let ticket = ticket(&server, bytes.len()).await;
    let upload_origin = origin(ticket["upload_url"].as_str().unwrap());
    assert_eq!(ui["csp"]["connectDomains"], json!([upload_origin]), "{ui}");
    let published = server
        .call_tool(
            "upload_image_to_s3",
            json!({"data": corpus_base64("images/ui-dashboard-light.png"), "filename": "a.png"}),
        )
        .await;
    let public_origin = origin(published["structuredContent"]["url"].as_str().unwrap());
    assert_eq!(ui["csp"]["resourceDomains"], json!([public_origin]), "{ui}");

    let list = server.rpc(&rpc(4, "resources/list", json!({}))).await;
    let listed = &list["result"]["resources"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(listed[0]["uri"], UPLOADER_URI);
    assert_eq!(listed[0]["mimeType"], "text/html;profile=mcp-app");
    assert_eq!(listed[0]["_meta"], content["_meta"], "list and read agree");
}

#[tokio::test]
async fn with_a_cdn_the_view_may_show_images_from_the_cdn_and_still_uploads_to_the_store() {
    let server =
        TestServer::start_with(&[("PUBLIC_BASE_URL", "https://cdn.example.com/assets")]).await;
    let read = server
        .rpc(&rpc(3, "resources/read", json!({"uri": UPLOADER_URI})))
        .await;
    let csp = &read["result"]["contents"][0]["_meta"]["ui"]["csp"];
    assert_eq!(
        csp["resourceDomains"],
        json!(["https://cdn.example.com"]),
        "{csp}"
    );
    let ticket = ticket(&server, 10).await;
    let upload_origin = origin(ticket["upload_url"].as_str().unwrap());
    assert_eq!(csp["connectDomains"], json!([upload_origin]), "{csp}");
}

#[tokio::test]
async fn reading_an_unknown_ui_resource_is_resource_not_found_and_names_the_one_there_is() {
    let server = TestServer::start().await;
    let reply = server
        .rpc(&rpc(
            5,
            "resources/read",
            json!({"uri": "ui://s3-upload-mcp/other.html"}),
        ))
        .await;
    assert_eq!(reply["error"]["code"], -32002, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(UPLOADER_URI), "{message}");
}

#[tokio::test]
async fn open_uploader_returns_the_options_the_view_applies_and_tells_other_clients_how_to_upload()
{
    let server = TestServer::start().await;
    let result = server
        .call_tool(
            "open_uploader",
            json!({"prefix": "blog/2026", "format": "webp", "widths": [320, 640]}),
        )
        .await;
    assert_ne!(result["isError"], true, "{result}");
    let options = &result["structuredContent"];
    assert_eq!(options["prefix"], "blog/2026");
    assert_eq!(options["format"], "webp");
    assert_eq!(options["widths"], json!([320, 640]));
    assert_eq!(
        options["max_bytes"].as_u64(),
        Some(server.config.upload.limits.max_input_bytes as u64)
    );
    // Clients without MCP Apps only see the text: it must say how else to upload.
    let text = result_text(&result);
    for way in [
        "create_upload_url",
        "staging_key",
        "`data`",
        "batch_upload_images",
    ] {
        assert!(text.contains(way), "{way} missing from {text}");
    }
    assert!(
        !text.contains("`path`"),
        "path uploads are for the local server: {text}"
    );

    let bare = server.call_tool("open_uploader", json!({})).await;
    assert_ne!(bare["isError"], true, "{bare}");
    assert!(bare["structuredContent"].get("prefix").is_none(), "{bare}");
}

#[tokio::test]
async fn open_uploader_refuses_options_every_upload_would_be_refused_for_with_the_same_message() {
    let server = TestServer::start().await;
    for bad in [
        json!({"prefix": "../outside"}),
        json!({"widths": [0]}),
        json!({"widths": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
    ] {
        let opened = server.call_tool("open_uploader", bad.clone()).await;
        assert_eq!(opened["isError"], true, "{bad}: {opened}");
        let mut upload = bad.clone();
        upload["data"] = json!(corpus_base64("images/ui-dashboard-light.png"));
        upload["filename"] = json!("a.png");
        let uploaded = server.call_tool("upload_image_to_s3", upload).await;
        assert_eq!(uploaded["isError"], true, "{bad}: {uploaded}");
        assert_eq!(result_text(&opened), result_text(&uploaded), "{bad}");
    }
    let unknown = server
        .rpc(&common::tool_call("open_uploader", json!({"folder": "x"})))
        .await;
    assert!(
        unknown.get("error").is_some() || unknown["result"]["isError"] == true,
        "unknown arguments are refused: {unknown}"
    );
}

#[tokio::test]
async fn a_principal_limited_to_a_prefix_is_told_so_when_opening_the_uploader_elsewhere() {
    let (server, _keys) = start_with_keys(
        &[json!({"id": "designer", "key": "k-designer", "buckets": ["*"], "prefixes": ["figma/*"]})],
        &[],
    )
    .await;
    let refused = server
        .call_tool_as("k-designer", "open_uploader", json!({"prefix": "blog"}))
        .await;
    assert_eq!(refused["isError"], true, "{refused}");
    let text = result_text(&refused);
    assert!(
        text.contains("figma/*"),
        "names the allowed prefixes: {text}"
    );
    let allowed = server
        .call_tool_as(
            "k-designer",
            "open_uploader",
            json!({"prefix": "figma/landing"}),
        )
        .await;
    assert_ne!(allowed["isError"], true, "{allowed}");
}

#[tokio::test]
async fn the_store_answers_a_sandboxed_views_preflight_for_its_presigned_put() {
    let server = TestServer::start().await;
    let ticket = ticket(&server, 10).await;
    let url = ticket["upload_url"].as_str().unwrap();
    let asked_headers = "content-type,if-none-match";
    for view_origin in ["null", SANDBOX_ORIGIN, "http://localhost:4173"] {
        let response = server
            .http
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", view_origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", asked_headers)
            .header("access-control-request-private-network", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{view_origin}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("access-control-allow-origin"), "*");
        assert!(header("access-control-allow-methods").contains("PUT"));
        assert_eq!(header("access-control-allow-headers"), asked_headers);
        assert_eq!(header("access-control-max-age"), "600");
        assert_eq!(header("access-control-allow-private-network"), "true");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn a_browser_put_with_the_tickets_headers_is_stored_and_its_etag_readable() {
    let server = TestServer::start().await;
    let bytes = png();
    let ticket = ticket(&server, bytes.len()).await;
    let mut put = server
        .http
        .put(ticket["upload_url"].as_str().unwrap())
        .header("origin", SANDBOX_ORIGIN);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let response = put.body(bytes).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-expose-headers"], "etag");
    assert!(headers.contains_key("etag"));

    let published = server
        .call_tool(
            "upload_image_to_s3",
            json!({"staging_key": ticket["staging_key"], "filename": "pixel.png"}),
        )
        .await;
    assert_ne!(published["isError"], true, "{published}");
}

#[tokio::test]
async fn a_refused_put_still_lets_the_view_read_the_stores_reason() {
    let server = TestServer::start().await;
    let bytes = png();
    let ticket = ticket(&server, bytes.len()).await;
    // The content type the URL did not sign: refused, and the browser must see why.
    let response = server
        .http
        .put(ticket["upload_url"].as_str().unwrap())
        .header("origin", SANDBOX_ORIGIN)
        .header("content-type", "text/html")
        .header("if-none-match", "*")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn cors_opens_no_door_anonymous_browsers_may_not_write_or_read_staged_files() {
    let server = TestServer::start().await;
    let bytes = png();
    let ticket = ticket(&server, bytes.len()).await;
    let url = ticket["upload_url"].as_str().unwrap();
    let unsigned = url.split('?').next().unwrap();
    let write = server
        .http
        .put(unsigned)
        .header("origin", SANDBOX_ORIGIN)
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403, "an unsigned PUT is refused");
    let mut put = server.http.put(url);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    assert_eq!(put.body(bytes).send().await.unwrap().status(), 200);
    let read = server
        .http
        .get(unsigned)
        .header("origin", SANDBOX_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403, "a staged file is not readable");
}
