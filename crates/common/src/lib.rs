//! What every service shares: the API key check ([`auth`]), browser safety ([`browser`]), configuration ([`config`]), the JSON error body
//! ([`error`]), huge-page hints for large buffers ([`mem`]), the naming rule of datasets and indexes ([`name`]), serving a router with
//! graceful shutdown ([`server`]), bounds on slow clients ([`slow`]), TLS for servers and
//! trust for clients ([`tls`]), and logs and Prometheus metrics ([`telemetry`]).
//!
//! Nothing here knows about a particular service; a service crate depends on `common`, never
//! the other way round.

pub mod auth;
pub mod browser;
pub mod client;
pub mod config;
pub mod error;
pub mod mem;
pub mod name;
pub mod server;
pub mod slow;
pub mod telemetry;
pub mod tls;

pub use config::{ConfigError, Overrides};
pub use error::{ErrorBody, error_response};
