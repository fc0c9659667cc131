//! The daemon's errors as the Engine API reports them: an HTTP status and Docker's message.

use crate::rpc::{ErrorKind, RpcError};

/// An error as the Engine API reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, message)
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> ApiError {
        let status = match e.kind {
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists => 409,
            ErrorKind::InvalidArgument => 400,
            _ => 500,
        };
        ApiError::new(status, e.message)
    }
}

