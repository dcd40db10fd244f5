//! The composition root: the one place that turns a validated [`Config`] and how the process
//! was launched into running parts (store, authenticator, uploader, audit) and the [`Services`]
//! the HTTP app and the MCP server share. Entry points and tests call [`build`]; nothing else
//! wires subsystems together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::app::Services;
use crate::auth::{AuthSettings, Authenticator};
use crate::config::{Config, ConfigError};
use crate::local::{EmbeddedStore, StoreSettings};
use crate::mcp::apps::{Origin, ViewOrigins};
use crate::storage::{LocalEndpoint, PutTerms, Storage};
use crate::telemetry::{Audit, AuditSink};
use crate::upload::{UploadSettings, Uploader};

/// Who can reach the server, which decides whether running unauthenticated is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// A Function URL or API Gateway: anyone who has the URL.
    Lambda,
    /// HTTP on this address (`serve`).
    Http(SocketAddr),
    /// stdin/stdout of the client that started the process.
    Stdio,
}

/// The object store to write to.
#[derive(Clone, Debug)]
pub enum Store {
    /// AWS S3 (or `S3_ENDPOINT_URL`) with the default credential chain.
    S3,
    /// An S3-compatible server started in this process, keeping objects in `data_dir`.
    Embedded {
        data_dir: PathBuf,
        listen: SocketAddr,
    },
    /// A store that is already running, reached with static credentials (the tests put a
    /// fault-injecting proxy in front of an embedded store this way).
    Running(LocalEndpoint),
}

/// How the process was launched: what the command line (or the Lambda environment) decided.
#[derive(Clone, Debug)]
pub struct Launch {
    pub exposure: Exposure,
    pub store: Store,
    /// Directories `path` sources may read (stdio's `--allow-dir`, canonical); empty = none.
    pub allowed_dirs: Vec<PathBuf>,
    /// Where audit lines go: stdout, or stderr when stdout carries MCP (stdio) or a test runs.
    pub audit: AuditSink,
}

/// Everything a run needs, built once.
pub struct Runtime {
    pub services: Services,
    /// The embedded store, when there is one; it serves until this is dropped.
    pub embedded: Option<EmbeddedStore>,
}

/// Builds the runtime for `config` as launched. Refuses exposures the configuration does not
/// protect, starts the embedded store if asked, connects to storage, loads the principals.
pub async fn build(config: Config, launch: Launch) -> anyhow::Result<Runtime> {
    refuse_unprotected(&config.auth, launch.exposure)?;
    let (storage, embedded) = connect_store(&config, &launch.store).await?;
    let auth = Authenticator::from_settings(&config.auth).await?;
    let audit = Audit::new(launch.audit, &config.telemetry.metrics_namespace);
    let view_origins = view_origins(&storage, &config.upload).await?;
    let uploader = Uploader::new(config.upload, storage, launch.allowed_dirs);
    Ok(Runtime {
        services: Services {
            uploader: Arc::new(uploader),
            auth,
            audit,
            http: config.http,
            view_origins: Arc::new(view_origins),
        },
        embedded,
    })
}

/// `AUTH_MODE=none` lets anyone who can reach the server write to the bucket: allowed on
/// loopback and stdio; elsewhere only with `ALLOW_UNAUTHENTICATED=true`.
fn refuse_unprotected(auth: &AuthSettings, exposure: Exposure) -> anyhow::Result<()> {
    let reachable_by_others = match exposure {
        Exposure::Stdio => false,
        Exposure::Http(listen) => !listen.ip().is_loopback(),
        Exposure::Lambda => true,
    };
    if !auth.mode.is_none() || !reachable_by_others {
        return Ok(());
    }
    if auth.allow_unauthenticated {
        tracing::warn!(
            ?exposure,
            "AUTH_MODE=none with ALLOW_UNAUTHENTICATED=true: ANYONE who can reach this server can write to your bucket"
        );
        return Ok(());
    }
    if let Exposure::Http(listen) = exposure {
        anyhow::bail!(
            "refusing to serve {listen} without authentication: listen on 127.0.0.1, or set AUTH_MODE=api_key with \
             API_KEYS_FILE (or ALLOW_UNAUTHENTICATED=true if you really mean it)"
        );
    }
    Err(ConfigError {
        var: "AUTH_MODE",
        message:
            "is none under Lambda: anyone could write to your bucket. Use api_key, oauth or iam, or set \
                  ALLOW_UNAUTHENTICATED=true if the endpoint is protected some other way"
                .into(),
    }
    .into())
}

