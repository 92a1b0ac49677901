//! The RPC's Prometheus metrics and the middleware that records them. Every request is
//! timed from the moment the router matched it until its response headers are ready and
//! recorded under the matched route *template* (e.g. `/v1/coupons/{id}`, never the raw path,
//! so label cardinality stays bounded), the method and the status code. For the event
//! stream that is the time to open the stream; how many streams are open is a gauge.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the request-duration buckets: 100 µs … 30 s, about 2.5× apart,
/// so a cache hit, a RocksDB read, a batch submission and a `wait=final` are all resolved.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The route label of requests that matched no route (answered 404 by the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmitLabels {
    status: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Handles to the RPC's metrics; cheap to clone (every field is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct RpcMetrics {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    submitted: Family<SubmitLabels, Counter>,
    streams: Gauge,
}

impl RpcMetrics {
    /// Registers the RPC's metrics in `registry`:
    ///
    /// - `rpc_request_duration_seconds` (histogram; labels `route`, `method`, `status`),
    /// - `rpc_submitted_transactions_total` (counter; label `status`: accepted, final,
    ///   refused, timeout),
    /// - `rpc_event_streams` (gauge: open `GET /v1/events` streams).
    pub fn register(registry: &mut Registry) -> RpcMetrics {
        let requests = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "rpc_request_duration",
            "Time from routing an HTTP RPC request to its response headers, in seconds, by \
             matched route template, method and status code",
            Unit::Seconds,
            requests.clone(),
        );
        let submitted = Family::<SubmitLabels, Counter>::default();
        registry.register(
            "rpc_submitted_transactions",
            "Transactions submitted through the RPC, by outcome (accepted, final, refused, \
             timeout)",
            submitted.clone(),
        );
        // Create every outcome's series up front so each reads 0 rather than being absent.
        for status in ["accepted", "final", "refused", "timeout"] {
            drop(submitted.get_or_create(&SubmitLabels { status }));
        }
        let streams = Gauge::default();
        registry.register(
            "rpc_event_streams",
            "Event streams (GET /v1/events) currently open",
            streams.clone(),
        );
        RpcMetrics {
            requests,
            submitted,
            streams,
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, route: &str, method: &Method, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method_label(method),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one submission outcome.
    pub(crate) fn count_submitted(&self, status: crate::SubmitStatus) {
        let status = match status {
            crate::SubmitStatus::Accepted => "accepted",
            crate::SubmitStatus::Final => "final",
            crate::SubmitStatus::Refused => "refused",
            crate::SubmitStatus::Timeout => "timeout",
        };
        self.submitted.get_or_create(&SubmitLabels { status }).inc();
    }

    /// Counts an open event stream until the returned guard is dropped.
    pub(crate) fn stream_opened(&self) -> StreamGuard {
        self.streams.inc();
        StreamGuard(self.streams.clone())
    }
}

/// Decrements the open-streams gauge when the stream it belongs to is dropped.
#[derive(Debug)]
pub(crate) struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A bounded label for the HTTP method: the standard ones by name, anything else `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Middleware: times the request and records it under its matched route template.
pub(crate) async fn track(State(metrics): State<RpcMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_string());
    let method = req.method().clone();
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.observe_request(&route, &method, response.status().as_u16(), start.elapsed());
    response
}
