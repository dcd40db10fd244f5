//! MCP Apps (`io.modelcontextprotocol/ui`): the `open_uploader` tool and the upload view it
//! shows, served as a `ui://` resource whose metadata tells the host which origins the view's
//! sandbox may reach. The view itself is `ui/uploader` (see `ui/README.md`), built to one file.

use std::fmt;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, ListResourcesResult, MetaObject, ReadResourceResult, Resource,
    ResourceContents,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use serde_json::json;

use super::McpServer;
use super::schema::{OpenUploaderParams, UploaderOptions};
use crate::imaging::Overrides;

/// The view, built from `ui/uploader` by `scripts/build-ui.sh`; CI checks it is up to date.
pub const UPLOADER_HTML: &str = include_str!("ui/uploader.html");
pub const UPLOADER_URI: &str = "ui://s3-upload-mcp/uploader.html";
/// The MIME type hosts render as an app (SEP-1865: "MUST be `text/html;profile=mcp-app`").
pub const MCP_APP_MIME: &str = "text/html;profile=mcp-app";
/// The extension's name in capabilities.
pub const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";

/// What `open_uploader` says to clients that show no view (the spec: a tool with a UI must
/// still return meaningful content), so the agent can fall back to the other ways in.
const OPENED: &str = "Opened the image uploader: the user can pick or drop images there, and \
their public URLs come back to you when they finish. If no uploader appears (this client does \
not support MCP Apps), upload another way: small images as base64 in upload_image_to_s3's \
`data`; large ones with create_upload_url (with the file's size in `bytes`), a PUT of the file \
(its `curl` field), then upload_image_to_s3 with the `staging_key`; several at once with \
batch_upload_images.";
const OPENED_LOCAL: &str = " This server runs on the user's machine: a local file can also be \
uploaded by its absolute `path`.";

/// A web origin, `scheme://host[:port]`, as browsers serialize it (lower case, no default
/// port, no path): the form CSP sources and `URL.origin` take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// The origin of an absolute http(s) URL.
    pub fn of_url(url: &str) -> Result<Origin, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        let default_port = match scheme.as_deref() {
            Some("https") => 443,
            Some("http") => 80,
            _ => return Err(format!("{url:?} is not an http(s) URL")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        let host = authority.host().to_ascii_lowercase();
        let scheme = scheme.unwrap_or_default();
        Ok(Origin(match authority.port_u16() {
            Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the view's own requests go, found once at start from the URLs the store makes: the
/// host's CSP for the view allows these origins and nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewOrigins {
    /// Where presigned PUTs go (`connect-src`); `None` when the server could not presign at
    /// start (no credentials), so the view may connect nowhere.
    pub upload: Option<Origin>,
    /// Where published images are served, for every bucket a call may name (`img-src`, for
    /// the thumbnails).
    pub public: Vec<Origin>,
}

/// `_meta` of `open_uploader`: the spec's `ui.resourceUri`, and the flat pre-GA key that older
/// hosts read (ext-apps' own `registerAppTool` writes both).
pub fn tool_meta() -> MetaObject {
    let mut meta = MetaObject::new();
    meta.insert("ui".into(), json!({ "resourceUri": UPLOADER_URI }));
    meta.insert("ui/resourceUri".into(), json!(UPLOADER_URI));
    meta
}

/// `_meta` of the resource: the origins the host's CSP must allow (without `csp` hosts apply
/// `connect-src 'none'` and the PUT fails), and the clipboard for the copy buttons.
fn resource_meta(origins: &ViewOrigins) -> MetaObject {
    let mut meta = MetaObject::new();
    meta.insert(
        "ui".into(),
        json!({
            "csp": {
                "connectDomains": origins.upload.iter().map(Origin::as_str).collect::<Vec<_>>(),
                "resourceDomains": origins.public.iter().map(Origin::as_str).collect::<Vec<_>>(),
            },
            "permissions": { "clipboardWrite": {} },
            "prefersBorder": true,
        }),
    );
    meta
}

/// `resources/list`: the one view. Hosts read CSP from the read result and fall back to the
/// list entry, so both carry the metadata.
pub(super) fn list(origins: &ViewOrigins) -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(UPLOADER_URI, "uploader")
            .with_title("Image uploader")
            .with_description("Pick or drop images and get their public URLs")
            .with_mime_type(MCP_APP_MIME)
            .with_meta(resource_meta(origins)),
    ])
}

/// `resources/read`.
pub(super) fn read(uri: &str, origins: &ViewOrigins) -> Result<ReadResourceResult, ErrorData> {
    if uri != UPLOADER_URI {
        return Err(ErrorData::resource_not_found(
            format!("no resource {uri}; this server serves {UPLOADER_URI}"),
            None,
        ));
    }
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(UPLOADER_HTML, UPLOADER_URI)
            .with_mime_type(MCP_APP_MIME)
            .with_meta(resource_meta(origins)),
    ]))
}

