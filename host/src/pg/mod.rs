//! The PostgreSQL wire server: SQL sessions on workspaces, in the duckstore process so every
//! read goes through the engine's own DuckDB handles.
//!
//! - [`auth`]: SCRAM verifiers and the login check;
//! - [`handler`]: simple and extended queries, COPY, cancel;
//! - [`session`]: a connection's state and its statements on the engine;
//! - [`commands`]: statement splitting, session commands and COPY parsing;
//! - [`encode`], [`datetime`]: types and values in PostgreSQL's formats.
//!
//! The `pgwire` crate handles the protocol; see docs/adr/0006-pg-wire.md for what is ours.

pub mod auth;
mod commands;
mod copy;
mod cursors;
mod datetime;
mod encode;
mod error;
mod handler;
mod session;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures_util::Sink;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, DefaultServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ErrorHandler, METADATA_DATABASE, METADATA_USER, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::tokio_rustls::rustls;
use tokio::net::TcpListener;

use duckstore_plugin_sdk::ErrorKind;

use crate::storage::Storage;
use error::fatal;
use handler::Handler;
pub use session::SessionLimits;
use session::{CancelRegistry, PgSession};

/// The PostgreSQL version clients see, in `server_version` and `version()` alike.
pub const SERVER_VERSION: &str = "15.6";

pub struct PgConfig {
    pub addr: SocketAddr,
    /// PEM certificate and key; a self-signed pair is generated when absent.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub session: SessionLimits,
}

struct Startup {
    storage: Storage,
    driver: AuthDriver<DefaultServerParameterProvider>,
    scram: ScramAuth,
    cancels: Arc<CancelRegistry>,
    session: SessionLimits,
}

fn workspace_of<C: ClientInfo>(client: &C) -> Option<String> {
    let md = client.metadata();
    md.get(METADATA_DATABASE).or(md.get(METADATA_USER)).cloned()
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let id = workspace_of(client).ok_or_else(|| fatal("28000", "no database (workspace id) given"))?;
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let lookup = id.clone();
                let stored = self
                    .storage
                    .run(move |s| s.find_workspace(&lookup))
                    .await
                    .map_err(|e| fatal("XX000", &e.message))?
                    .ok_or_else(|| fatal("3D000", &format!("database \"{id}\" does not exist")))?;
                if stored.workspace.expires_at <= chrono::Utc::now() {
                    return Err(fatal("3D000", &format!("workspace \"{id}\" has expired")));
                }
                if user != id {
                    return Err(fatal("28000", &format!("role \"{user}\" is not permitted to log into \"{id}\"")));
                }
                self.driver.begin_authentication(client, AuthMechanismFactory::<()>::create(&self.scram)).await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(m) => {
                match self.driver.advance_authentication(client, m).await? {
                    AuthOutcome::InProgress => Ok(()),
                    AuthOutcome::Authenticated { final_message, .. } => {
                        let open = workspace_of(client).unwrap_or_default();
                        let engine = self.storage.run(move |s| s.open_sql_session(&open)).await.map_err(|e| {
                            let code = match e.kind {
                                ErrorKind::Gone | ErrorKind::NotFound => "3D000",
                                _ => error::sqlstate(&e),
                            };
                            fatal(code, &e.message)
                        })?;
                        self.driver.complete_authentication(client, final_message).await?;
                        let session = PgSession::new(engine, self.session.clone());
                        let (pid, key) = client.pid_and_secret_key();
                        *session.cancel.lock() =
                            Some(self.cancels.register(pid, key.to_bytes().to_vec(), session.interrupt.clone()));
                        client.session_extensions().insert(session);
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

/// Errors during startup end the connection: pgwire would otherwise treat a non-fatal
/// error there as the end of authentication.
struct FatalDuringStartup;

impl ErrorHandler for FatalDuringStartup {
    fn on_error<C: ClientInfo>(&self, client: &C, e: &mut PgWireError) {
        let starting = matches!(
            client.state(),
            PgWireConnectionState::AwaitingSslRequest
                | PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        if starting && !e.is_fatal() {
            *e = fatal(e.code(), &e.to_string());
        }
    }
}

struct Handlers {
    handler: Arc<Handler>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.handler.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.handler.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.handler.clone()
    }
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.handler.clone()
    }
    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(FatalDuringStartup)
    }
}

fn tls_config(tls: &Option<(PathBuf, PathBuf)>) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (certs, key) = match tls {
        Some((cert, key)) => (
            CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?,
        ),
        None => {
            let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
            (
                vec![generated.cert.der().clone()],
                PrivateKeyDer::try_from(generated.key_pair.serialize_der()).map_err(anyhow::Error::msg)?,
            )
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// Binds the wire server's port; `serve` then accepts connections until the task ends.
pub async fn bind(config: &PgConfig) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.addr).await.with_context(|| format!("binding the PostgreSQL port {}", config.addr))
}

/// Open connections at most, logged in or not: well under the file descriptors a server
/// gets (the table files need theirs), so idle sockets cannot starve it of them.
const MAX_CONNECTIONS: usize = 4096;

pub async fn serve(listener: TcpListener, config: PgConfig, storage: Storage) -> anyhow::Result<()> {
    let tls = Some(pgwire::tokio::TlsAcceptor::from(Arc::new(tls_config(&config.tls)?)));
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = SERVER_VERSION.to_owned();
    params.is_superuser = false;
    params.time_zone = "UTC".to_owned();
    params.date_style = "ISO, MDY".to_owned();
    let cancels = Arc::new(CancelRegistry::default());
    let handlers = Arc::new(Handlers {
        handler: Arc::new(Handler::new(cancels.clone())),
        startup: Arc::new(Startup {
            storage: storage.clone(),
            driver: AuthDriver::new(params),
            scram: ScramAuth::new(Arc::new(auth::Verifiers(storage))),
            cancels,
            session: config.session.clone(),
        }),
    });
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        // Out of file descriptors (or any other accept error) must not end the listener:
        // it would stay closed until a restart.
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a PostgreSQL connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Connections not yet logged in count too: refused beyond the cap (closed at once).
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!("refused a PostgreSQL connection: {MAX_CONNECTIONS} are open");
            continue;
        };
        // A client that vanished is noticed within minutes, so its session ends.
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_tcp_keepalive(&keepalive);
        let _ = sock.set_tcp_user_timeout(Some(Duration::from_secs(120)));
        let (handlers, tls) = (handlers.clone(), tls.clone());
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                tracing::debug!(error = %e, "PostgreSQL connection ended with an error");
            }
            drop(permit);
        });
    }
}
