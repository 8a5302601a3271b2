//! [`ServiceClient`]: what every HTTP client of a service has in common — the service's
//! base URL, the deployment's API key, the process's trust (`[gateway] tls_ca`), a connect
//! timeout, and the decoding of an error answer into its [`ErrorDetail`] — so that
//! `StoreClient`, `CatalogClient` and the CLI each add only their own routes and their own
//! errors.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::error::{ErrorBody, ErrorDetail};

/// How long a connection to a service may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for one service (or a gateway in front of it).
#[derive(Clone, Debug)]
pub struct ServiceClient {
    http: reqwest::Client,
    /// Its name in errors: "storaged at http://…".
    service: &'static str,
    base: String,
    /// `Authorization: Bearer KEY` when the deployment has an API key.
    auth: Option<HeaderValue>,
}

/// Why a call got no successful answer.
#[derive(Debug)]
pub enum CallError {
    /// No answer: no connection opened (`connect`), or the service broke off or sent an
    /// unreadable answer; the message names it.
    Unreachable { connect: bool, message: String },
    /// The service refused this process's API key (a 401): the deployment's processes were
    /// given different keys. Nothing a retry mends; the message says so. `said` is the
    /// service's own message.
    Refused { said: String, message: String },
    /// An error answer: its status, its error object when the body has one, and a message
    /// naming the service and what it answered (all there is when the body has no error
    /// object: a proxy's page, or nothing for a HEAD).
    Answered {
        status: StatusCode,
        detail: Option<ErrorDetail>,
        message: String,
    },
}

impl ServiceClient {
    /// A client of `service` at `base` (e.g. `http://127.0.0.1:3211`); `timeout` bounds
    /// each whole call (`None`: calls whose bodies stream set their own).
    pub fn new(service: &'static str, base: &str, timeout: Option<Duration>) -> ServiceClient {
        let mut http = crate::tls::http_client().connect_timeout(CONNECT_TIMEOUT);
        if let Some(timeout) = timeout {
            http = http.timeout(timeout);
        }
        ServiceClient {
            http: http.build().unwrap_or_default(),
            service,
            base: base.trim_end_matches('/').to_string(),
            auth: None,
        }
    }

    /// Sends the deployment's API key with every request (`None`: no key).
    pub fn with_api_key(mut self, key: Option<&str>) -> ServiceClient {
        self.auth = crate::auth::bearer_header(key);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// "storaged at http://…", for messages.
    pub fn describe(&self) -> String {
        format!("{} at {}", self.service, self.base)
    }

    /// A request to `path` (which starts with `/`) below the base URL, with the key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Some(auth) => request.header(AUTHORIZATION, auth.clone()),
            None => request,
        }
    }

    /// Sends `request`: a 2xx answer, or why there was none.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, CallError> {
        let response = request.send().await.map_err(|e| {
            let what = if e.is_connect() {
                "is unreachable"
            } else {
                "failed to answer"
            };
            CallError::Unreachable {
                connect: e.is_connect(),
                message: format!("{} {what}: {}", self.describe(), crate::error::chain(&e)),
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        if status == StatusCode::UNAUTHORIZED
            || detail.as_ref().is_some_and(|d| d.code == "unauthorized")
        {
            let said = detail.map_or_else(|| status.to_string(), |d| d.message);
            let message = format!(
                "{} refused this process's API key ({said}); every process of a deployment \
                 needs the same key ([gateway] api_key or LAKEHOUSE_API_KEY)",
                self.describe()
            );
            return Err(CallError::Refused { said, message });
        }
        let text = String::from_utf8_lossy(&body);
        let message = match text.trim() {
            "" => format!("{} answered {status}", self.describe()),
            text => format!("{} answered {status}: {text}", self.describe()),
        };
        Err(CallError::Answered {
            status,
            detail,
            message,
        })
    }

    /// The JSON body of a successful answer; an unreadable one is the service's fault.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, CallError> {
        response.json().await.map_err(|e| CallError::Unreachable {
            connect: false,
            message: format!("{} sent an unreadable answer: {e}", self.describe()),
        })
    }
}
