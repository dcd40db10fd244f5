//! Logging: JSON lines under Lambda (CloudWatch), readable text locally; always on stderr so
//! stdout stays free for the stdio transport and for `serve`'s banner.

use tracing_subscriber::EnvFilter;

/// How log lines look (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch).
    Json,
    /// Human-readable lines.
    Text,
}

/// Logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// CloudWatch namespace of the EMF metrics (`METRICS_NAMESPACE`).
    pub metrics_namespace: String,
}

impl TelemetrySettings {
    pub const DEFAULT_NAMESPACE: &str = "S3UploadMcp";
}

/// Quiet defaults for chatty dependencies; `RUST_LOG` overrides everything.
const DEFAULT_FILTER: &str =
    "info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_s3=warn,s3s=warn,rmcp=warn";

/// Installs the global subscriber once; later calls are ignored (tests start many servers).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Colour only for a person at a terminal; clients (Claude Desktop) write stderr to log files.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Where a call came from; recorded with every tool call.
#[derive(Clone, Debug, Default)]
pub struct CallMeta {
    /// Ours (or the hosting platform's), never the client's: audit lines can be trusted to
    /// name one call each.
    pub request_id: String,
    /// What the client called it (`x-request-id`, the JSON-RPC id over stdio), for correlating
    /// with the client's logs; see [`CallMeta::client_value`].
    pub client_request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl CallMeta {
    /// Longest client-supplied value an audit line records.
    pub const MAX_CLIENT_VALUE_BYTES: usize = 128;

    /// A call with a fresh server-generated id (128 random bits, hex).
    pub fn new() -> Self {
        CallMeta {
            request_id: crate::primitives::random_hex(16),
            ..CallMeta::default()
        }
    }

    /// A client-supplied value as an audit line keeps it: printable ASCII (anything else
    /// becomes `_`), cut at [`Self::MAX_CLIENT_VALUE_BYTES`]. Bounds the line, and keeps what
    /// a client sends from passing for anything but its own words.
    pub fn client_value(raw: &[u8]) -> String {
        raw.iter()
            .take(Self::MAX_CLIENT_VALUE_BYTES)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Where audit lines go: stdout (CloudWatch under Lambda), or stderr when stdout carries MCP (stdio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditSink {
    Stdout,
    Stderr,
}

/// Totals of the uploads one call made, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct UploadStats {
    pub succeeded: u64,
    pub failed: u64,
    pub bytes: u64,
    pub deduplicated: u64,
}

/// One tool call, as the audit log records it. Never holds keys, headers, signatures or image data.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub tool: &'a str,
    pub principal: &'a str,
    /// The token subject (`sub`) of an OAuth caller: who, within a shared principal.
    pub subject: Option<&'a str>,
    pub meta: &'a CallMeta,
    pub buckets: Vec<String>,
    pub keys: Vec<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// "ok", or the error kind.
    pub result: &'a str,
    pub latency: std::time::Duration,
    /// Present for upload tools: adds CloudWatch Embedded Metric Format fields to the line.
    pub uploads: Option<UploadStats>,
}

impl<'a> AuditEvent<'a> {
    /// A successful call that touched nothing yet, timed from `started`; the tool fills in the rest.
    pub fn new(
        tool: &'a str,
        principal: &'a str,
        meta: &'a CallMeta,
        started: std::time::Instant,
    ) -> Self {
        AuditEvent {
            tool,
            principal,
            subject: None,
            meta,
            buckets: Vec::new(),
            keys: Vec::new(),
            bytes_in: 0,
            bytes_out: 0,
            result: "ok",
            latency: started.elapsed(),
            uploads: None,
        }
    }
}

/// Writes one JSON line per tool call; upload calls carry EMF metrics in the same line, so
/// CloudWatch extracts Uploads, UploadFailures, UploadLatencyMs, UploadBytes and DedupeHits per
/// principal (and in total) with no SDK call.
#[derive(Clone, Debug)]
pub struct Audit {
    sink: AuditSink,
    namespace: std::sync::Arc<str>,
}

impl Audit {
    pub fn new(sink: AuditSink, namespace: &str) -> Self {
        Audit {
            sink,
            namespace: namespace.into(),
        }
    }

    pub fn record(&self, event: &AuditEvent<'_>) {
        use std::io::Write as _;
        let line = self.line(event, time::OffsetDateTime::now_utc());
        // Under the stream's lock, so concurrent calls never interleave. A closed stream (a log
        // shipper gone) loses the line, not the call: println! would panic the request.
        let written = match self.sink {
            AuditSink::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            AuditSink::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, tool = event.tool, "an audit line could not be written");
        }
    }

    /// The JSON line for `event` at `now`.
    pub fn line(&self, event: &AuditEvent<'_>, now: time::OffsetDateTime) -> serde_json::Value {
        let mut line = serde_json::json!({
            "type": "audit",
            "time": crate::primitives::rfc3339(now),
            "request_id": event.meta.request_id,
            "client_request_id": event.meta.client_request_id,
            "principal": event.principal,
            "tool": event.tool,
            "bucket": event.buckets.first(),
            "buckets": event.buckets,
            "keys": event.keys,
            "bytes_in": event.bytes_in,
            "bytes_out": event.bytes_out,
            "result": event.result,
            "latency_ms": event.latency.as_millis() as u64,
            "source_ip": event.meta.source_ip,
            "user_agent": event.meta.user_agent,
        });
        if let Some(subject) = event.subject {
            line["sub"] = subject.into();
        }
        if let Some(stats) = event.uploads {
            let metrics = [
                ("Uploads", "Count", stats.succeeded),
                ("UploadFailures", "Count", stats.failed),
                (
                    "UploadLatencyMs",
                    "Milliseconds",
                    event.latency.as_millis() as u64,
                ),
                ("UploadBytes", "Bytes", stats.bytes),
                ("DedupeHits", "Count", stats.deduplicated),
            ];
            line["_aws"] = serde_json::json!({
                "Timestamp": (now.unix_timestamp_nanos() / 1_000_000) as i64,
                "CloudWatchMetrics": [{
                    "Namespace": &*self.namespace,
                    "Dimensions": [["Principal"], []],
                    "Metrics": metrics.iter().map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
                }],
            });
            line["Principal"] = event.principal.into();
            for (name, _, value) in metrics {
                line[name] = value.into();
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_audit_lines_carry_emf_metrics_per_principal_and_in_total() {
        let audit = Audit::new(AuditSink::Stdout, "S3UploadMcp");
        let meta = CallMeta {
            request_id: "req-1".into(),
            client_request_id: Some("client-7".into()),
            source_ip: Some("203.0.113.10".into()),
            user_agent: Some("claude".into()),
        };
        let event = AuditEvent {
            tool: "upload_image_to_s3",
            principal: "designer",
            subject: None,
            meta: &meta,
            buckets: vec!["assets".into()],
            keys: vec!["images/a.webp".into()],
            bytes_in: 1000,
            bytes_out: 400,
            result: "ok",
            latency: std::time::Duration::from_millis(42),
            uploads: Some(UploadStats {
                succeeded: 1,
                failed: 0,
                bytes: 400,
                deduplicated: 0,
            }),
        };
        let line = audit.line(&event, time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(line["principal"], "designer");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["client_request_id"], "client-7");
        assert_eq!(line["bucket"], "assets");
        assert_eq!(line["latency_ms"], 42);
        let emf = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], "S3UploadMcp");
        assert_eq!(emf["Dimensions"], serde_json::json!([["Principal"], []]));
        assert_eq!(line["Uploads"], 1);
        assert_eq!(line["UploadBytes"], 400);
        assert_eq!(line["UploadLatencyMs"], 42);
        // Every metric named in the directive has a value at the top level.
        for metric in emf["Metrics"].as_array().unwrap() {
            assert!(line[metric["Name"].as_str().unwrap()].is_u64(), "{metric}");
        }
    }

    #[test]
    fn server_request_ids_are_fresh_and_client_values_bounded_and_printable() {
        let (a, b) = (CallMeta::new(), CallMeta::new());
        assert_eq!(a.request_id.len(), 32);
        assert_ne!(a.request_id, b.request_id);
        assert_eq!(CallMeta::client_value(b"abc-123"), "abc-123");
        assert_eq!(CallMeta::client_value(b"a\nb\x1b[31m\xff"), "a_b_[31m_");
        assert_eq!(
            CallMeta::client_value(&[b'x'; 10_000]).len(),
            CallMeta::MAX_CLIENT_VALUE_BYTES
        );
    }

    #[test]
    fn non_upload_calls_have_no_metrics_and_oauth_callers_carry_their_subject() {
        let audit = Audit::new(AuditSink::Stdout, "S3UploadMcp");
        let meta = CallMeta::default();
        let event = AuditEvent {
            tool: "list_s3_buckets",
            principal: "p",
            subject: Some("00u-ann"),
            meta: &meta,
            buckets: vec![],
            keys: vec![],
            bytes_in: 0,
            bytes_out: 0,
            result: "ok",
            latency: std::time::Duration::ZERO,
            uploads: None,
        };
        let line = audit.line(&event, time::OffsetDateTime::UNIX_EPOCH);
        assert!(line.get("_aws").is_none());
        assert_eq!(line["sub"], "00u-ann");
    }
}
