//! `s3-upload-mcp serve`: the app on a local HTTP server, by default over the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use tokio::net::TcpListener;

use crate::app;
use crate::auth::AuthMode;
use crate::config::{Config, RunMode, StoreKind};
use crate::listener::{self, ConnectionLimits, RequestBody};
use crate::runtime::{self, Exposure, Launch, Runtime, Store};
use crate::telemetry::{self, AuditSink};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the MCP endpoint.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded store keeps objects.
    #[arg(long, default_value = "./.s3-upload-mcp")]
    pub data_dir: PathBuf,
    /// `embedded`: an S3-compatible server in this process; `s3`: AWS (or S3_ENDPOINT_URL).
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Address of the embedded store [default: the --listen port + 1].
    #[arg(long)]
    pub s3_listen: Option<SocketAddr>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env(RunMode::Serve, args.store)?;
    telemetry::init(config.telemetry.log_format);
    let store = match args.store {
        StoreKind::S3 => Store::S3,
        StoreKind::Embedded => Store::Embedded {
            data_dir: args.data_dir.clone(),
            listen: args.s3_listen.unwrap_or_else(|| {
                SocketAddr::new(args.listen.ip(), next_port(args.listen.port()))
            }),
        },
    };
    let auth_mode = config.auth.mode;
    let bucket = config.upload.default_bucket.clone();
    let runtime = runtime::build(
        config,
        Launch {
            exposure: Exposure::Http(args.listen),
            store,
            allowed_dirs: Vec::new(),
            audit: AuditSink::Stdout,
        },
    )
    .await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; pick another address with --listen",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    println!(
        "{}",
        banner(addr, auth_mode, &bucket, &runtime, &args.data_dir)
    );
    let Runtime { services, embedded } = runtime;
    let limits = services.http.connections;
    serve_app(listener, app::app(services), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    drop(embedded);
    Ok(())
}

/// Serves `app` on `listener` within `limits` until `shutdown`, each request carrying its
/// client's address as axum's `ConnectInfo` (the audit line's source IP).
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let per_connection = move |remote: SocketAddr| {
        tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: http::Request<RequestBody>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            },
        )
    };
    listener::serve(listener, limits, per_connection, shutdown).await;
}

fn next_port(port: u16) -> u16 {
    if port == 0 { 0 } else { port.wrapping_add(1) }
}

fn banner(
    addr: SocketAddr,
    auth_mode: AuthMode,
    bucket: &str,
    runtime: &Runtime,
    data_dir: &std::path::Path,
) -> String {
    let url = format!("http://{addr}/mcp");
    let store = match &runtime.embedded {
        Some(store) => format!(
            "embedded S3 at {} (data in {}), bucket {bucket}",
            store.endpoint(),
            data_dir.display(),
        ),
        None => format!("S3 bucket {bucket}"),
    };
    let client_config =
        serde_json::json!({ "mcpServers": { "s3-upload": { "type": "http", "url": url } } });
    let auth = [
        (
            auth_mode.api_key,
            "API key (Authorization: Bearer <key> or x-api-key)",
        ),
        (
            auth_mode.oauth,
            "OAuth access token (Authorization: Bearer <JWT>)",
        ),
        (auth_mode.iam, "IAM"),
    ]
    .into_iter()
    .filter_map(|(on, what)| on.then_some(what))
    .collect::<Vec<_>>();
    let auth = if auth.is_empty() {
        "none (loopback only)".to_owned()
    } else {
        auth.join(" or ")
    };
    format!(
        "s3-upload-mcp {version} ready\n  auth:         {auth}\n  MCP endpoint: {url}\n  health:       http://{addr}/healthz\n  store:        {store}\n\n\
         Client config (Cursor, Claude Desktop via mcp-remote, VS Code):\n{client_config}\n\
         Claude Code:  claude mcp add --transport http s3-upload {url}\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}
