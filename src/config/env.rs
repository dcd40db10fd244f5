//! Reading the environment into the subsystems' settings: each variable once, each check with a
//! message that names the variable and the fix. Defaults come from the settings types.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Config, ConfigError, EMBEDDED_DEFAULT_BUCKET, RunMode, StoreKind};
use crate::app::{AllowedHosts, HttpSettings, LAMBDA_REQUEST_LIMIT};
use crate::auth::{
    AuthMode, AuthSettings, IssuerUrl, OAuthSettings, PrincipalsLocation, ResourceUrl,
    SubjectPrefix,
};
use crate::imaging::{ImageDefaults, Limits, Quality};
use crate::listener::ConnectionLimits;
use crate::storage::{MultipartPolicy, RetryMode, StorageSettings, StorageTuning, keys};
use crate::telemetry::{LogFormat, TelemetrySettings};
use crate::upload::{BatchLimits, UploadSettings};

const MIB: usize = 1024 * 1024;
/// Smallest `MAX_REQUEST_BYTES` that still admits an ordinary JSON-RPC call.
const MIN_REQUEST_BYTES: usize = 4096;

pub(super) fn read(
    mode: RunMode,
    store: StoreKind,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let env = Env(lookup);
    let region = env
        .string("AWS_REGION")
        .or_else(|| env.string("AWS_DEFAULT_REGION"));
    Ok(Config {
        storage: storage(&env, region.clone())?,
        auth: auth(&env, mode, region)?,
        http: http(&env, mode)?,
        upload: upload(&env, store)?,
        telemetry: telemetry(&env, mode)?,
    })
}

fn storage(env: &Env, region: Option<String>) -> Result<StorageSettings, ConfigError> {
    let endpoint_url = env.url("S3_ENDPOINT_URL")?;
    let force_path_style = env
        .parse::<Flag>("S3_FORCE_PATH_STYLE")?
        .map_or(endpoint_url.is_some(), |Flag(on)| on);
    Ok(StorageSettings {
        region,
        endpoint_url,
        force_path_style,
        public_base_url: env.url("PUBLIC_BASE_URL")?,
        tuning: storage_tuning(env)?,
        multipart: MultipartPolicy {
            threshold: env.ranged(
                "MULTIPART_THRESHOLD_BYTES",
                MultipartPolicy::default().threshold,
                MultipartPolicy::MIN_PART..=5 * 1024 * MIB,
            )?,
            ..MultipartPolicy::default()
        },
    })
}

fn storage_tuning(env: &Env) -> Result<StorageTuning, ConfigError> {
    let mut tuning = StorageTuning::default();
    retries(env, &mut tuning)?;
    timeouts(env, &mut tuning)?;
    breaker(env, &mut tuning)?;
    Ok(tuning)
}

/// A positive number of milliseconds, or `default` when unset.
fn millis(env: &Env, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
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
}

