//! `s3-upload-mcp serve`: the same app on a local HTTP server, by default over the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::{self, Services};
use crate::auth::AuthMode;
use crate::config::{Config, RunMode, StoreKind};
use crate::local::EmbeddedStore;
use crate::storage::Storage;
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

/// A storage backend ready for the app, and the embedded server behind it if there is one.
pub struct Backend {
    pub storage: Storage,
    pub config: Config,
    pub embedded: Option<EmbeddedStore>,
}

/// Connects to the configured store; for `embedded`, starts it first and creates the allowed buckets.
pub async fn backend(
    mut config: Config,
    store: StoreKind,
    data_dir: &std::path::Path,
    s3_listen: SocketAddr,
) -> anyhow::Result<Backend> {
    match store {
        StoreKind::S3 => Ok(Backend {
            storage: Storage::connect(&config, None).await,
            config,
            embedded: None,
        }),
        StoreKind::Embedded => {
            let embedded =
                EmbeddedStore::start(&data_dir.join("s3"), s3_listen, &config.staging_prefix)
                    .await?;
            config.s3_endpoint_url = Some(embedded.endpoint().to_owned());
            config.force_path_style = true;
            // A fixed region keeps the SDK from probing instance metadata on a laptop.
            config.region.get_or_insert_with(|| "us-east-1".to_owned());
            let storage = Storage::connect(&config, Some(embedded.credentials())).await;
            for bucket in &config.allowed_buckets {
                storage.ensure_bucket(bucket).await.with_context(|| {
                    format!("cannot create bucket {bucket} in the embedded store")
                })?;
            }
            Ok(Backend {
                storage,
                config,
                embedded: Some(embedded),
            })
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env(RunMode::Serve, args.store)?;
    telemetry::init(config.log_format);
    if config.auth_mode == AuthMode::None
        && !args.listen.ip().is_loopback()
        && !config.allow_unauthenticated
    {
        anyhow::bail!(
            "refusing to serve {} without authentication: listen on 127.0.0.1, or set AUTH_MODE=api_key with \
             API_KEYS_FILE (or ALLOW_UNAUTHENTICATED=true if you really mean it)",
            args.listen
        );
    }
    let s3_listen = args
        .s3_listen
        .unwrap_or_else(|| SocketAddr::new(args.listen.ip(), next_port(args.listen.port())));
    let Backend {
        storage,
        config,
        embedded,
    } = backend(config, args.store, &args.data_dir, s3_listen).await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; pick another address with --listen",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let banner = banner(addr, &config, embedded.as_ref(), &args.data_dir);
    let services = Services::build(config, storage, AuditSink::Stdout).await?;
    println!("{banner}");
    let app = app::app(services).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn next_port(port: u16) -> u16 {
    if port == 0 { 0 } else { port.wrapping_add(1) }
}

fn banner(
    addr: SocketAddr,
    config: &Config,
    embedded: Option<&EmbeddedStore>,
    data_dir: &std::path::Path,
) -> String {
    let url = format!("http://{addr}/mcp");
    let store = match embedded {
        Some(store) => format!(
            "embedded S3 at {} (data in {}), bucket {}",
            store.endpoint(),
            data_dir.display(),
            config.default_bucket
        ),
        None => format!("S3 bucket {}", config.default_bucket),
    };
    let client_config =
        serde_json::json!({ "mcpServers": { "s3-upload": { "type": "http", "url": url } } });
    let auth = match config.auth_mode {
        AuthMode::None => "none (loopback only)",
        AuthMode::ApiKey => "API key (Authorization: Bearer <key> or x-api-key)",
        AuthMode::Iam => "IAM",
    };
    format!(
        "s3-upload-mcp {version} ready\n  auth:         {auth}\n  MCP endpoint: {url}\n  health:       http://{addr}/healthz\n  store:        {store}\n\n\
         Client config (Cursor, Claude Desktop via mcp-remote, VS Code):\n{client_config}\n\
         Claude Code:  claude mcp add --transport http s3-upload {url}\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}
