//! s3-upload-mcp: turns images held by AI agents into web-ready public S3 URLs.

pub mod imaging; // pure image pipeline: sniff, limits, decode, orient, resize, encode, SVG
pub mod process_cli; // `process` subcommand: the pipeline over local files, for benchmarks
