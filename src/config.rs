//! Typed configuration: read once from the environment at start, validated, never re-read per request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::AuthMode;
use crate::imaging::{Limits, OutputFormat};
use crate::storage::MultipartPolicy;

/// Where the process runs; it decides the defaults that differ between Lambda and a laptop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Under the Lambda runtime (Function URL / API Gateway).
    Lambda,
    /// `s3-upload-mcp serve`: local HTTP on loopback.
    Serve,
}

/// Which object store the service writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// An in-process S3-compatible server (s3s-fs) on loopback; no AWS account needed.
    Embedded,
    /// Real AWS S3, or any S3-compatible endpoint given by `S3_ENDPOINT_URL`.
    S3,
}

/// Which `Host` headers the MCP endpoint accepts (DNS-rebinding protection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any host. The default under Lambda: the Function URL's host is not known before the
    /// stack exists, and AWS routes by host already; pin a custom domain with `MCP_ALLOWED_HOSTS`.
    Any,
    /// Only these hosts (`name` or `name:port`).
    Only(Vec<String>),
}

/// Where the principals document (API key digests, IAM ARNs, policies) is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiKeysLocation {
    /// `API_KEYS_SECRET_ID`: a Secrets Manager secret (name or ARN).
    Secret(String),
    /// `API_KEYS_FILE`: a local JSON file.
    File(std::path::PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (CloudWatch).
    Json,
    /// Human-readable lines.
    Text,
}

/// Everything the service needs to know, validated once.
#[derive(Clone, Debug)]
pub struct Config {
    pub region: Option<String>,
    /// Bucket used when a call names none (`S3_BUCKET_NAME`).
    pub default_bucket: String,
    /// Buckets a call may name (`ALLOWED_BUCKETS`); always contains `default_bucket`.
    pub allowed_buckets: Vec<String>,
    pub s3_endpoint_url: Option<String>,
    pub force_path_style: bool,
    /// Base of returned URLs, e.g. a CloudFront domain (`PUBLIC_BASE_URL`), without a trailing slash.
    pub public_base_url: Option<String>,
    /// Key prefix used when a call names none (`KEY_PREFIX`), without slashes at either end.
    pub key_prefix: String,
    /// Prefix of presigned staging uploads (`STAGING_PREFIX`, default `_staging/`); never public,
    /// and no final object may be written under it.
    pub staging_prefix: String,
    pub default_format: OutputFormat,
    pub default_quality: u8,
    pub default_max_width: u32,
    pub default_max_height: u32,
    pub limits: Limits,
    /// Largest HTTP request body accepted (`MAX_REQUEST_BYTES`); Lambda's own limit is 6 MB.
    pub max_request_bytes: usize,
    pub allowed_hosts: AllowedHosts,
    /// Browser origins accepted (`MCP_ALLOWED_ORIGINS`); empty = requests with an `Origin` pass.
    pub allowed_origins: Vec<String>,
    pub log_format: LogFormat,
    /// Lifetime of presigned staging URLs (`STAGING_URL_EXPIRY_SECONDS`, default 900).
    pub staging_url_expiry: Duration,
    /// Outputs at or above `MULTIPART_THRESHOLD_BYTES` (default 8 MiB) go up in parts.
    pub multipart: MultipartPolicy,
    /// Most items in one `batch_upload_images` call (`MAX_BATCH_ITEMS`, default 50).
    pub max_batch_items: usize,
    /// Most input bytes in one batch, all items together (`MAX_BATCH_BYTES`, default 256 MiB).
    pub max_batch_bytes: usize,
    /// Highest `concurrency` a batch may ask for (`MAX_CONCURRENCY`, default 8).
    pub max_concurrency: usize,
    /// Decoded pixels in flight across all uploads (`DECODE_BUDGET_PIXELS`, default 100 MP):
    /// bounds memory under concurrency by image size, not only by count.
    pub decode_budget_pixels: u64,
    /// How callers authenticate (`AUTH_MODE`): `api_key` by default under Lambda, `none` for `serve`.
    pub auth_mode: AuthMode,
    /// The principals document, required unless `auth_mode` is `none`.
    pub api_keys: Option<ApiKeysLocation>,
    /// How long the principals document is trusted before it is re-read (`API_KEYS_TTL_SECONDS`, 300).
    pub api_keys_ttl: Duration,
    /// `ALLOW_UNAUTHENTICATED=true`: permits `AUTH_MODE=none` where it is otherwise refused.
    pub allow_unauthenticated: bool,
    /// CloudWatch namespace of the EMF metrics (`METRICS_NAMESPACE`, default `S3UploadMcp`).
    pub metrics_namespace: String,
    /// Directories a `path` source may read from (set by `stdio --allow-dir`); empty = `path` refused.
    pub allowed_dirs: Vec<std::path::PathBuf>,
    /// Retries, timeouts and the circuit breaker around the object store.
    pub storage_tuning: StorageTuning,
}

