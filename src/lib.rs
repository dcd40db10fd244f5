//! s3-upload-mcp: an MCP server that turns images AI agents hold into web-ready public S3 URLs.
//!
//! A request travels one way: [`app`] (HTTP) → [`mcp`] (tools) → [`upload`] (pipeline) →
//! [`imaging`] (pixels) and [`storage`] (S3). [`lambda`] and [`serve`] wrap the same app,
//! [`stdio`] the same MCP server;
//! [`process_cli`] runs the pipeline over local files.

pub mod app; // the HTTP surface: /healthz, /mcp, Host/auth/body checks, JSON-RPC errors
pub mod auth; // who may call (API keys, IAM) and what they may write (policies)
pub mod config; // typed configuration read once from the environment
pub mod imaging; // sniff, decode within limits, orient, resize, encode, SVG (pure, sync)
pub mod lambda; // the Lambda entry: streaming runner around the app
pub mod local; // the embedded S3-compatible store for `serve` and tests
pub mod mcp; // the MCP server: tools, schemas, error mapping
pub mod process_cli; // `process`: the pipeline over local files, for benchmarks and local use
pub mod serve; // `serve`: the app on a local HTTP server
pub mod stdio; // `stdio`: MCP over stdin/stdout for local clients, with `path` uploads
pub mod storage; // S3: put, multipart, presign, head, keys, public URLs
pub mod telemetry; // logging, audit events, CloudWatch EMF metrics
pub mod upload; // the upload pipeline: source → process → place → store
