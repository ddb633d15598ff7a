//! The JSON bodies of the contract and the one mapping from failure to status.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::cached_pool::PoolError;
use crate::query::QueryError;
use crate::upstream::UpstreamError;

/// `200` body of `/single` and `/multiple`: how many upstream calls were made and how many
/// body bytes they returned in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyReply {
    /// Upstream calls made (1 for `/single`, `n` for `/multiple`).
    pub calls: usize,
    /// Sum of the upstream body lengths.
    pub bytes: u64,
}

impl ProxyReply {
    /// The serialized body.
    pub fn to_json(&self) -> Vec<u8> {
        // Two integers cannot fail to serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Body of every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong, for a human.
    pub error: String,
}

impl ErrorReply {
    /// `{"error":"..."}` for any message: also what a server answers for a request it
    /// rejects before the contract sees it (bad framing).
    pub fn json(error: impl Into<String>) -> Vec<u8> {
        serde_json::to_vec(&Self { error: error.into() }).unwrap_or_default()
    }
}

/// Everything a contract endpoint can fail with. A server turns it into a response with
/// [`BenchError::status`] and [`BenchError::to_json`] and nothing else, so the statuses
/// are the same in every server.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BenchError {
    /// Bad query: 400.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Upstream failure: 502, or 504 on timeout.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Unknown path: 404.
    #[error("no such endpoint")]
    NotFound,
    /// Known path, wrong method: 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A blocking server had no thread for the request or one of its calls: 503, the
    /// server's own limit, not a failure of the upstream (502).
    #[error("no thread to serve this: {0}")]
    NoThread(#[from] PoolError),
}

impl BenchError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> u16 {
        match self {
            Self::Query(_) => 400,
            Self::Upstream(e) => e.status(),
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NoThread(_) => 503,
        }
    }

    /// The `{"error": "..."}` body.
    pub fn to_json(&self) -> Vec<u8> {
        ErrorReply::json(self.to_string())
    }
}

/// A contract outcome as the parts of an HTTP answer: every server turns these into its
/// own response type, and does nothing else with a [`ProxyReply`] or a [`BenchError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200, or the failure's status.
    pub status: u16,
    /// Always JSON: replies and errors alike.
    pub content_type: &'static str,
    /// `{"calls":N,"bytes":B}` or `{"error":"..."}`.
    pub body: Vec<u8>,
    /// The `Allow` header a 405 must carry (RFC 9110), `None` otherwise.
    pub allow: Option<&'static str>,
}

impl Answer {
    /// `GET /health`: `ok` as text.
    pub fn health() -> Self {
        Self { status: 200, content_type: crate::CONTENT_TYPE_TEXT, body: crate::HEALTH_BODY.into(), allow: None }
    }

    /// A `{"error": ...}` answer with `status`, for a request a server rejects before the
    /// contract sees it (bad framing).
    pub fn error(status: u16, error: impl Into<String>) -> Self {
        Self { status, content_type: crate::CONTENT_TYPE_JSON, body: ErrorReply::json(error), allow: None }
    }
}

impl From<Result<ProxyReply, BenchError>> for Answer {
    fn from(outcome: Result<ProxyReply, BenchError>) -> Self {
        match outcome {
            Ok(reply) => {
                Self { status: 200, content_type: crate::CONTENT_TYPE_JSON, body: reply.to_json(), allow: None }
            }
            Err(e) => Self::from(e),
        }
    }
}

impl From<BenchError> for Answer {
    fn from(e: BenchError) -> Self {
        let allow = matches!(e, BenchError::MethodNotAllowed).then_some(crate::ALLOW);
        Self { status: e.status(), content_type: crate::CONTENT_TYPE_JSON, body: e.to_json(), allow }
    }
}

/// Sums the outcomes of upstream calls into the reply, or the first failure.
///
/// For `/multiple`, the first failing call decides the status: a proxy that got a
/// refused connection and a timeout in one fan-out has no single right answer, and the
/// first keeps all servers consistent.
pub fn sum_calls<I>(outcomes: I) -> Result<ProxyReply, BenchError>
where
    I: IntoIterator<Item = Result<u64, UpstreamError>>,
{
    let mut reply = ProxyReply { calls: 0, bytes: 0 };
    for outcome in outcomes {
        reply.bytes += outcome?;
        reply.calls += 1;
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_reply_is_calls_and_bytes() {
        let body = ProxyReply { calls: 5, bytes: 320 }.to_json();
        assert_eq!(body, br#"{"calls":5,"bytes":320}"#);
    }

    #[test]
    fn each_failure_kind_has_its_status() {
        let bad = QueryError::Repeated { key: "n" };
        assert_eq!(BenchError::from(bad).status(), 400);
        assert_eq!(BenchError::from(UpstreamError::Timeout(1)).status(), 504);
        assert_eq!(BenchError::from(UpstreamError::Connect("x".into())).status(), 502);
        assert_eq!(BenchError::NotFound.status(), 404);
        assert_eq!(BenchError::MethodNotAllowed.status(), 405);
        assert_eq!(BenchError::from(PoolError::Full(8)).status(), 503);
        assert_eq!(BenchError::from(PoolError::Spawn("EAGAIN".into())).status(), 503);
    }

    #[test]
    fn error_body_is_json_with_the_message() {
        let body = BenchError::from(UpstreamError::Status(503)).to_json();
        let parsed: ErrorReply = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.error, "upstream answered HTTP 503");
    }

    #[test]
    fn answer_is_json_and_a_405_says_allow_get() {
        let ok = Answer::from(Ok(ProxyReply { calls: 1, bytes: 64 }));
        assert_eq!((ok.status, ok.content_type, ok.allow), (200, "application/json", None));
        assert_eq!(ok.body, br#"{"calls":1,"bytes":64}"#);
        let wrong = Answer::from(Err(BenchError::MethodNotAllowed));
        assert_eq!((wrong.status, wrong.allow), (405, Some("GET")));
        let slow = Answer::from(Err(BenchError::Upstream(UpstreamError::Timeout(9))));
        assert_eq!((slow.status, slow.allow), (504, None));
        assert_eq!(Answer::from(BenchError::MethodNotAllowed), wrong);
    }

    #[test]
    fn sum_calls_adds_bytes_or_stops_at_first_failure() {
        assert_eq!(sum_calls([Ok(64), Ok(64), Ok(1)]), Ok(ProxyReply { calls: 3, bytes: 129 }));
        let failed = sum_calls([Ok(64), Err(UpstreamError::Timeout(5)), Err(UpstreamError::Status(500))]);
        assert_eq!(failed, Err(BenchError::Upstream(UpstreamError::Timeout(5))));
    }
}
