//! A fault-injecting HTTP proxy in front of the embedded S3 store: for a configurable, seeded
//! fraction of requests it answers 503 SlowDown or 500 InternalError, resets the connection,
//! stalls past the attempt timeout, or stores the object and then loses the response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::TestServer;
use s3_upload_mcp::config::RunMode;
use s3_upload_mcp::local::EmbeddedStore;
use s3_upload_mcp::runtime::{self, Store};
use s3_upload_mcp::storage::LocalEndpoint;

/// One way the proxy misbehaves instead of forwarding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `503 SlowDown` with S3's XML error body (throttling).
    SlowDown,
    /// `500 InternalError` with S3's XML error body.
    InternalError,
    /// The TCP connection is reset (RST) without an answer.
    Reset,
    /// No answer for `FaultPlan::stall`, then a reset: longer than the attempt timeout.
    Stall,
    /// The request is forwarded and stored, then the connection is reset instead of answering:
    /// the client cannot know the write happened.
    LostResponse,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::SlowDown,
        Fault::InternalError,
        Fault::Reset,
        Fault::Stall,
        Fault::LostResponse,
    ];

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap()
    }
}

/// What fraction of requests fail, and how.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// 0.0 = forward everything, 1.0 = fault everything.
    pub rate: f64,
    /// Faults drawn from uniformly.
    pub mix: Vec<Fault>,
    /// Seed of the proxy's random number generator (the order of requests still varies with
    /// concurrency; the fault rate does not).
    pub seed: u64,
    /// How long a `Stall` holds the request.
    pub stall: Duration,
}

impl FaultPlan {
    pub fn every_fault(rate: f64) -> Self {
        FaultPlan {
            rate,
            mix: Fault::ALL.to_vec(),
            seed: 0x5EED_F00D,
            stall: Duration::from_secs(5),
        }
    }
}

/// Counts of what the proxy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub forwarded: u64,
    /// Indexed like [`Fault::ALL`].
    pub faults: [u64; 5],
}

impl FaultCounts {
    pub fn injected(&self) -> u64 {
        self.faults.iter().sum()
    }

    pub fn of(&self, fault: Fault) -> u64 {
        self.faults[fault.index()]
    }
}

struct Shared {
    upstream: SocketAddr,
    /// Fault rate in millionths, changeable while running.
    rate_ppm: AtomicU64,
    mix: Vec<Fault>,
    stall: Duration,
    rng: Mutex<u64>,
    requests: AtomicU64,
    forwarded: AtomicU64,
    faults: [AtomicU64; 5],
}

