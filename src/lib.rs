//! s3-upload-mcp: an MCP server that turns images AI agents hold into web-ready public S3 URLs.
//!
//! A request travels one way: [`app`] (HTTP) → [`mcp`] (tools) → [`upload`] (pipeline) →
//! [`imaging`] (pixels) and [`storage`] (S3). [`runtime`] builds those parts once from
//! [`config`]; [`lambda`], [`serve`] and [`stdio`] are thin entry points around it, and
//! [`process_cli`] runs the pipeline over local files.

pub mod app; // the HTTP surface: /healthz, /mcp behind header, Host, auth and body layers
pub mod auth; // who may call (API keys, IAM) and what they may write (policies)
pub mod config; // the environment read once into each subsystem's settings
pub mod imaging; // probe, decode within limits, orient, resize, encode, SVG (pure, sync)
pub mod lambda; // the Lambda entry: streaming runner around the app
pub mod listener; // HTTP/1.1 on TCP with bounded connections, for `serve` and the embedded store
pub mod local; // the embedded S3-compatible store for `serve`, `stdio` and tests
pub mod mcp; // the MCP server: tools, the upload view (MCP Apps), schemas, presentation, audit
pub mod primitives; // random ids, RFC 3339 times, file base names
pub mod process_cli; // `process`: the pipeline over local files, for benchmarks and local use
pub mod runtime; // the composition root: config + launch → store, auth, uploader, services
pub mod serve; // `serve`: the app on a local HTTP server
pub mod stdio; // `stdio`: MCP over stdin/stdout for local clients, with `path` uploads
pub mod storage; // S3: put, multipart, presign, head, keys, public URLs, circuit breaker
pub mod telemetry; // logging, audit events, CloudWatch EMF metrics
pub mod upload; // the upload pipeline: plan → ingest → process → publish; staging, batch