/// A configuration variable that is missing or malformed; the message names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// Lambda's synchronous request payload limit.
pub const LAMBDA_REQUEST_LIMIT: usize = 6 * 1024 * 1024;
/// Bucket the embedded store creates when `S3_BUCKET_NAME` is not set.
pub const EMBEDDED_DEFAULT_BUCKET: &str = "uploads";
const MIB: usize = 1024 * 1024;
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl Config {
    /// Reads the process environment.
    pub fn from_env(mode: RunMode, store: StoreKind) -> Result<Self, ConfigError> {
        Self::from_lookup(mode, store, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(
        mode: RunMode,
        store: StoreKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env(&lookup);

        let default_bucket = match (env.string("S3_BUCKET_NAME"), store) {
            (Some(bucket), _) => bucket,
            (None, StoreKind::Embedded) => EMBEDDED_DEFAULT_BUCKET.to_owned(),
            (None, StoreKind::S3) => {
                return Err(ConfigError {
                    var: "S3_BUCKET_NAME",
                    message: "is not set; set it to the bucket uploads go to".into(),
                });
            }
        };
        validate_bucket_name("S3_BUCKET_NAME", &default_bucket)?;
        let mut allowed_buckets = env.list("ALLOWED_BUCKETS");
        for bucket in &allowed_buckets {
            validate_bucket_name("ALLOWED_BUCKETS", bucket)?;
        }
        if !allowed_buckets.contains(&default_bucket) {
            allowed_buckets.insert(0, default_bucket.clone());
        }

        let s3_endpoint_url = env.url("S3_ENDPOINT_URL")?;
        let force_path_style = env
            .parse::<Flag>("S3_FORCE_PATH_STYLE")?
            .map_or(s3_endpoint_url.is_some(), |Flag(on)| on);

        let default_quality = env.parse::<u8>("DEFAULT_QUALITY")?.unwrap_or(80);
        if !(1..=100).contains(&default_quality) {
            return Err(ConfigError {
                var: "DEFAULT_QUALITY",
                message: format!(
                    "is {default_quality}; use a value from 1 to 100 (80 is a good default)"
                ),
            });
        }

        let max_request_bytes = env
            .parse::<usize>("MAX_REQUEST_BYTES")?
            .unwrap_or(LAMBDA_REQUEST_LIMIT);

        let allowed_hosts = match env.list("MCP_ALLOWED_HOSTS") {
            hosts if hosts.iter().any(|h| h == "*") => AllowedHosts::Any,
            hosts if !hosts.is_empty() => AllowedHosts::Only(hosts),
            _ => match mode {
                RunMode::Lambda => AllowedHosts::Any,
                RunMode::Serve => {
                    AllowedHosts::Only(LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect())
                }
            },
        };

        let log_format = match env.string("LOG_FORMAT").as_deref() {
            None => match mode {
                RunMode::Lambda => LogFormat::Json,
                RunMode::Serve => LogFormat::Text,
            },
            Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(v) => {
                return Err(ConfigError {
                    var: "LOG_FORMAT",
                    message: format!("is {v:?}; use `json` or `text`"),
                });
            }
        };

        let auth_mode = env.parse::<AuthMode>("AUTH_MODE")?.unwrap_or(match mode {
            RunMode::Lambda => AuthMode::ApiKey,
            RunMode::Serve => AuthMode::None,
        });
        let api_keys = match (
            env.string("API_KEYS_SECRET_ID"),
            env.string("API_KEYS_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    var: "API_KEYS_SECRET_ID",
                    message: "and API_KEYS_FILE are both set; keep one".into(),
                });
            }
            (Some(secret), None) => Some(ApiKeysLocation::Secret(secret)),
            (None, Some(file)) => Some(ApiKeysLocation::File(file.into())),
            (None, None) => None,
        };
        if auth_mode != AuthMode::None && api_keys.is_none() {
            return Err(ConfigError {
                var: "API_KEYS_SECRET_ID",
                message: "is not set, and AUTH_MODE is api_key or iam: set it to the Secrets Manager secret \
                          holding the principals document (or API_KEYS_FILE to a local file), or AUTH_MODE=none \
                          for an unauthenticated local server"
                    .into(),
            });
        }
        let allow_unauthenticated = env
            .parse::<Flag>("ALLOW_UNAUTHENTICATED")?
            .is_some_and(|Flag(on)| on);
        if auth_mode == AuthMode::None && mode == RunMode::Lambda && !allow_unauthenticated {
            return Err(ConfigError {
                var: "AUTH_MODE",
                message: "is none under Lambda: anyone could write to your bucket. Use api_key or iam, or set \
                          ALLOW_UNAUTHENTICATED=true if the endpoint is protected some other way"
                    .into(),
            });
        }

        Ok(Config {
            region: env
                .string("AWS_REGION")
                .or_else(|| env.string("AWS_DEFAULT_REGION")),
            default_bucket,
            allowed_buckets,
            s3_endpoint_url,
            force_path_style,
            public_base_url: env.url("PUBLIC_BASE_URL")?,
            key_prefix: env
                .string("KEY_PREFIX")
                .map(|p| p.trim_matches('/').to_owned())
                .unwrap_or_else(|| "images".to_owned()),
            staging_prefix: env
                .string("STAGING_PREFIX")
                .map(|p| format!("{}/", p.trim_matches('/')))
                .unwrap_or_else(|| "_staging/".to_owned()),
            default_format: env.parse("DEFAULT_FORMAT")?.unwrap_or_default(),
            default_quality,
            default_max_width: env.parse("DEFAULT_MAX_WIDTH")?.unwrap_or(1920),
            default_max_height: env.parse("DEFAULT_MAX_HEIGHT")?.unwrap_or(1080),
            limits: Limits {
                max_pixels: env
                    .parse("MAX_PIXELS")?
                    .unwrap_or(Limits::default().max_pixels),
                max_input_bytes: env
                    .parse("MAX_INPUT_BYTES")?
                    .unwrap_or(Limits::default().max_input_bytes),
            },
            max_request_bytes,
            allowed_hosts,
            allowed_origins: env.list("MCP_ALLOWED_ORIGINS"),
            log_format,
            staging_url_expiry: Duration::from_secs(env.ranged(
                "STAGING_URL_EXPIRY_SECONDS",
                900,
                1..=604_800,
            )?),
            multipart: MultipartPolicy {
                threshold: env.ranged(
                    "MULTIPART_THRESHOLD_BYTES",
                    8 * MIB,
                    5 * MIB..=5 * 1024 * MIB,
                )?,
                ..MultipartPolicy::default()
            },
            max_batch_items: env.ranged("MAX_BATCH_ITEMS", 50, 1..=1000)?,
            max_batch_bytes: env.ranged("MAX_BATCH_BYTES", 256 * MIB, 1..=usize::MAX)?,
            max_concurrency: env.ranged("MAX_CONCURRENCY", 8, 1..=64)?,
            auth_mode,
            api_keys,
            api_keys_ttl: Duration::from_secs(env.ranged(
                "API_KEYS_TTL_SECONDS",
                300,
                0..=86_400,
            )?),
            allow_unauthenticated,
            metrics_namespace: env
                .string("METRICS_NAMESPACE")
                .unwrap_or_else(|| "S3UploadMcp".to_owned()),
            decode_budget_pixels: env.ranged(
                "DECODE_BUDGET_PIXELS",
                100_000_000,
                1_000_000..=u64::MAX,
            )?,
            allowed_dirs: Vec::new(),
            storage_tuning: StorageTuning::from_env(&env)?,
        })
    }
}

