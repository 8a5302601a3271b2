//! Connection startup: the connection cap and the TLS-only rule, protocol negotiation,
//! authentication (trust, or the one shared password proven by SCRAM-SHA-256, never sent)
//! and the parameters every client reads (`server_version`, encodings, `DateStyle`,
//! `TimeZone`, ...).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::{
    SCRAM_ITERATIONS, ScramAuth, gen_salted_password, random_nonce,
};
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, LoginInfo, Password, ServerParameterProvider,
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_USER, PgWireConnectionState,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::compat::SERVER_VERSION;

/// The parameters sent after authentication.
#[derive(Debug)]
pub struct Parameters;

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut params: HashMap<String, String> = [
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("is_superuser", "off"),
            ("default_transaction_read_only", "on"),
            ("in_hot_standby", "off"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let metadata = client.metadata();
        params.insert(
            "application_name".into(),
            metadata
                .get(METADATA_APPLICATION_NAME)
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(user) = metadata.get(METADATA_USER) {
            params.insert("session_authorization".into(), user.clone());
        }
        Some(params)
    }
}

/// The one password every user must prove, kept only salted (SCRAM's `SaltedPassword`,
/// 4,096 PBKDF2 rounds under a salt drawn at start).
struct SharedPassword {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

impl SharedPassword {
    fn new(password: &str) -> SharedPassword {
        let salt = random_nonce().into_bytes();
        let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
        SharedPassword { salt, salted }
    }
}

impl Debug for SharedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPassword(..)")
    }
}

#[async_trait]
impl AuthSource for SharedPassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

pub struct Startup {
    driver: AuthDriver<Parameters>,
    password: Option<ScramAuth>,
    /// Connections open now (this one included) and the cap; 0 = none.
    open: Arc<AtomicUsize>,
    max_connections: usize,
    tls_only: bool,
}

impl Startup {
    pub fn new(
        options: &super::PgOptions,
        open: Arc<AtomicUsize>,
        connections: Arc<ConnectionManager>,
    ) -> Startup {
        let password = options.password.as_deref().map(|p| {
            let mut scram = ScramAuth::new(Arc::new(SharedPassword::new(p)));
            // Over TLS, SCRAM-SHA-256-PLUS binds the proof to this server's certificate: a
            // man in the middle with another certificate cannot relay it.
            if let Some(tls) = &options.tls
                && let Err(e) = scram.configure_certificate(tls.chain_pem())
            {
                tracing::warn!(error = %e, "SCRAM channel binding is off: the certificate cannot be hashed for it");
            }
            scram
        });
        Startup {
            driver: AuthDriver::new(Parameters).with_connection_manager(connections),
            password,
            open,
            max_connections: options.max_connections,
            tls_only: options.tls.is_some(),
        }
    }

    /// Why this connection may not start, if it may not.
    fn refusal<C: ClientInfo>(&self, client: &C) -> Option<PgWireError> {
        let open = self.open.load(Ordering::Acquire);
        if self.max_connections > 0 && open > self.max_connections {
            tracing::info!(peer = %client.socket_addr(), open, limit = self.max_connections, "refusing a PostgreSQL connection: too many");
            return Some(fatal(
                "53300",
                format!(
                    "sorry, too many clients already: {} connections are open ([queryd] max_pg_connections)",
                    self.max_connections
                ),
            ));
        }
        if self.tls_only && !client.is_secure() {
            return Some(fatal(
                "28000",
                "this server accepts TLS connections only: connect with sslmode=require",
            ));
        }
        None
    }
}

/// An error that ends the connection.
fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// One connection's startup: [`Startup`]'s, noting when the client is through it (ready
/// for queries), which ends the connection's startup deadline.
pub(super) struct ConnectionStartup {
    pub(super) shared: Arc<Startup>,
    pub(super) ready: Arc<AtomicBool>,
}

#[async_trait]
impl StartupHandler for ConnectionStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self.shared.on_startup(client, message).await;
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            self.ready.store(true, Ordering::Release);
        }
        result
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if let Some(refusal) = self.refusal(client) {
                    return Err(refusal);
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                tracing::debug!(
                    user = client.metadata().get(METADATA_USER).map(String::as_str),
                    peer = %client.socket_addr(),
                    "PostgreSQL connection"
                );
                match &self.password {
                    Some(password) => {
                        let outcome = self
                            .driver
                            .begin_authentication(client, password.create())
                            .await?;
                        self.finish(client, outcome).await?;
                    }
                    None => self.driver.complete_authentication(client, None).await?,
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let outcome = self.driver.advance_authentication(client, message).await?;
                self.finish(client, outcome).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Startup {
    async fn finish<C>(&self, client: &mut C, outcome: AuthOutcome) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match outcome {
            AuthOutcome::Authenticated { final_message, .. } => {
                self.driver
                    .complete_authentication(client, final_message)
                    .await
            }
            AuthOutcome::InProgress => Ok(()),
        }
    }
}
