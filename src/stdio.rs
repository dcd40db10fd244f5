//! `s3-upload-mcp stdio`: MCP over stdin/stdout for local clients (Claude Desktop), with `path` uploads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rmcp::ServiceExt as _;

use crate::config::{Config, RunMode, StoreKind};
use crate::mcp::McpServer;
use crate::runtime::{self, Exposure, Launch, Store};
use crate::telemetry::{self, AuditSink};

#[derive(Debug, clap::Args)]
pub struct StdioArgs {
    /// A directory whose files `path` uploads may read (repeatable). Without one, `path` is refused.
    #[arg(long = "allow-dir", value_name = "DIR")]
    pub allow_dirs: Vec<PathBuf>,
    /// `embedded`: an S3-compatible server in this process; `s3`: AWS (or S3_ENDPOINT_URL).
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Where the embedded store keeps objects [default: ~/.s3-upload-mcp]. Clients start stdio
    /// servers in a directory of their choosing, so a relative default would wander.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the embedded store. Fixed (not random) so returned URLs stay valid across
    /// sessions; `serve` uses the same port by default, so give one of them another.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub s3_listen: SocketAddr,
}

pub async fn run(args: StdioArgs) -> anyhow::Result<()> {
    // Stdio is a local mode: loopback defaults, as for `serve` (no HTTP surface is exposed).
    let config = Config::from_env(RunMode::Serve, args.store)?;
    telemetry::init(config.telemetry.log_format);
    let allowed_dirs = canonical_dirs(&args.allow_dirs)?;
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let store = match args.store {
        StoreKind::S3 => Store::S3,
        StoreKind::Embedded => Store::Embedded {
            data_dir: data_dir.clone(),
            listen: args.s3_listen,
        },
    };
    let bucket = config.upload.default_bucket.clone();
    let runtime = runtime::build(
        config,
        Launch {
            exposure: Exposure::Stdio,
            store,
            allowed_dirs: allowed_dirs.clone(),
            // stdout carries MCP only: logs and audit lines go to stderr.
            audit: AuditSink::Stderr,
        },
    )
    .await
    .with_context(|| match args.store {
        StoreKind::Embedded => format!(
            "the embedded store at {} did not start (if `serve` or another stdio session \
             already uses that port, pass another with --s3-listen)",
            args.s3_listen
        ),
        StoreKind::S3 => "cannot connect to S3".to_owned(),
    })?;
    tracing::info!(
        store = runtime.embedded.as_ref().map_or("s3", |e| e.endpoint()),
        data_dir = %data_dir.display(),
        %bucket,
        ?allowed_dirs,
        "s3-upload-mcp stdio ready"
    );
    let services = &runtime.services;
    let service = McpServer::local(
        services.uploader.clone(),
        services.audit.clone(),
        services.view_origins.clone(),
    )
    .serve(rmcp::transport::stdio_pipes())
    .await
    .context("MCP session over stdio failed to start")?;
    let reason = service.waiting().await?;
    tracing::info!(?reason, "stdio session ended");
    // Keep the embedded store (and the URLs it serves) up until the client hangs up.
    drop(runtime);
    Ok(())
}

/// Canonicalises each `--allow-dir`, so `..` and symlinks cannot widen what `path` may read.
fn canonical_dirs(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    dirs.iter()
        .map(|dir| {
            let canonical = std::fs::canonicalize(dir)
                .with_context(|| format!("--allow-dir {}: cannot open it", dir.display()))?;
            anyhow::ensure!(
                canonical.is_dir(),
                "--allow-dir {}: not a directory",
                dir.display()
            );
            Ok(canonical)
        })
        .collect()
}

fn default_data_dir() -> PathBuf {
    std::env::home_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf())
        .join(".s3-upload-mcp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_dirs_are_canonical_and_must_exist() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("images");
        std::fs::create_dir(&dir).unwrap();
        let dotted = dir.join("..").join("images");
        let dirs = canonical_dirs(&[dotted]).unwrap();
        assert_eq!(dirs, vec![std::fs::canonicalize(&dir).unwrap()]);

        let err = canonical_dirs(&[root.path().join("missing")]).unwrap_err();
        assert!(format!("{err:#}").contains("--allow-dir"), "{err:#}");

        let file = root.path().join("file.png");
        std::fs::write(&file, b"x").unwrap();
        let err = canonical_dirs(&[file]).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