/// How the S3 client copes with a slow or failing store: the SDK's own retry and timeout
/// machinery, plus a per-process circuit breaker (see `storage::breaker`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageTuning {
    /// Attempts per S3 call including the first (`S3_MAX_ATTEMPTS`, default 3; 1 = no retries).
    pub max_attempts: u32,
    /// `standard` (exponential backoff with jitter) or `adaptive` (also rate-limits the client
    /// when S3 throttles) (`S3_RETRY_MODE`, default standard).
    pub retry_mode: RetryMode,
    /// First backoff before a retry; doubles per attempt with full jitter (`S3_RETRY_INITIAL_BACKOFF_MS`, 1000).
    pub initial_backoff: Duration,
    /// Longest backoff between attempts (`S3_RETRY_MAX_BACKOFF_MS`, 20000).
    pub max_backoff: Duration,
    /// Time to establish a TCP/TLS connection (`S3_CONNECT_TIMEOUT_MS`, 3000).
    pub connect_timeout: Duration,
    /// One attempt, from sending to the last response byte (`S3_ATTEMPT_TIMEOUT_MS`,
    /// default 10000 or the operation timeout if smaller). A stalled attempt is cut here and retried.
    pub attempt_timeout: Duration,
    /// A whole call including every retry and backoff (`S3_OPERATION_TIMEOUT_MS`, 30000): the
    /// longest an upload waits for S3 before it reports "storage unavailable".
    pub operation_timeout: Duration,
    /// Consecutive failed S3 calls (5xx, throttling, timeouts, connection errors; not 4xx) that
    /// open the circuit breaker (`CIRCUIT_BREAKER_THRESHOLD`, 5; 0 disables the breaker).
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls fast before letting one probe through
    /// (`CIRCUIT_BREAKER_COOLDOWN_SECONDS`, 10).
    pub breaker_cooldown: Duration,
}

