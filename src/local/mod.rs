//! The embedded S3-compatible store (s3s + s3s-fs) that `serve` and the tests run on loopback.
//!
//! The service talks to it with the real aws-sdk-s3 client, signed with credentials made up at
//! start, exactly as it talks to AWS. Anyone else gets what S3 would give them under the
//! deployed bucket policy and no more: anonymous reads of normalized keys under `KEY_PREFIX/`,
//! and through a presigned URL one PUT of an image into the staging prefix ([`access`]). Every
//! response carries `nosniff` and a restrictive CSP, and conditional writes are atomic
//! ([`http`]), as on S3.

mod access;
mod http;

use std::net::SocketAddr;
use std::path::Path;

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::listener::{self, ConnectionLimits};
use crate::primitives::random_hex;
use crate::storage::StaticCredentials;

/// What the embedded store lets callers other than this server do; the same rules the deployed
/// bucket policy and presigned URLs give on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// `KEY_PREFIX`, without slashes at either end: anonymous callers may GET/HEAD objects under
    /// `<public_prefix>/` (any key outside the staging prefix when empty).
    pub public_prefix: String,
    /// `STAGING_PREFIX`, ending in `/`: presigned PUTs land here; never readable anonymously.
    pub staging_prefix: String,
    /// `MAX_INPUT_BYTES`: the largest body a presigned PUT may carry, whatever it was signed for.
    pub max_staged_bytes: u64,
}

/// A running embedded store; stops when dropped.
pub struct EmbeddedStore {
    endpoint: String,
    credentials: StaticCredentials,
    server: JoinHandle<()>,
}

impl EmbeddedStore {
    /// Serves `data_dir` (created if missing) as an S3 endpoint on `listen` (port 0 = any free
    /// port), its connections bounded by `limits`.
    pub async fn start(
        data_dir: &Path,
        listen: SocketAddr,
        settings: StoreSettings,
        limits: ConnectionLimits,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display())
        })?;
        let fs = s3s_fs::FileSystem::new(data_dir).map_err(|e| {
            anyhow::anyhow!("cannot open data directory {}: {e:?}", data_dir.display())
        })?;
        let credentials = StaticCredentials {
            access_key_id: format!("local-{}", random_hex(8)),
            secret_access_key: random_hex(32),
        };
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
            ));
            builder.set_access(access::StoreAccess::new(settings));
            http::secured(builder.build())
        };
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {listen} for the embedded S3 store: {e}")
        })?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(listener::serve(
            listener,
            limits,
            move |_| service.clone(),
            std::future::pending(),
        ));
        Ok(EmbeddedStore {
            endpoint: format!("http://{addr}"),
            credentials,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn credentials(&self) -> StaticCredentials {
        self.credentials.clone()
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}
