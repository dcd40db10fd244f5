//! Command line: run under Lambda, serve locally over HTTP, or speak MCP over stdio.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve::run(args).await,
        Some(Command::Stdio(args)) => stdio::run(args).await,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => lambda::run().await,
        None => {
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