/// The SDK retry mode, without the SDK type (config knows no AWS types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryMode {
    #[default]
    Standard,
    Adaptive,
}

impl Default for StorageTuning {
    fn default() -> Self {
        StorageTuning {
            max_attempts: 3,
            retry_mode: RetryMode::Standard,
            initial_backoff: Duration::from_millis(1000),
            max_backoff: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(3000),
            attempt_timeout: Duration::from_millis(10_000),
            operation_timeout: Duration::from_millis(30_000),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(10),
        }
    }
}

impl StorageTuning {
    const MAX_ATTEMPTS_LIMIT: u32 = 10;
    const MAX_COOLDOWN_SECONDS: u64 = 3600;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = StorageTuning::default();
        let millis = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match env.parse::<u64>(var)? {
                None => Ok(default),
                Some(0) => Err(ConfigError {
                    var,
                    message: format!(
                        "is 0; use a positive number of milliseconds (default {})",
                        default.as_millis()
                    ),
                }),
                Some(ms) => Ok(Duration::from_millis(ms)),
            }
        };

        let max_attempts = env
            .parse::<u32>("S3_MAX_ATTEMPTS")?
            .unwrap_or(defaults.max_attempts);
        if !(1..=Self::MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            return Err(ConfigError {
                var: "S3_MAX_ATTEMPTS",
                message: format!(
                    "is {max_attempts}; use 1 (no retries) to {} attempts (3 is the default)",
                    Self::MAX_ATTEMPTS_LIMIT
                ),
            });
        }
        let retry_mode = match env.string("S3_RETRY_MODE").as_deref() {
            None => defaults.retry_mode,
            Some(v) if v.eq_ignore_ascii_case("standard") => RetryMode::Standard,
            Some(v) if v.eq_ignore_ascii_case("adaptive") => RetryMode::Adaptive,
            Some(v) => {
                return Err(ConfigError {
                    var: "S3_RETRY_MODE",
                    message: format!("is {v:?}; use `standard` or `adaptive`"),
                });
            }
        };
        let initial_backoff = millis("S3_RETRY_INITIAL_BACKOFF_MS", defaults.initial_backoff)?;
        let max_backoff = millis("S3_RETRY_MAX_BACKOFF_MS", defaults.max_backoff)?;
        if initial_backoff > max_backoff {
            return Err(ConfigError {
                var: "S3_RETRY_INITIAL_BACKOFF_MS",
                message: format!(
                    "is {} ms, more than S3_RETRY_MAX_BACKOFF_MS ({} ms); lower it or raise the maximum",
                    initial_backoff.as_millis(),
                    max_backoff.as_millis()
                ),
            });
        }
        let operation_timeout = millis("S3_OPERATION_TIMEOUT_MS", defaults.operation_timeout)?;
        // Defaults never exceed a shorter operation budget; explicit values that do are refused.
        let connect_timeout = millis(
            "S3_CONNECT_TIMEOUT_MS",
            defaults.connect_timeout.min(operation_timeout),
        )?;
        let attempt_timeout = millis(
            "S3_ATTEMPT_TIMEOUT_MS",
            defaults.attempt_timeout.min(operation_timeout),
        )?;
        for (var, value) in [
            ("S3_ATTEMPT_TIMEOUT_MS", attempt_timeout),
            ("S3_CONNECT_TIMEOUT_MS", connect_timeout),
        ] {
            if value > operation_timeout {
                return Err(ConfigError {
                    var,
                    message: format!(
                        "is {} ms, longer than S3_OPERATION_TIMEOUT_MS ({} ms), which bounds the whole call; \
                         lower it or raise S3_OPERATION_TIMEOUT_MS",
                        value.as_millis(),
                        operation_timeout.as_millis()
                    ),
                });
            }
        }

        let breaker_threshold = env
            .parse::<u32>("CIRCUIT_BREAKER_THRESHOLD")?
            .unwrap_or(defaults.breaker_threshold);
        let cooldown_seconds = env
            .parse::<u64>("CIRCUIT_BREAKER_COOLDOWN_SECONDS")?
            .unwrap_or(defaults.breaker_cooldown.as_secs());
        if !(1..=Self::MAX_COOLDOWN_SECONDS).contains(&cooldown_seconds) {
            return Err(ConfigError {
                var: "CIRCUIT_BREAKER_COOLDOWN_SECONDS",
                message: format!(
                    "is {cooldown_seconds}; use 1 to {} seconds (10 is the default); \
                     to turn the breaker off set CIRCUIT_BREAKER_THRESHOLD=0",
                    Self::MAX_COOLDOWN_SECONDS
                ),
            });
        }

        Ok(StorageTuning {
            max_attempts,
            retry_mode,
            initial_backoff,
            max_backoff,
            connect_timeout,
            attempt_timeout,
            operation_timeout,
            breaker_threshold,
            breaker_cooldown: Duration::from_secs(cooldown_seconds),
        })
    }
}

