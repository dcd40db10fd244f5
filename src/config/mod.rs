//! Typed configuration, read once from the environment at start and validated. `Config` is a
//! bag of the subsystems' own settings; [`env`] reads the variables into them. Only this module
//! and the composition root (`runtime`) know `Config`; the subsystems know their settings.

mod env;

use crate::app::HttpSettings;
use crate::auth::AuthSettings;
use crate::storage::StorageSettings;
use crate::telemetry::TelemetrySettings;
use crate::upload::UploadSettings;

/// Where the process runs; it decides the defaults that differ between Lambda and a laptop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Under the Lambda runtime (Function URL / API Gateway).
    Lambda,
    /// `serve` or `stdio` on this machine: loopback hosts, no authentication by default.
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

/// Everything the service needs to know, validated once, grouped by the subsystem it configures.
#[derive(Clone, Debug)]
pub struct Config {
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub upload: UploadSettings,
    pub telemetry: TelemetrySettings,
}

/// A configuration variable that is missing or malformed; the message names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// Bucket the embedded store creates when `S3_BUCKET_NAME` is not set.
pub const EMBEDDED_DEFAULT_BUCKET: &str = "uploads";

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
        env::read(mode, store, &lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{AllowedHosts, LAMBDA_REQUEST_LIMIT};
    use crate::auth::{AuthMode, PrincipalsLocation};
    use crate::storage::{RetryMode, StorageTuning};
    use crate::telemetry::LogFormat;
    use std::collections::HashMap;
    use std::time::Duration;

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
        assert_eq!(c.upload.default_bucket, EMBEDDED_DEFAULT_BUCKET);
        assert_eq!(
            c.upload.allowed_buckets,
            vec![EMBEDDED_DEFAULT_BUCKET.to_owned()]
        );
        assert_eq!(c.upload.defaults.quality.get(), 80);
        assert_eq!(c.http.max_request_bytes, LAMBDA_REQUEST_LIMIT);
        assert_eq!(c.http.connections.max_connections, 170);
        assert_eq!(
            c.http.connections.header_read_timeout,
            Duration::from_secs(10)
        );
        assert_eq!(c.telemetry.log_format, LogFormat::Text);
        assert!(
            matches!(c.http.allowed_hosts, AllowedHosts::Only(ref h) if h.contains(&"127.0.0.1".to_owned()))
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
        assert_eq!(c.http.allowed_hosts, AllowedHosts::Any);
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
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
            c.http.allowed_hosts,
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
        assert_eq!(c.auth.mode, AuthMode::API_KEY);
        assert_eq!(
            c.auth.principals,
            Some(PrincipalsLocation::Secret(
                "arn:aws:secretsmanager:x".into()
            ))
        );
    }

    #[test]
    fn oauth_settings_are_read_with_their_defaults() {
        let c = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[
                ("S3_BUCKET_NAME", "assets"),
                ("API_KEYS_SECRET_ID", "keys"),
                ("AUTH_MODE", "api_key,oauth"),
                (
                    "OAUTH_ISSUER",
                    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
                ),
                ("OAUTH_CLIENT_IDS", "app-1, app-2"),
                ("OAUTH_REQUIRED_SCOPES", "s3-upload-mcp/upload"),
                ("OAUTH_GROUPS_CLAIM", "cognito:groups"),
                ("MCP_RESOURCE_URL", "https://mcp.example.com/mcp"),
            ],
        )
        .unwrap();
        assert!(c.auth.mode.api_key && c.auth.mode.oauth);
        let oauth = c.auth.oauth.expect("oauth settings");
        assert_eq!(
            oauth.issuers[0].as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
        );
        assert_eq!(oauth.client_ids, ["app-1", "app-2"]);
        assert_eq!(oauth.required_scopes, ["s3-upload-mcp/upload"]);
        assert_eq!(oauth.groups_claim, "cognito:groups");
        assert!(oauth.audiences.is_empty(), "default: the resource URL");
        assert_eq!(oauth.jwks_ttl, Duration::from_secs(600));
        assert_eq!(oauth.jwks_min_refresh, Duration::from_secs(30));
        assert!(!oauth.metadata_proxy);
        // Without oauth in AUTH_MODE there are no OAuth settings at all.
        let plain = config(
            RunMode::Lambda,
            StoreKind::S3,
            &[("S3_BUCKET_NAME", "assets"), ("API_KEYS_SECRET_ID", "keys")],
        )
        .unwrap();
        assert!(plain.auth.oauth.is_none());
    }

    #[test]
    fn oauth_misconfigurations_name_the_variable_and_the_fix() {
        let issuer = ("OAUTH_ISSUER", "https://idp.example.com");
        let keys = ("API_KEYS_FILE", "/keys.json");
        for (vars, var, hint) in [
            (
                vec![("AUTH_MODE", "oauth"), keys],
                "OAUTH_ISSUER",
                "is not set",
            ),
            (
                vec![("AUTH_MODE", "api_key"), keys, issuer],
                "OAUTH_ISSUER",
                "does not include oauth",
            ),
            (
                vec![
                    ("AUTH_MODE", "oauth"),
                    keys,
                    ("OAUTH_ISSUER", "http://idp.example.com"),
                ],
                "OAUTH_ISSUER",
                "https",
            ),
            (
                vec![("AUTH_MODE", "oauth"), issuer],
                "API_KEYS_SECRET_ID",
                "OAUTH_DEFAULT_PREFIX",
            ),
            (
                vec![
                    ("AUTH_MODE", "oauth"),
                    issuer,
                    ("OAUTH_DEFAULT_PREFIX", "users/{sub}*"),
                ],
                "OAUTH_DEFAULT_PREFIX",
                "whole folder",
            ),
            (
                vec![
                    ("AUTH_MODE", "oauth"),
                    keys,
                    (
                        "OAUTH_ISSUER",
                        "https://a.example.com,https://b.example.com",
                    ),
                    ("OAUTH_METADATA_PROXY", "true"),
                ],
                "OAUTH_METADATA_PROXY",
                "exactly one",
            ),
            (
                vec![
                    ("AUTH_MODE", "oauth"),
                    keys,
                    issuer,
                    ("OAUTH_JWKS_MIN_REFRESH_SECONDS", "0"),
                ],
                "OAUTH_JWKS_MIN_REFRESH_SECONDS",
                "from 1",
            ),
            (
                vec![("AUTH_MODE", "none,oauth"), keys, issuer],
                "AUTH_MODE",
                "cannot be combined",
            ),
        ] {
            let err = config(RunMode::Serve, StoreKind::Embedded, &vars).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.var, var, "{vars:?}: {text}");
            assert!(text.contains(hint), "{vars:?}: {text}");
        }
        // A default prefix alone is enough: every signed-in caller gets a folder.
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[
                ("AUTH_MODE", "oauth"),
                issuer,
                ("OAUTH_DEFAULT_PREFIX", "users/{sub}/*"),
            ],
        )
        .unwrap();
        assert!(c.auth.principals.is_none());
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
            c.upload.allowed_buckets,
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
            ("MAX_CONNECTIONS", "0"),
            ("HEADER_READ_TIMEOUT_MS", "0"),
            ("BODY_READ_TIMEOUT_MS", "soon"),
        ] {
            let err = config(RunMode::Serve, StoreKind::Embedded, &[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn storage_tuning_defaults_match_the_documented_values() {
        let c = config(RunMode::Serve, StoreKind::Embedded, &[]).unwrap();
        let t = &c.storage.tuning;
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
            c.storage.tuning,
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
            c.storage.tuning.attempt_timeout,
            Duration::from_millis(2000)
        );
        assert_eq!(
            c.storage.tuning.connect_timeout,
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

    fn refusal(mode: RunMode, vars: &[(&str, &str)]) -> ConfigError {
        config(mode, StoreKind::Embedded, vars)
            .err()
            .unwrap_or_else(|| panic!("{vars:?} should be refused"))
    }

    #[test]
    fn a_staging_area_inside_the_public_root_is_refused_with_the_fix() {
        for vars in [
            vec![("STAGING_PREFIX", "images/_staging/")],
            vec![("KEY_PREFIX", "img"), ("STAGING_PREFIX", "img")],
            vec![
                ("KEY_PREFIX", "assets/img/"),
                ("STAGING_PREFIX", "assets/img/up"),
            ],
        ] {
            let err = refusal(RunMode::Serve, &vars);
            assert_eq!(err.var, "STAGING_PREFIX", "{vars:?}");
            let text = err.to_string();
            assert!(
                text.contains("would be readable by anyone")
                    && text.contains("STAGING_PREFIX=_staging/"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_public_root_at_the_bucket_root_or_inside_staging_is_refused() {
        for (value, var, hint) in [
            ("/", "KEY_PREFIX", "the staging area included"),
            ("", "KEY_PREFIX", ""),
            ("_staging/public", "KEY_PREFIX", "KEY_PREFIX=images"),
            ("a/../_staging", "KEY_PREFIX", "'..'"),
            ("a//b", "KEY_PREFIX", "empty segment"),
        ] {
            if value.is_empty() {
                // Empty counts as unset: the default applies.
                let c = config(RunMode::Serve, StoreKind::Embedded, &[(var, value)]).unwrap();
                assert_eq!(c.upload.key_prefix, "images");
                continue;
            }
            let err = refusal(RunMode::Serve, &[(var, value)]);
            assert_eq!(err.var, var, "{value}");
            assert!(err.to_string().contains(hint), "{value}: {err}");
        }
        let err = refusal(RunMode::Serve, &[("STAGING_PREFIX", "/")]);
        assert_eq!(err.var, "STAGING_PREFIX");
        assert!(err.to_string().contains("a folder of their own"), "{err}");
    }

    #[test]
    fn neighbouring_prefixes_are_not_mistaken_for_nested_ones() {
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[
                ("KEY_PREFIX", "/images/"),
                ("STAGING_PREFIX", "images-staging"),
            ],
        )
        .unwrap();
        assert_eq!(c.upload.key_prefix, "images");
        assert_eq!(c.upload.staging_prefix, "images-staging/");
    }

    #[test]
    fn a_request_limit_lambda_would_never_deliver_is_refused_under_lambda_only() {
        let lambda = [
            ("S3_BUCKET_NAME", "assets"),
            ("API_KEYS_SECRET_ID", "keys"),
            ("MAX_REQUEST_BYTES", "10000000"),
        ];
        let err = config(RunMode::Lambda, StoreKind::S3, &lambda).unwrap_err();
        assert_eq!(err.var, "MAX_REQUEST_BYTES");
        assert!(err.to_string().contains("create_upload_url"), "{err}");
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[("MAX_REQUEST_BYTES", "10000000")],
        )
        .unwrap();
        assert_eq!(c.http.max_request_bytes, 10_000_000);
        assert_eq!(
            refusal(RunMode::Serve, &[("MAX_REQUEST_BYTES", "0")]).var,
            "MAX_REQUEST_BYTES"
        );
    }

    #[test]
    fn the_connection_cap_follows_the_request_size_unless_set() {
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[
                ("MAX_REQUEST_BYTES", "1048576"),
                ("HEADER_READ_TIMEOUT_MS", "2500"),
            ],
        )
        .unwrap();
        assert_eq!(c.http.connections.max_connections, 1024);
        assert_eq!(
            c.http.connections.header_read_timeout,
            Duration::from_millis(2500)
        );
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[("MAX_CONNECTIONS", "32")],
        )
        .unwrap();
        assert_eq!(c.http.connections.max_connections, 32);
    }

    #[test]
    fn the_decode_budget_holds_at_least_one_image_as_large_as_allowed() {
        let err = refusal(RunMode::Serve, &[("DECODE_BUDGET_PIXELS", "10000000")]);
        assert_eq!(err.var, "DECODE_BUDGET_PIXELS");
        assert!(err.to_string().contains("MAX_PIXELS (50000000)"), "{err}");
        // Raising MAX_PIXELS alone raises the default budget with it.
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[("MAX_PIXELS", "200000000")],
        )
        .unwrap();
        assert_eq!(c.upload.decode_budget_pixels, 200_000_000);
        assert_eq!(
            refusal(RunMode::Serve, &[("MAX_INPUT_BYTES", "0")]).var,
            "MAX_INPUT_BYTES"
        );
    }

    #[test]
    fn configured_keys_are_checked_unless_auth_is_explicitly_off_which_is_refused() {
        let c = config(
            RunMode::Serve,
            StoreKind::Embedded,
            &[("API_KEYS_FILE", "/k.json")],
        )
        .unwrap();
        assert_eq!(c.auth.mode, AuthMode::API_KEY);
        let err = refusal(
            RunMode::Serve,
            &[("AUTH_MODE", "none"), ("API_KEYS_FILE", "/k.json")],
        );
        assert_eq!(err.var, "AUTH_MODE");
        assert!(err.to_string().contains("AUTH_MODE=api_key"), "{err}");
        let c = config(RunMode::Serve, StoreKind::Embedded, &[]).unwrap();
        assert_eq!(c.auth.mode, AuthMode::NONE);
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
        assert!(c.storage.force_path_style);
        assert_eq!(
            c.storage.endpoint_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            c.storage.public_base_url.as_deref(),
            Some("https://cdn.example.com")
        );
    }
}
