//! Prometheus metrics, served at `/metrics`.
//!
//! Labels stay low-cardinality: the matched route template (`/projects/{project_id}`),
//! never the concrete path, so one metric series exists per endpoint, not per project.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("duckstore".into()), None).expect("valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route template"),
            &["method", "route"],
        )
        .expect("valid metric");
        let build =
            IntCounterVec::new(Opts::new("build_info", "Build information"), &["version"]).expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).inc();
        for m in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(build),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Self { registry, http_requests, http_duration }
    }

    /// Where other parts of the server (plugins) register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// Middleware recording every routed request.
pub async fn track(State(metrics): State<std::sync::Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.http_duration.with_label_values(&[&method, &route]).observe(start.elapsed().as_secs_f64());
    metrics.http_requests.with_label_values(&[&method, &route, response.status().as_str()]).inc();
    response
}
