//! The HTTP RPC served to shop backends, verification sites and light verifiers: JSON over
//! HTTP under `/v1`, a resumable stream of finalized events, health and readiness probes,
//! Prometheus metrics and an OpenAPI document.
//!
//! Architecture invariant: the RPC talks to the node only through [`NodeApi`]; it never
//! opens a database or reaches into the mempool.
//!
//! The node builds the server with [`RpcMetrics::register`], [`router`] and [`serve`].
//! Inside: [`api`] is the seam and its wire types, [`body`] parses submissions, [`params`]
//! the query strings and path ids, [`views`] holds the response shapes with the coupon-state
//! and campaign-report arithmetic, [`events`] the finalized-event stream, [`metrics`] the
//! Prometheus metrics, [`openapi`] the OpenAPI document; the private `routes` and `server`
//! modules hold the handlers and the layers.

pub mod api;
pub mod body;
mod error;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod params;
mod routes;
mod server;
pub mod views;

pub use api::*;
pub use error::RpcError;
pub use metrics::RpcMetrics;
pub use server::{apply_layers, cors_layer, router, serve, METRICS_CONTENT_TYPE, SHUTDOWN_GRACE};
