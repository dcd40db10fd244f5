//! Running under AWS Lambda: the runtime built once at init, requests served by the streaming
//! runner (a Function URL in RESPONSE_STREAM mode can then carry SSE progress).

use axum::Router;
use axum::extract::Request;
use lambda_http::request::RequestContext;

use crate::app::{self, CallerContext, Services};
use crate::config::{Config, RunMode, StoreKind};
use crate::runtime::{self, Exposure, Launch, Store};
use crate::telemetry::{self, AuditSink};

pub async fn run() -> anyhow::Result<()> {
    let config = Config::from_env(RunMode::Lambda, StoreKind::S3)?;
    telemetry::init(config.telemetry.log_format);
    let runtime = runtime::build(
        config,
        Launch {
            exposure: Exposure::Lambda,
            store: Store::S3,
            allowed_dirs: Vec::new(),
            audit: AuditSink::Stdout,
        },
    )
    .await?;
    lambda_http::run_with_streaming_response(app(runtime.services))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
}

/// The app as Lambda serves it: the invocation's request context (IAM caller, request id,
/// source IP) becomes the neutral [`CallerContext`] the app reads. Requests without one (a
/// local server) pass unchanged.
pub fn app(services: Services) -> Router {
    app::app(services).layer(axum::middleware::map_request(with_caller_context))
}

async fn with_caller_context(mut request: Request) -> Request {
    let caller = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => CallerContext {
            iam_arn: context
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.clone()),
            request_id: context.request_id.clone(),
            source_ip: context.http.source_ip.clone(),
        },
        Some(RequestContext::ApiGatewayV1(context)) => CallerContext {
            iam_arn: context.identity.user_arn.clone(),
            request_id: context.request_id.clone(),
            source_ip: context.identity.source_ip.clone(),
        },
        _ => return request,
    };
    request.extensions_mut().insert(caller);
    request
}