fn retries(env: &Env, tuning: &mut StorageTuning) -> Result<(), ConfigError> {
    let defaults = StorageTuning::default();
    tuning.max_attempts = env
        .parse::<u32>("S3_MAX_ATTEMPTS")?
        .unwrap_or(defaults.max_attempts);
    if !(1..=StorageTuning::MAX_ATTEMPTS).contains(&tuning.max_attempts) {
        return Err(ConfigError {
            var: "S3_MAX_ATTEMPTS",
            message: format!(
                "is {}; use 1 (no retries) to {} attempts ({} is the default)",
                tuning.max_attempts,
                StorageTuning::MAX_ATTEMPTS,
                defaults.max_attempts
            ),
        });
    }
    tuning.retry_mode = match env.string("S3_RETRY_MODE").as_deref() {
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
    tuning.initial_backoff = millis(env, "S3_RETRY_INITIAL_BACKOFF_MS", defaults.initial_backoff)?;
    tuning.max_backoff = millis(env, "S3_RETRY_MAX_BACKOFF_MS", defaults.max_backoff)?;
    if tuning.initial_backoff > tuning.max_backoff {
        return Err(ConfigError {
            var: "S3_RETRY_INITIAL_BACKOFF_MS",
            message: format!(
                "is {} ms, more than S3_RETRY_MAX_BACKOFF_MS ({} ms); lower it or raise the maximum",
                tuning.initial_backoff.as_millis(),
                tuning.max_backoff.as_millis()
            ),
        });
    }
    Ok(())
}

fn timeouts(env: &Env, tuning: &mut StorageTuning) -> Result<(), ConfigError> {
    let defaults = StorageTuning::default();
    let operation = millis(env, "S3_OPERATION_TIMEOUT_MS", defaults.operation_timeout)?;
    // Defaults never exceed a shorter operation budget; explicit values that do are refused.
    let connect = millis(
        env,
        "S3_CONNECT_TIMEOUT_MS",
        defaults.connect_timeout.min(operation),
    )?;
    let attempt = millis(
        env,
        "S3_ATTEMPT_TIMEOUT_MS",
        defaults.attempt_timeout.min(operation),
    )?;
    for (var, value) in [
        ("S3_ATTEMPT_TIMEOUT_MS", attempt),
        ("S3_CONNECT_TIMEOUT_MS", connect),
    ] {
        if value > operation {
            return Err(ConfigError {
                var,
                message: format!(
                    "is {} ms, longer than S3_OPERATION_TIMEOUT_MS ({} ms), which bounds the whole call; \
                     lower it or raise S3_OPERATION_TIMEOUT_MS",
                    value.as_millis(),
                    operation.as_millis()
                ),
            });
        }
    }
    tuning.operation_timeout = operation;
    tuning.connect_timeout = connect;
    tuning.attempt_timeout = attempt;
    Ok(())
}

fn breaker(env: &Env, tuning: &mut StorageTuning) -> Result<(), ConfigError> {
    let defaults = StorageTuning::default();
    tuning.breaker_threshold = env
        .parse::<u32>("CIRCUIT_BREAKER_THRESHOLD")?
        .unwrap_or(defaults.breaker_threshold);
    let cooldown_seconds = env
        .parse::<u64>("CIRCUIT_BREAKER_COOLDOWN_SECONDS")?
        .unwrap_or(defaults.breaker_cooldown.as_secs());
    let max_cooldown = StorageTuning::MAX_COOLDOWN.as_secs();
    if !(1..=max_cooldown).contains(&cooldown_seconds) {
        return Err(ConfigError {
            var: "CIRCUIT_BREAKER_COOLDOWN_SECONDS",
            message: format!(
                "is {cooldown_seconds}; use 1 to {max_cooldown} seconds ({} is the default); \
                 to turn the breaker off set CIRCUIT_BREAKER_THRESHOLD=0",
                defaults.breaker_cooldown.as_secs()
            ),
        });
    }
    tuning.breaker_cooldown = Duration::from_secs(cooldown_seconds);
    Ok(())
}

fn auth(env: &Env, mode: RunMode, region: Option<String>) -> Result<AuthSettings, ConfigError> {
    let principals = match (
        env.string("API_KEYS_SECRET_ID"),
        env.string("API_KEYS_FILE"),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                var: "API_KEYS_SECRET_ID",
                message: "and API_KEYS_FILE are both set; keep one".into(),
            });
        }
        (Some(secret), None) => Some(PrincipalsLocation::Secret(secret)),
        (None, Some(file)) => Some(PrincipalsLocation::File(file.into())),
        (None, None) => None,
    };
    let auth_mode = match env.parse::<AuthMode>("AUTH_MODE")? {
        Some(explicit) if explicit.is_none() && principals.is_some() => {
            // Keys that are configured but not checked look like protection and are none.
            return Err(ConfigError {
                var: "AUTH_MODE",
                message: "is none, yet API_KEYS_FILE or API_KEYS_SECRET_ID is set: the keys would be \
                          ignored and every caller admitted. Set AUTH_MODE=api_key to require them, or \
                          unset the keys variable to run unauthenticated"
                    .into(),
            });
        }
        Some(explicit) => explicit,
        // Whoever configures keys means them to be checked, on a laptop as under Lambda.
        None if principals.is_some() => AuthMode::API_KEY,
        None => match mode {
            RunMode::Lambda => AuthMode::API_KEY,
            RunMode::Serve => AuthMode::NONE,
        },
    };
    if auth_mode.needs_principals() && principals.is_none() {
        return Err(ConfigError {
            var: "API_KEYS_SECRET_ID",
            message: "is not set, and AUTH_MODE is api_key or iam: set it to the Secrets Manager secret \
                      holding the principals document (or API_KEYS_FILE to a local file), or AUTH_MODE=none \
                      for an unauthenticated local server"
                .into(),
        });
    }
    let oauth = oauth(env, auth_mode)?;
    if oauth
        .as_ref()
        .is_some_and(|o| o.default_prefix.is_none() && principals.is_none())
    {
        return Err(ConfigError {
            var: "API_KEYS_SECRET_ID",
            message: "is not set, and AUTH_MODE includes oauth without OAUTH_DEFAULT_PREFIX: no token \
                      could be let in. Point API_KEYS_SECRET_ID (or API_KEYS_FILE) at a principals document \
                      with oauth_group / oauth_subject entries, or set OAUTH_DEFAULT_PREFIX=users/{sub}/*"
                .into(),
        });
    }
    Ok(AuthSettings {
        mode: auth_mode,
        principals,
        ttl: Duration::from_secs(env.ranged(
            "API_KEYS_TTL_SECONDS",
            AuthSettings::DEFAULT_TTL.as_secs(),
            0..=86_400,
        )?),
        allow_unauthenticated: env
            .parse::<Flag>("ALLOW_UNAUTHENTICATED")?
            .is_some_and(|Flag(on)| on),
        region,
        oauth,
    })
}