/// The storage client, and for `Store::Embedded` the server it talks to (started first). A local
/// store starts empty: the allowed buckets are created in it.
async fn connect_store(
    config: &Config,
    store: &Store,
) -> anyhow::Result<(Storage, Option<EmbeddedStore>)> {
    let (endpoint, embedded) = match store {
        Store::S3 => return Ok((Storage::connect(&config.storage, None).await, None)),
        Store::Running(endpoint) => (endpoint.clone(), None),
        Store::Embedded { data_dir, listen } => {
            let embedded = EmbeddedStore::start(
                &data_dir.join("s3"),
                *listen,
                store_settings(config),
                config.http.connections,
            )
            .await?;
            let endpoint = LocalEndpoint {
                url: embedded.endpoint().to_owned(),
                credentials: embedded.credentials(),
            };
            (endpoint, Some(embedded))
        }
    };
    let storage = Storage::connect(&config.storage, Some(endpoint)).await;
    for bucket in &config.upload.allowed_buckets {
        storage
            .ensure_bucket(bucket)
            .await
            .with_context(|| format!("cannot create bucket {bucket} in the local store"))?;
    }
    Ok((storage, embedded))
}

/// Where the upload view's requests go, read off the URLs the store makes rather than
/// re-deriving S3's addressing rules: a presigned PUT into the default bucket and a public URL
/// in every bucket a call may name. Presigning sends nothing, but needs credentials: without
/// any (found within a few seconds) the server still starts, its view declares no upload
/// origin, and `create_upload_url` reports the missing credentials as it would anyway.
async fn view_origins(storage: &Storage, upload: &UploadSettings) -> anyhow::Result<ViewOrigins> {
    let origin = |url: &str| Origin::of_url(url).map_err(anyhow::Error::msg);
    let terms = PutTerms {
        content_type: "image/png".to_owned(),
        content_length: 1,
    };
    let probe_key = format!("{}origin-probe", upload.staging_prefix);
    let presign = storage.presign_put(
        &upload.default_bucket,
        &probe_key,
        &terms,
        Duration::from_secs(60),
    );
    let upload_origin = match tokio::time::timeout(Duration::from_secs(5), presign).await {
        Ok(Ok(presigned)) => Some(origin(&presigned.url)?),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot presign an upload URL; the upload view will not be able to upload");
            None
        }
        Err(_) => {
            tracing::warn!("no credentials within 5 s; the upload view will not be able to upload");
            None
        }
    };
    let mut public = Vec::new();
    for bucket in &upload.allowed_buckets {
        let served = origin(&storage.public_url(bucket, "x"))?;
        if !public.contains(&served) {
            public.push(served);
        }
    }
    Ok(ViewOrigins {
        upload: upload_origin,
        public,
    })
}

/// What the embedded store lets others do, from the upload settings it serves: reads under
/// `KEY_PREFIX`, presigned PUTs into `STAGING_PREFIX` up to `MAX_INPUT_BYTES`.
pub fn store_settings(config: &Config) -> StoreSettings {
    StoreSettings {
        public_prefix: config.upload.key_prefix.clone(),
        staging_prefix: config.upload.staging_prefix.clone(),
        max_staged_bytes: u64::try_from(config.upload.limits.max_input_bytes).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMode;
    use std::time::Duration;

    fn auth(mode: AuthMode, allow_unauthenticated: bool) -> AuthSettings {
        AuthSettings {
            mode,
            principals: None,
            ttl: Duration::ZERO,
            allow_unauthenticated,
            region: None,
            oauth: None,
        }
    }

    #[test]
    fn unauthenticated_lambda_needs_an_explicit_opt_in() {
        let err = refuse_unprotected(&auth(AuthMode::NONE, false), Exposure::Lambda).unwrap_err();
        let err = err
            .downcast::<ConfigError>()
            .expect("a configuration error");
        assert_eq!(err.var, "AUTH_MODE");
        assert!(err.to_string().contains("ALLOW_UNAUTHENTICATED=true"));
        assert!(refuse_unprotected(&auth(AuthMode::NONE, true), Exposure::Lambda).is_ok());
    }

    #[test]
    fn unauthenticated_http_is_for_loopback_unless_opted_in() {
        let open = auth(AuthMode::NONE, false);
        let public = Exposure::Http("0.0.0.0:8080".parse().unwrap());
        let err = refuse_unprotected(&open, public).unwrap_err().to_string();
        assert!(err.contains("refusing to serve 0.0.0.0:8080"), "{err}");
        let loopback = Exposure::Http("127.0.0.1:8080".parse().unwrap());
        assert!(refuse_unprotected(&open, loopback).is_ok());
        assert!(refuse_unprotected(&open, Exposure::Stdio).is_ok());
        assert!(refuse_unprotected(&auth(AuthMode::NONE, true), public).is_ok());
        assert!(refuse_unprotected(&auth(AuthMode::API_KEY, false), public).is_ok());
    }
}
