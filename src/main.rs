//! Command line: run under Lambda, serve locally over HTTP or stdio, or process files.

use std::future::Future;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use s3_upload_mcp::process_cli::{self, ProcessArgs};
use s3_upload_mcp::{lambda, serve, stdio};

#[derive(Parser)]
#[command(
    version,
    about = "MCP server that turns images into web-ready public S3 URLs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over HTTP on this machine (embedded S3-compatible store by default).
    Serve(serve::ServeArgs),
    /// Speak MCP over stdin/stdout for a local client (Claude Desktop); accepts `path` uploads.
    Stdio(stdio::StdioArgs),
    /// Run the image pipeline over local files without uploading.
    Process(ProcessArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Some(Command::Serve(args)) => block_on(serve::run(args)),
        Some(Command::Stdio(args)) => block_on(stdio::run(args)),
        Some(Command::Process(args)) => process_cli::run(args),
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => block_on(lambda::run()),
        None => {
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn block_on(server: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server).map(|()| ExitCode::SUCCESS)
}