/// The `OAUTH_*` variables (and `MCP_RESOURCE_URL`): required when `AUTH_MODE` includes oauth,
/// refused when it does not (settings that are never checked look like protection).
fn oauth(env: &Env, mode: AuthMode) -> Result<Option<OAuthSettings>, ConfigError> {
    let issuers = env
        .list("OAUTH_ISSUER")
        .iter()
        .map(|raw| {
            raw.parse::<IssuerUrl>().map_err(|e| ConfigError {
                var: "OAUTH_ISSUER",
                message: e,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !mode.oauth {
        return match issuers.is_empty() {
            true => Ok(None),
            false => Err(ConfigError {
                var: "OAUTH_ISSUER",
                message: format!(
                    "is set, but AUTH_MODE ({mode}) does not include oauth: tokens would never be \
                     checked. Add it (e.g. AUTH_MODE=api_key,oauth) or unset OAUTH_ISSUER"
                ),
            }),
        };
    }
    if issuers.is_empty() {
        return Err(ConfigError {
            var: "OAUTH_ISSUER",
            message: "is not set, and AUTH_MODE includes oauth: set it to your identity provider's issuer \
                      URL, e.g. https://cognito-idp.<region>.amazonaws.com/<user pool id>, \
                      https://<org>.okta.com/oauth2/default or https://login.microsoftonline.com/<tenant>/v2.0"
                .into(),
        });
    }
    let defaults = OAuthSettings::for_issuers(issuers);
    let seconds = |var, default: Duration| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(env.ranged(
            var,
            default.as_secs(),
            1..=86_400,
        )?))
    };
    Ok(Some(OAuthSettings {
        audiences: env.list("OAUTH_AUDIENCE"),
        client_ids: env.list("OAUTH_CLIENT_IDS"),
        // Space- or comma-separated, as scopes are written in tokens and in lists.
        required_scopes: env
            .string("OAUTH_REQUIRED_SCOPES")
            .map(|v| {
                v.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        groups_claim: env
            .string("OAUTH_GROUPS_CLAIM")
            .unwrap_or(defaults.groups_claim.clone()),
        default_prefix: env.parse::<SubjectPrefix>("OAUTH_DEFAULT_PREFIX")?,
        resource: env.parse::<ResourceUrl>("MCP_RESOURCE_URL")?,
        jwks_ttl: seconds("OAUTH_JWKS_TTL_SECONDS", defaults.jwks_ttl)?,
        jwks_min_refresh: seconds("OAUTH_JWKS_MIN_REFRESH_SECONDS", defaults.jwks_min_refresh)?,
        metadata_proxy: match env.parse::<Flag>("OAUTH_METADATA_PROXY")? {
            Some(Flag(true)) if defaults.issuers.len() != 1 => {
                return Err(ConfigError {
                    var: "OAUTH_METADATA_PROXY",
                    message: format!(
                        "is true with {} issuers in OAUTH_ISSUER; it stands in for exactly one",
                        defaults.issuers.len()
                    ),
                });
            }
            flag => flag.is_some_and(|Flag(on)| on),
        },
        ..defaults
    }))
}

fn http(env: &Env, mode: RunMode) -> Result<HttpSettings, ConfigError> {
    let allowed_hosts = match env.list("MCP_ALLOWED_HOSTS") {
        hosts if hosts.iter().any(|h| h == "*") => AllowedHosts::Any,
        hosts if !hosts.is_empty() => AllowedHosts::Only(hosts),
        _ => match mode {
            RunMode::Lambda => AllowedHosts::Any,
            RunMode::Serve => AllowedHosts::loopback(),
        },
    };
    let max_request_bytes = env.ranged(
        "MAX_REQUEST_BYTES",
        LAMBDA_REQUEST_LIMIT,
        MIN_REQUEST_BYTES..=usize::MAX,
    )?;
    if mode == RunMode::Lambda && max_request_bytes > LAMBDA_REQUEST_LIMIT {
        return Err(ConfigError {
            var: "MAX_REQUEST_BYTES",
            message: format!(
                "is {max_request_bytes}, above Lambda's request limit of {LAMBDA_REQUEST_LIMIT} bytes: larger \
                 requests never reach the function. Lower it to at most {LAMBDA_REQUEST_LIMIT}; agents send \
                 larger images through create_upload_url"
            ),
        });
    }
    let defaults = ConnectionLimits::for_request_bytes(max_request_bytes);
    Ok(HttpSettings {
        allowed_hosts,
        allowed_origins: env.list("MCP_ALLOWED_ORIGINS"),
        max_request_bytes,
        connections: ConnectionLimits {
            max_connections: env.ranged(
                "MAX_CONNECTIONS",
                defaults.max_connections,
                1..=1_000_000,
            )?,
            header_read_timeout: millis(
                env,
                "HEADER_READ_TIMEOUT_MS",
                defaults.header_read_timeout,
            )?,
            body_read_timeout: millis(env, "BODY_READ_TIMEOUT_MS", defaults.body_read_timeout)?,
        },
    })
}

fn upload(env: &Env, store: StoreKind) -> Result<UploadSettings, ConfigError> {
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
    let fallback = UploadSettings::for_bucket(&default_bucket);
    let image = ImageDefaults::default();
    let batch = BatchLimits::default();
    let (key_prefix, staging_prefix) = key_layout(env, &fallback)?;
    let limits = Limits {
        max_pixels: env.ranged("MAX_PIXELS", fallback.limits.max_pixels, 1..=u64::MAX)?,
        max_input_bytes: env.ranged(
            "MAX_INPUT_BYTES",
            fallback.limits.max_input_bytes,
            1..=usize::MAX,
        )?,
    };
    let decode_budget_pixels = env.ranged(
        "DECODE_BUDGET_PIXELS",
        fallback.decode_budget_pixels.max(limits.max_pixels),
        1_000_000..=u64::MAX,
    )?;
    if decode_budget_pixels < limits.max_pixels {
        return Err(ConfigError {
            var: "DECODE_BUDGET_PIXELS",
            message: format!(
                "is {decode_budget_pixels}, below MAX_PIXELS ({}): one image as large as allowed would \
                 not fit in the budget that bounds decoding memory. Raise DECODE_BUDGET_PIXELS to at \
                 least MAX_PIXELS, or lower MAX_PIXELS",
                limits.max_pixels
            ),
        });
    }
    Ok(UploadSettings {
        allowed_buckets,
        key_prefix,
        staging_prefix,
        staging_url_expiry: Duration::from_secs(env.ranged(
            "STAGING_URL_EXPIRY_SECONDS",
            fallback.staging_url_expiry.as_secs(),
            1..=604_800,
        )?),
        max_open_upload_urls: env.ranged(
            "MAX_OPEN_UPLOAD_URLS",
            fallback.max_open_upload_urls,
            1..=10_000,
        )?,
        defaults: ImageDefaults {
            format: env.parse("DEFAULT_FORMAT")?.unwrap_or(image.format),
            quality: env
                .parse::<Quality>("DEFAULT_QUALITY")?
                .unwrap_or(image.quality),
            max_width: env.parse("DEFAULT_MAX_WIDTH")?.unwrap_or(image.max_width),
            max_height: env.parse("DEFAULT_MAX_HEIGHT")?.unwrap_or(image.max_height),
        },
        limits,
        decode_budget_pixels,
        batch: BatchLimits {
            max_items: env.ranged("MAX_BATCH_ITEMS", batch.max_items, 1..=1000)?,
            max_bytes: env.ranged("MAX_BATCH_BYTES", batch.max_bytes, 1..=usize::MAX)?,
            max_concurrency: env.ranged("MAX_CONCURRENCY", batch.max_concurrency, 1..=64)?,
            ..batch
        },
        default_bucket,
    })
}

/// `KEY_PREFIX` (the public root, without slashes at the ends) and `STAGING_PREFIX` (ending in
/// `/`): each a safe key path, and neither inside the other. Staged originals keep their EXIF and
/// GPS data, so a staging area under the public root (or a public root at the bucket's, which
/// contains it) would publish them.
fn key_layout(env: &Env, fallback: &UploadSettings) -> Result<(String, String), ConfigError> {
    let folder = |var: &'static str, default: &str, at_root: &str| -> Result<String, ConfigError> {
        let Some(raw) = env.string(var) else {
            return Ok(default.trim_matches('/').to_owned());
        };
        let folder = raw.trim_matches('/');
        if folder.is_empty() {
            return Err(ConfigError {
                var,
                message: format!("is {raw:?}, the bucket root: {at_root}"),
            });
        }
        keys::validate_key("the value", folder).map_err(|e| ConfigError {
            var,
            message: e.to_string(),
        })?;
        Ok(folder.to_owned())
    };
    let key_prefix = folder(
        "KEY_PREFIX",
        &fallback.key_prefix,
        "everything in the bucket would be public, the staging area included. Set it to a folder \
         such as images (a CDN can serve that folder at the domain's root through its origin path)",
    )?;
    let staging = folder(
        "STAGING_PREFIX",
        &fallback.staging_prefix,
        "presigned uploads need a folder of their own, outside KEY_PREFIX, e.g. _staging/",
    )?;
    let (public_root, staging_root) = (format!("{key_prefix}/"), format!("{staging}/"));
    if staging_root.starts_with(&public_root) {
        return Err(ConfigError {
            var: "STAGING_PREFIX",
            message: format!(
                "{staging_root:?} is inside KEY_PREFIX {key_prefix:?}, which is public: staged originals, \
                 EXIF and GPS data included, would be readable by anyone. Move it out, e.g. \
                 STAGING_PREFIX={}",
                UploadSettings::DEFAULT_STAGING_PREFIX
            ),
        });
    }
    if public_root.starts_with(&staging_root) {
        return Err(ConfigError {
            var: "KEY_PREFIX",
            message: format!(
                "{key_prefix:?} is inside STAGING_PREFIX {staging_root:?}, which holds presigned uploads \
                 only: no final image could be written. Move one out of the other, e.g. KEY_PREFIX={}",
                UploadSettings::DEFAULT_KEY_PREFIX
            ),
        });
    }
    Ok((key_prefix, staging_root))
}

fn telemetry(env: &Env, mode: RunMode) -> Result<TelemetrySettings, ConfigError> {
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
    Ok(TelemetrySettings {
        log_format,
        metrics_namespace: env
            .string("METRICS_NAMESPACE")
            .unwrap_or_else(|| TelemetrySettings::DEFAULT_NAMESPACE.to_owned()),
    })
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
