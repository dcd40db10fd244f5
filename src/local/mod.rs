//! The embedded S3-compatible store (s3s + s3s-fs) that `serve` and the tests run on loopback.
//!
//! The service talks to it with the real aws-sdk-s3 client, signed with credentials made up at
//! start, exactly as it talks to AWS. Anonymous callers may only GET/HEAD objects outside the
//! staging prefix, so returned URLs open in a browser while nothing else is public.

use std::net::SocketAddr;
use std::path::Path;

use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::path::S3Path;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::listener::{self, ConnectionLimits};
use crate::primitives::random_hex;
use crate::storage::StaticCredentials;

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
        private_prefix: &str,
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
            builder.set_access(PublicReadOnly {
                private_prefix: private_prefix.to_owned(),
            });
            builder.build()
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

/// Signed requests may do anything; anonymous ones may only read public objects.
struct PublicReadOnly {
    private_prefix: String,
}

#[async_trait::async_trait]
impl S3Access for PublicReadOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let read = matches!(cx.s3_op().name(), "GetObject" | "HeadObject");
        let public_key = match cx.s3_path() {
            S3Path::Object { key, .. } => {
                self.private_prefix.is_empty() || !key.starts_with(self.private_prefix.as_str())
            }
            _ => false,
        };
        if read && public_key {
            Ok(())
        } else {
            Err(s3s::s3_error!(
                AccessDenied,
                "Anonymous access is limited to reading public objects"
            ))
        }
    }
}
