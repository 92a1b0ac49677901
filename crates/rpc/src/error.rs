//! The RPC crate's one error type. Every variant maps to an HTTP status and a stable
//! machine-readable `code`; the JSON body is `{"code": "...", "message": "..."}`
//! ([`crate::ErrorBody`]). [`RpcError::status`] is the one place that mapping lives.

use crate::api::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RpcError {
    /// The request is malformed (bad JSON, bad hex, bad encoding, bad parameter).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The node refused a transaction (mempool or runtime rule); `code` is the runtime's
    /// or the mempool's stable code.
    #[error("{message}")]
    Refused { code: String, message: String },
    /// The node cannot serve this now (starting, shutting down, overloaded).
    #[error("{0}")]
    Unavailable(String),
    /// The node refused a transaction for its own condition, not the transaction's
    /// (`disk_low`): another node may take it (503).
    #[error("{message}")]
    NodeCondition { code: String, message: String },
    /// Something failed inside the node; the message is for the operator's logs.
    #[error("internal error: {0}")]
    Internal(String),
    /// The route exists but not for this HTTP method (405).
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// The request body is larger than the server accepts (413).
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The request's `Content-Type` is not one the route accepts (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request took longer than the server's request timeout (504).
    #[error("the request did not complete within {0} ms")]
    Timeout(u64),
    /// The node is not ready (catching up or starting); `GET /ready` answers with it (503).
    #[error("{0}")]
    NotReady(String),
}

impl RpcError {
    pub fn code(&self) -> &str {
        match self {
            RpcError::BadRequest { code, .. } => code,
            RpcError::NotFound { .. } => "not_found",
            RpcError::Refused { code, .. } => code,
            RpcError::Unavailable(_) => "unavailable",
            RpcError::NodeCondition { code, .. } => code,
            RpcError::Internal(_) => "internal",
            RpcError::MethodNotAllowed(_) => "method_not_allowed",
            RpcError::BodyTooLarge { .. } => "body_too_large",
            RpcError::UnsupportedMediaType(_) => "unsupported_media_type",
            RpcError::Timeout(_) => "timeout",
            RpcError::NotReady(_) => "not_ready",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            RpcError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            RpcError::NotFound { .. } => StatusCode::NOT_FOUND,
            RpcError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RpcError::Unavailable(_) | RpcError::NotReady(_) | RpcError::NodeCondition { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RpcError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RpcError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RpcError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RpcError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RpcError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> RpcError {
        RpcError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> RpcError {
        RpcError::NotFound { what: what.into() }
    }

    /// A `400 bad_param` naming the parameter.
    pub fn bad_param(name: &str, message: impl std::fmt::Display) -> RpcError {
        RpcError::bad_request("bad_param", format!("{name}: {message}"))
    }

    /// The body clients see. Internal errors are logged in full and answered with a generic
    /// message, so node internals (paths, database errors) do not leak to clients.
    pub fn body(&self) -> ErrorBody {
        match self {
            RpcError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error answering an RPC request");
                ErrorBody {
                    code: self.code().to_string(),
                    message: "internal error; see the node's log".to_string(),
                }
            }
            _ => ErrorBody::from(self),
        }
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let RpcError::BodyTooLarge { .. } = self {
            // The rest of the body was never read, so the connection cannot carry another
            // request; say so, or a client may reuse it and see it closed under its feet.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}
