//! Connection startup: protocol negotiation, authentication (trust, or the one shared
//! password as a cleartext password message) and the parameters every client reads
//! (`server_version`, encodings, `DateStyle`, `TimeZone`, ...).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, LoginInfo, Password, ServerParameterProvider,
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
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

/// The password every user must send.
struct SharedPassword(String);

impl Debug for SharedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPassword(..)")
    }
}

#[async_trait]
impl AuthSource for SharedPassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(None, self.0.as_bytes().to_vec()))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<()>> {
        if common::auth::key_matches(presented, self.0.as_bytes()) {
            Ok(None)
        } else {
            tracing::info!(
                user = login.user().unwrap_or_default(),
                host = login.host(),
                "wrong password on the PostgreSQL port"
            );
            Err(PgWireError::InvalidPassword(
                login.user().unwrap_or_default().to_owned(),
            ))
        }
    }
}

pub struct Startup {
    driver: AuthDriver<Parameters>,
    password: Option<CleartextPasswordAuth<SharedPassword>>,
}

impl Startup {
    pub fn new(password: Option<String>, connections: Arc<ConnectionManager>) -> Startup {
        Startup {
            driver: AuthDriver::new(Parameters).with_connection_manager(connections),
            password: password.map(|p| CleartextPasswordAuth::new(Arc::new(SharedPassword(p)))),
        }
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