/// Typed access to the variables; empty values count as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn string(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.string(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn parse<T>(&self, var: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.string(var)
            .map(|raw| {
                raw.parse::<T>().map_err(|e| ConfigError {
                    var,
                    message: format!("{raw:?} is not valid: {e}"),
                })
            })
            .transpose()
    }

    /// A number within `range`, or `default` when unset.
    fn ranged<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let value = self.parse::<T>(var)?.unwrap_or(default);
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError {
                var,
                message: format!(
                    "is {value}; use a value from {} to {}",
                    range.start(),
                    range.end()
                ),
            })
        }
    }

    fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.string(var) else {
            return Ok(None);
        };
        let uri: http::Uri = raw.parse().map_err(|e| ConfigError {
            var,
            message: format!("{raw:?} is not a URL ({e}); use e.g. https://cdn.example.com"),
        })?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(_)) => Ok(Some(raw.trim_end_matches('/').to_owned())),
            _ => Err(ConfigError {
                var,
                message: format!(
                    "{raw:?} must be an absolute http(s) URL such as https://cdn.example.com"
                ),
            }),
        }
    }
}

/// A boolean variable: true/false, 1/0, yes/no.
struct Flag(bool);

impl FromStr for Flag {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Flag(true)),
            "0" | "false" | "no" | "off" => Ok(Flag(false)),
            _ => Err("use true or false"),
        }
    }
}

