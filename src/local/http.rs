//! The HTTP face of the embedded store: security headers and CORS on every response, browser
//! preflights answered, and conditional writes that are atomic per key, as they are on S3.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, HttpError, HttpResponse};

/// Sent with every response: an object is never sniffed into HTML, and an SVG opened directly
/// runs no script and loads nothing. The same policy the CloudFront response headers policy in
/// `template.yaml` sets in front of S3.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

/// Chrome's Private Network Access: a public page (claude.ai) reaching a loopback address asks
/// first with this preflight header, and the answer must opt in.
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";

/// The s3s service behind the guarantees above; what the accept loop serves.
#[derive(Clone)]
pub(super) struct SecuredStore {
    s3: S3Service,
    writes: ConditionalWrites,
}

pub(super) fn secured(s3: S3Service) -> SecuredStore {
    SecuredStore {
        s3,
        writes: ConditionalWrites::default(),
    }
}

impl<B> tower::Service<Request<B>> for SecuredStore
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<HttpResponse, HttpError>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), HttpError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // s3s has no CORS: without this the browser's preflight of the upload view's PUT gets
        // 403 SignatureDoesNotMatch, and the PUT is never sent.
        if is_preflight(&request) {
            let mut response = preflight(request.headers());
            every_response(response.headers_mut());
            return Box::pin(std::future::ready(Ok(response)));
        }
        let mut s3 = self.s3.clone();
        let write = self.writes.begin(&request);
        Box::pin(async move {
            let mut response = match write {
                // Held until s3s-fs has answered, i.e. after the body is written and renamed.
                Ok(_in_flight) => tower::Service::call(&mut s3, request).await?,
                Err(Conflict) => conflict(),
            };
            let headers = response.headers_mut();
            every_response(headers);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("etag"),
            );
            Ok(response)
        })
    }
}

/// No sniffing, the restrictive CSP, and CORS for any origin: on errors too, or the browser hides
/// a refusal's status and message from the upload view, which then cannot show the store's reason.
fn every_response(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
}

fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a browser's preflight: any origin may GET, HEAD or PUT with the headers it
/// asks for. `*` grants nothing by itself: reads are of public images, a PUT is authorized by
/// its presigned URL alone (the view sends no cookies), and what the URL signed is checked on
/// the PUT itself. `*` also covers the `null` origin of an opaque sandbox.
fn preflight(request: &HeaderMap) -> HttpResponse {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT"),
    );
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    if request
        .get(REQUEST_PRIVATE_NETWORK)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        headers.insert(
            HeaderName::from_static(ALLOW_PRIVATE_NETWORK),
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// Keys with a conditional write (`If-None-Match` / `If-Match`) in progress. s3s-fs checks the
/// condition, then streams the body to a temporary file and renames it: two writers checking
/// before either renames would both succeed. S3 lets exactly one win and answers the others
/// `409 ConditionalRequestConflict`; so does this store, by refusing a second conditional
/// write to a key while the first runs. Single-use staging tickets rely on it.
#[derive(Clone, Default)]
struct ConditionalWrites {
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// Another conditional write to the same key is running.
struct Conflict;

/// Marks a key busy until dropped.
struct InFlight {
    writes: ConditionalWrites,
    path: String,
}

impl ConditionalWrites {
    /// `Ok(None)` for requests that are not conditional writes.
    fn begin<B>(&self, request: &Request<B>) -> Result<Option<InFlight>, Conflict> {
        let conditional = request.headers().contains_key(hyper::header::IF_NONE_MATCH)
            || request.headers().contains_key(hyper::header::IF_MATCH);
        if !conditional || !matches!(*request.method(), Method::PUT | Method::POST) {
            return Ok(None);
        }
        // The decoded path names the object (bucket/key) as s3s resolves it.
        let path = percent_encoding::percent_decode_str(request.uri().path())
            .decode_utf8_lossy()
            .into_owned();
        let mut in_flight = self.lock();
        if !in_flight.insert(path.clone()) {
            return Err(Conflict);
        }
        Ok(Some(InFlight {
            writes: self.clone(),
            path,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked: insert/remove are single calls.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.writes.lock().remove(&self.path);
    }
}

fn conflict() -> HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ConditionalRequestConflict</Code>\
        <Message>A conditional write to this key is in progress; retry once it has finished</Message></Error>";
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = StatusCode::CONFLICT;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}
