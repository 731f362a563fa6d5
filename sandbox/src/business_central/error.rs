//! Business Central's error body, `{"error": {"code", "message"}}`, with the
//! correlation id that the real service appends to every message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error the sandbox returns to a client, shaped as BC returns it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct BcError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl BcError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into() }
    }

    /// Builds an error for a malformed request, with OData's generic `BadRequest` code.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BadRequest_NotFound",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub fn record_not_found(entity: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Internal_RecordNotFound",
            format!("The {entity} does not exist. Identification fields and values: Id='{id}'"),
        )
    }

    /// A business-logic error (AL `Error(...)`), which BC returns as 400.
    pub fn dialog(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Application_DialogException", message)
    }

    pub fn read_only(property: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest_InvalidOperation",
            format!("Control '{property}' is read-only."),
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "BadRequest_MethodNotAllowed", message)
    }

    /// Builds the JSON body BC sends, with a fresh correlation id.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "code": self.code,
                "message": format!("{}  CorrelationId:  {}.", self.message, uuid::Uuid::new_v4()),
            }
        })
    }
}

impl IntoResponse for BcError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, axum::Json(body)).into_response()
    }
}