impl Shared {
    /// SplitMix64: small, seeded, good enough to pick faults.
    fn next_u64(&self) -> u64 {
        let mut state = self.rng.lock().unwrap();
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&self) -> Option<Fault> {
        let roll = self.next_u64() % 1_000_000;
        if roll >= self.rate_ppm.load(Ordering::SeqCst) || self.mix.is_empty() {
            return None;
        }
        let fault = self.mix[(self.next_u64() % self.mix.len() as u64) as usize];
        self.faults[fault.index()].fetch_add(1, Ordering::SeqCst);
        Some(fault)
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The running proxy; stops accepting when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream_endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, plan: FaultPlan) -> Self {
        let upstream_addr: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is http://IP:PORT");
        let shared = Arc::new(Shared {
            upstream: upstream_addr,
            rate_ppm: AtomicU64::new(rate_ppm(plan.rate)),
            mix: plan.mix,
            stall: plan.stall,
            rng: Mutex::new(plan.seed),
            requests: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            faults: Default::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                // Zero linger: dropping the socket sends RST, which is how `Reset` is delivered.
                let _ = socket.set_zero_linger();
                let _ = socket.set_nodelay(true);
                let kill = Arc::new(Notify::new());
                let shared = accept_shared.clone();
                let service_kill = kill.clone();
                let service = service_fn(move |request| {
                    handle(shared.clone(), service_kill.clone(), request)
                });
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = kill.notified() => {}
                    }
                });
            }
        });
        FaultProxy {
            addr,
            upstream_endpoint: upstream.to_owned(),
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store behind the proxy, for checking what was really stored.
    pub fn upstream_endpoint(&self) -> &str {
        &self.upstream_endpoint
    }

    /// A URL the proxy would serve, rewritten to go to the store directly.
    pub fn direct_url(&self, url: &str) -> String {
        url.replacen(&self.endpoint(), &self.upstream_endpoint, 1)
    }

    pub fn set_rate(&self, rate: f64) {
        self.shared.rate_ppm.store(rate_ppm(rate), Ordering::SeqCst);
    }

    pub fn counts(&self) -> FaultCounts {
        let mut faults = [0; 5];
        for (count, atomic) in faults.iter_mut().zip(&self.shared.faults) {
            *count = atomic.load(Ordering::SeqCst);
        }
        FaultCounts {
            requests: self.shared.requests.load(Ordering::SeqCst),
            forwarded: self.shared.forwarded.load(Ordering::SeqCst),
            faults,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn rate_ppm(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u64
}

async fn handle(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let fault = shared.pick();
    match fault {
        None => Ok(forward(&shared, request).await),
        Some(Fault::SlowDown) => {
            let _ = request.into_body().collect().await;
            Ok(s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            ))
        }
        Some(Fault::InternalError) => {
            let _ = request.into_body().collect().await;
            Ok(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ))
        }
        Some(Fault::Reset) => reset(&kill).await,
        Some(Fault::Stall) => {
            tokio::time::sleep(shared.stall).await;
            reset(&kill).await
        }
        Some(Fault::LostResponse) => {
            let response = forward(&shared, request).await;
            // Wait for the store to finish answering, so the write has happened, then hang up.
            let _ = response.into_body().collect().await;
            reset(&kill).await
        }
    }
}

/// Resets the client's connection and never answers.
async fn reset(kill: &Notify) -> Result<Response<ProxyBody>, Infallible> {
    kill.notify_one();
    std::future::pending().await
}

async fn forward(shared: &Shared, request: Request<Incoming>) -> Response<ProxyBody> {
    // One upstream connection per request keeps the proxy simple; the Host header is passed
    // through unchanged because SigV4 signed it.
    let result = async {
        let stream = TcpStream::connect(shared.upstream).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
    }
    .await;
    match result {
        Ok(response) => {
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            response.map(BodyExt::boxed)
        }
        Err(e) => s3_error(
            StatusCode::BAD_GATEWAY,
            "BadGateway",
            &format!("fault proxy could not reach the store: {e}"),
        ),
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>fault-proxy</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

impl TestServer {
    /// The app on a loopback port, talking to an embedded store through a [`FaultProxy`] that
    /// follows `plan` (faults start after the buckets are created).
    pub async fn start_behind(plan: FaultPlan, vars: &[(&str, &str)]) -> (Self, FaultProxy) {
        let config = super::config(RunMode::Serve, vars);
        let data_dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::start(
            &data_dir.path().join("s3"),
            "127.0.0.1:0".parse().unwrap(),
            runtime::store_settings(&config),
            config.http.connections,
        )
        .await
        .expect("embedded store starts");
        let rate = plan.rate;
        let proxy = FaultProxy::start(store.endpoint(), FaultPlan { rate: 0.0, ..plan }).await;
        // The server's storage talks to the store through the proxy.
        let built = runtime::build(
            config.clone(),
            super::launch(Store::Running(LocalEndpoint {
                url: proxy.endpoint(),
                credentials: store.credentials(),
            })),
        )
        .await
        .expect("the runtime builds");
        proxy.set_rate(rate);
        let services = built.services;
        let server = TestServer::serve(config, services, Some(store), data_dir).await;
        (server, proxy)
    }

    /// Credentials of the embedded store, for a second client in a test.
    pub fn store_credentials(&self) -> s3_upload_mcp::storage::StaticCredentials {
        self._backend_store
            .as_ref()
            .expect("an embedded store")
            .credentials()
    }

    /// Files in the store's root that only exist while a write is unfinished: temporary part
    /// files and multipart upload state. Empty after every write has completed or been aborted.
    pub fn unfinished_writes(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.data_dir.path().join("s3")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".tmp.") || name.starts_with(".upload"))
            .collect()
    }
}