#[tool_router(router = apps_tools, vis = "pub(super)")]
impl McpServer {
    #[tool(
        description = "Show the user an upload widget in the chat (clients with MCP Apps): they pick or \
            drop images, each is uploaded and optimised, and you are told the filename and public URL \
            of each. Optional prefix, format and widths apply to every image. Without MCP Apps the \
            result explains the other ways to upload.",
        meta = tool_meta(),
        output_schema = schema_for_output::<UploaderOptions>(),
        annotations(
            title = "Open image uploader",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn open_uploader(
        &self,
        Parameters(params): Parameters<OpenUploaderParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        // Options every upload would be refused for are refused now: the view shows this
        // message instead of failing each file the same way.
        let checked = self
            .audited("open_uploader", &context, async |principal, _| {
                let image = Overrides {
                    format: params.format,
                    widths: params.widths.clone(),
                    ..Overrides::default()
                };
                self.uploader
                    .check_options(principal, params.prefix.as_deref(), &image)?;
                Ok(UploaderOptions {
                    prefix: params.prefix,
                    format: params.format,
                    widths: params.widths,
                    max_bytes: self.uploader.input_limit(principal),
                })
            })
            .await;
        let options = match checked {
            Ok(options) => options.0,
            Err(refused) => return refused,
        };
        let value = serde_json::to_value(&options).expect("uploader options serialize");
        let mut result = CallToolResult::structured(value);
        let text = match self.local_principal {
            Some(_) => format!("{OPENED}{OPENED_LOCAL}"),
            None => OPENED.to_owned(),
        };
        result.content = vec![ContentBlock::text(text)];
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_serialized_as_browsers_do() {
        for (url, origin) in [
            (
                "http://127.0.0.1:8081/uploads/_staging/a.png?X-Amz-Signature=x",
                "http://127.0.0.1:8081",
            ),
            (
                "https://Assets.s3.eu-west-1.amazonaws.com:443/k",
                "https://assets.s3.eu-west-1.amazonaws.com",
            ),
            ("https://cdn.example.com", "https://cdn.example.com"),
            ("http://[::1]:9000/b/k", "http://[::1]:9000"),
            ("http://localhost:80/x", "http://localhost"),
        ] {
            assert_eq!(Origin::of_url(url).unwrap().as_str(), origin, "{url}");
        }
        for bad in ["/relative/path", "ftp://example.com/x", "not a url"] {
            assert!(Origin::of_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_resource_declares_the_store_origins_in_its_csp() {
        let origins = ViewOrigins {
            upload: Some(Origin::of_url("https://b.s3.eu-west-1.amazonaws.com/x").unwrap()),
            public: vec![Origin::of_url("https://cdn.example.com/x").unwrap()],
        };
        let read = read(UPLOADER_URI, &origins).unwrap();
        let content = serde_json::to_value(&read.contents[0]).unwrap();
        assert_eq!(content["mimeType"], MCP_APP_MIME);
        assert_eq!(
            content["_meta"]["ui"]["csp"],
            json!({
                "connectDomains": ["https://b.s3.eu-west-1.amazonaws.com"],
                "resourceDomains": ["https://cdn.example.com"],
            })
        );
        let listed = serde_json::to_value(&list(&origins).resources[0]).unwrap();
        assert_eq!(listed["_meta"], content["_meta"]);
    }
}
