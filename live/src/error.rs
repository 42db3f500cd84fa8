//! The server's errors: every one an HTTP status, a stable code and a message that names the
//! field at fault. Nothing a client sends becomes a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable: `bad_request`, `unauthorized`, `not_found`, `conflict`, `unprocessable`, `payload_too_large`, `unavailable`, `internal`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault (a path like `tasks[3].priority`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of an existing object a conflict is about (e.g. the task a duplicate `unique_id` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {}", body.message)]
pub struct ApiError {
    pub status: u16,
    pub body: ErrorBody,
    /// Seconds to wait before retrying (503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { error: code.into(), message: message.into(), field: None, existing_id: None }, retry_after: None }
    }
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(400, "bad_request", message);
        e.body.field = Some(field.into());
        e
    }
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(422, "unprocessable", message);
        e.body.field = Some(field.into());
        e
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("no such {what}"))
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "missing or unknown bearer token (send `Authorization: Bearer <key>`)")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }
    pub fn conflict(message: impl Into<String>, existing: Option<String>) -> Self {
        let mut e = Self::new(409, "conflict", message);
        e.body.existing_id = existing;
        e
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(503, "unavailable", message);
        e.retry_after = Some(1);
        e
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::unavailable(format!("the store failed: {e}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if let Some(s) = self.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
        }
        r.json(&self.body)
    }
}

/// Parses a JSON body into `T`, naming the field at fault on error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = if path == "." || path.is_empty() { "body".to_string() } else { path };
            let status = if inner.is_data() { 422 } else { 400 };
            let mut err = if status == 422 { ApiError::unprocessable(field, inner.to_string()) } else { ApiError::bad(field, format!("not valid JSON: {inner}")) };
            err.body.message = format!("{}: {}", err.body.field.clone().unwrap_or_default(), inner);
            Err(err)
        }
    }
}
