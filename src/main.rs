//! Entry point. On this branch only the `process` subcommand exists; the server modes are wired
//! in on merge.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use s3_upload_mcp::process_cli::{self, ProcessArgs};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the image pipeline over local files without uploading.
    Process(ProcessArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Process(args) => process_cli::run(args),
    }
}