/// S3 bucket naming rules (3–63 chars of lowercase letters, digits, dots and hyphens).
fn validate_bucket_name(var: &'static str, bucket: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            var,
            message: format!(
                "{bucket:?} is not a valid S3 bucket name (3-63 lowercase letters, digits, '.' or '-')"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(
        mode: RunMode,
        store: StoreKind,
        vars: &[(&str, &str)],
    ) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(mode, store, |k| map.get(k).cloned())
    }

    #[test]
    fn embedded_store_needs_no_variables() {
        let c = config(RunMode::Serve, StoreKind::Embedded, &[]).unwrap();
        assert_eq!(c.default_bucket, EMBEDDED_DEFAULT_BUCKET);
        assert_eq!(c.allowed_buckets, vec![EMBEDDED_DEFAULT_BUCKET.to_owned()]);
        assert_eq!(c.default_quality, 80);
        assert_eq!(c.max_request_bytes, LAMBDA_REQUEST_LIMIT);
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(
            matches!(c.allowed_hosts, AllowedHosts::Only(ref h) if h.contains(&"127.0.0.1".to_owned()))
        );
    }

    #[test]
    fn real_s3_without_a_bucket_names_the_variable_to_set() {
        let err = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[("API_KEYS_SECRET_ID", "keys")],
        )
        .unwrap_err();
        assert_eq!(err.var, "S3_BUCKET_NAME");
        assert!(err.to_string().contains("set it"));
    }

    #[test]
    fn lambda_accepts_any_host_and_logs_json_by_default() {
        let c = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[("S3_BUCKET_NAME", "assets"), ("API_KEYS_SECRET_ID", "keys")],
        )
        .unwrap();
        assert_eq!(c.allowed_hosts, AllowedHosts::Any);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn allowed_hosts_can_be_pinned() {
        let c = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[
                ("S3_BUCKET_NAME", "assets"),
                ("API_KEYS_SECRET_ID", "keys"),
                ("MCP_ALLOWED_HOSTS", "mcp.example.com, api.example.com"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.allowed_hosts,
            AllowedHosts::Only(vec!["mcp.example.com".into(), "api.example.com".into()])
        );
    }

    #[test]
    fn lambda_defaults_to_api_keys_and_needs_a_principals_document() {
        let err = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[("S3_BUCKET_NAME", "assets")],
        )
        .unwrap_err();
        assert_eq!(err.var, "API_KEYS_SECRET_ID");
        let c = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[
                ("S3_BUCKET_NAME", "assets"),
                ("API_KEYS_SECRET_ID", "arn:aws:secretsmanager:x"),
            ],
        )
        .unwrap();
        assert_eq!(c.auth_mode, AuthMode::ApiKey);
        assert_eq!(
            c.api_keys,
            Some(ApiKeysLocation::Secret("arn:aws:secretsmanager:x".into()))
        );
    }

    #[test]
    fn unauthenticated_lambda_needs_an_explicit_opt_in() {
        let vars = [("S3_BUCKET_NAME", "assets"), ("AUTH_MODE", "none")];
        let err = config(RunMode::Lambda, StoreKind::S3, &vars).unwrap_err();
        assert_eq!(err.var, "AUTH_MODE");
        assert!(err.to_string().contains("ALLOW_UNAUTHENTICATED=true"));
        let mut opted_in = vars.to_vec();
        opted_in.push(("ALLOW_UNAUTHENTICATED", "true"));
        assert_eq!(
            config(RunMode::Lambda, StoreKind::S3, &opted_in)
                .unwrap()
                .auth_mode,
            AuthMode::None
        );
    }

    #[test]
    fn default_bucket_is_always_allowed() {
        let c = config(
            RunMode::Serve,
            StoreKind::S3,
            &[
                ("S3_BUCKET_NAME", "main-bucket"),
                ("ALLOWED_BUCKETS", "other-bucket"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.allowed_buckets,
            vec!["main-bucket".to_owned(), "other-bucket".to_owned()]
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_the_fix() {
        for (var, value) in [
            ("DEFAULT_QUALITY", "0"),
            ("DEFAULT_QUALITY", "high"),
            ("DEFAULT_FORMAT", "bmp"),
            ("MAX_PIXELS", "-1"),
            ("PUBLIC_BASE_URL", "cdn.example.com"),
            ("S3_FORCE_PATH_STYLE", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("S3_BUCKET_NAME", "Bad_Bucket"),
            ("MULTIPART_THRESHOLD_BYTES", "1000"),
            ("MAX_CONCURRENCY", "0"),
            ("STAGING_URL_EXPIRY_SECONDS", "999999999"),
        ] {
            let err = config(RunMode::Serve, StoreKind::Embedded, &[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn storage_tuning_defaults_match_the_documented_values() {
        let c = config(RunMode::Serve, StoreKind::Embedded, &[]).unwrap();
        let t = &c.storage_tuning;
        assert_eq!(t, &StorageTuning::default());
        assert_eq!(t.max_attempts, 3);
        assert_eq!(t.retry_mode, RetryMode::Standard);
        assert_eq!(t.connect_timeout, Duration::from_millis(3000));
        assert_eq!(t.attempt_timeout, Duration::from_millis(10_000));
        assert_eq!(t.operation_timeout, Duration::from_millis(30_000));
        assert_eq!(t.breaker_threshold, 5);
        assert_eq!(t.breaker_cooldown, Duration::from_secs(10));
    }

    #[test]
    fn storage_tuning_reads_every_variable() {
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[
                ("S3_MAX_ATTEMPTS", "5"),
                ("S3_RETRY_MODE", "Adaptive"),
                ("S3_RETRY_INITIAL_BACKOFF_MS", "50"),
                ("S3_RETRY_MAX_BACKOFF_MS", "400"),
                ("S3_CONNECT_TIMEOUT_MS", "250"),
                ("S3_ATTEMPT_TIMEOUT_MS", "800"),
                ("S3_OPERATION_TIMEOUT_MS", "4000"),
                ("CIRCUIT_BREAKER_THRESHOLD", "0"),
                ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "2"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.storage_tuning,
            StorageTuning {
                max_attempts: 5,
                retry_mode: RetryMode::Adaptive,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(400),
                connect_timeout: Duration::from_millis(250),
                attempt_timeout: Duration::from_millis(800),
                operation_timeout: Duration::from_millis(4000),
                breaker_threshold: 0,
                breaker_cooldown: Duration::from_secs(2),
            }
        );
    }

    #[test]
    fn timeout_defaults_never_exceed_a_shorter_operation_timeout() {
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[("S3_OPERATION_TIMEOUT_MS", "2000")],
        )
        .unwrap();
        assert_eq!(
            c.storage_tuning.attempt_timeout,
            Duration::from_millis(2000)
        );
        assert_eq!(
            c.storage_tuning.connect_timeout,
            Duration::from_millis(2000)
        );
    }

    #[test]
    fn bad_storage_tuning_names_the_variable_and_the_fix() {
        for (vars, var, hint) in [
            (
                vec![("S3_MAX_ATTEMPTS", "0")],
                "S3_MAX_ATTEMPTS",
                "1 (no retries)",
            ),
            (vec![("S3_MAX_ATTEMPTS", "11")], "S3_MAX_ATTEMPTS", "to 10"),
            (
                vec![("S3_MAX_ATTEMPTS", "three")],
                "S3_MAX_ATTEMPTS",
                "not valid",
            ),
            (
                vec![("S3_RETRY_MODE", "legacy")],
                "S3_RETRY_MODE",
                "adaptive",
            ),
            (
                vec![("S3_CONNECT_TIMEOUT_MS", "0")],
                "S3_CONNECT_TIMEOUT_MS",
                "positive",
            ),
            (
                vec![("S3_OPERATION_TIMEOUT_MS", "-5")],
                "S3_OPERATION_TIMEOUT_MS",
                "not valid",
            ),
            (
                vec![
                    ("S3_OPERATION_TIMEOUT_MS", "1000"),
                    ("S3_ATTEMPT_TIMEOUT_MS", "5000"),
                ],
                "S3_ATTEMPT_TIMEOUT_MS",
                "raise S3_OPERATION_TIMEOUT_MS",
            ),
            (
                vec![
                    ("S3_OPERATION_TIMEOUT_MS", "1000"),
                    ("S3_CONNECT_TIMEOUT_MS", "3000"),
                ],
                "S3_CONNECT_TIMEOUT_MS",
                "raise S3_OPERATION_TIMEOUT_MS",
            ),
            (
                vec![
                    ("S3_RETRY_INITIAL_BACKOFF_MS", "5000"),
                    ("S3_RETRY_MAX_BACKOFF_MS", "100"),
                ],
                "S3_RETRY_INITIAL_BACKOFF_MS",
                "raise the maximum",
            ),
            (
                vec![("CIRCUIT_BREAKER_THRESHOLD", "-1")],
                "CIRCUIT_BREAKER_THRESHOLD",
                "not valid",
            ),
            (
                vec![("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "0")],
                "CIRCUIT_BREAKER_COOLDOWN_SECONDS",
                "CIRCUIT_BREAKER_THRESHOLD=0",
            ),
        ] {
            let err = config(RunMode::Serve, StoreKind::Embedded, &vars).unwrap_err();
            assert_eq!(err.var, var, "{vars:?}");
            let text = err.to_string();
            assert!(
                text.starts_with(var) && text.contains(hint),
                "{vars:?}: {text}"
            );
        }
    }

    #[test]
    fn custom_endpoint_implies_path_style_and_urls_lose_trailing_slash() {
        let c = config(
            RunMode::Serve,
            StoreKind::S3,
            &[
                ("S3_BUCKET_NAME", "b-1"),
                ("S3_ENDPOINT_URL", "http://127.0.0.1:9000/"),
                ("PUBLIC_BASE_URL", "https://cdn.example.com/"),
            ],
        )
        .unwrap();
        assert!(c.force_path_style);
        assert_eq!(c.s3_endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            c.public_base_url.as_deref(),
            Some("https://cdn.example.com")
        );
    }
}
