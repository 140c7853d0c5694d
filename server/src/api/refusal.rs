//! How the API answers what it refuses: a status and `{"error": {"code", "message"}}`, and
//! reading a JSON body (at most `MAX_BODY_BYTES`) or saying why it cannot be read.

use axum::{
    Json,
    body::Bytes,
    extract::rejection::BytesRejection,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gridcast_shared::api::{ApiError, ApiErrorBody};

/// The largest body the API reads: a message (4 KiB) and its envelope, with room to spare.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// A refused request's answer.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A `400 bad_request`.
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: ApiErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Reads a JSON body already taken (at most [`MAX_BODY_BYTES`]), shaped as `expected` says, or
/// the refusal saying why not.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    expected: &str,
) -> Result<T, Refusal> {
    let bytes = body.map_err(|_| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let reason = e.to_string();
        let reason = reason.split(" at line ").next().unwrap_or_default();
        Refusal::bad(format!("expected {expected}: {reason}"))
    })
}
