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
mod copy_binary;
mod cursors;
mod datetime;
mod encode;
mod error;
mod handler;
mod session;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures_util::{Sink, SinkExt};
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
    /// PEM certificate and key; a self-signed pair is kept in `generated_tls_dir` when absent.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub generated_tls_dir: PathBuf,
    /// Logins without TLS are refused.
    pub require_tls: bool,
    pub session: SessionLimits,
    pub metrics: crate::metrics::PgMetrics,
}

struct Startup {
    storage: Storage,
    require_tls: bool,
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
    /// A failed login ends as PostgreSQL ends it: one FATAL ErrorResponse, then the server
    /// closes the connection. (pgwire would follow any error with ReadyForQuery, which
    /// clients such as asyncpg read as a protocol violation.)
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Err(e) = self.login(client, message).await else { return Ok(()) };
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let e = match e {
            PgWireError::InvalidPassword(_) => {
                fatal("28P01", &format!("password authentication failed for user \"{user}\""))
            }
            e if e.is_fatal() => e,
            e => fatal(e.code(), &e.to_string()),
        };
        tracing::info!(user, error = %e, "a PostgreSQL login failed");
        let info: pgwire::error::ErrorInfo = e.into();
        client.send(PgWireBackendMessage::ErrorResponse(info.into())).await?;
        client.close().await?;
        Ok(())
    }
}

impl Startup {
    async fn login<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.require_tls && !client.is_secure() {
                    return Err(fatal(
                        "28000",
                        "this server accepts logins over TLS only (passwords would cross the network in the \
                         clear): connect with sslmode=require, or verify-full with sslrootcert",
                    ));
                }
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

fn tls_config(config: &PgConfig) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match &config.tls {
        Some(pair) => pair.clone(),
        None => self_signed(&config.generated_tls_dir, config.addr)?,
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&key).with_context(|| format!("reading {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// The generated certificate and key under `dir`, made on first start and kept, so that
/// clients can pin it (`sslmode=verify-full sslrootcert=<data>/tls/pg.crt`). It names
/// `localhost`, the machine's host name and the addresses the server listens on.
fn self_signed(dir: &Path, addr: SocketAddr) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("pg.crt"), dir.join("pg.key"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    names.dedup();
    let generated = rcgen::generate_simple_self_signed(names)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = key.with_extension("key.partial");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
        f.write_all(generated.key_pair.serialize_pem().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&partial, &key)?;
    std::fs::write(cert.with_extension("crt.partial"), generated.cert.pem())?;
    std::fs::rename(cert.with_extension("crt.partial"), &cert)?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for PostgreSQL TLS");
    Ok((cert, key))
}

/// Binds the wire server's port; `serve` then accepts connections until the task ends.
pub async fn bind(config: &PgConfig) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.addr).await.with_context(|| format!("binding the PostgreSQL port {}", config.addr))
}

/// Open connections at most, logged in or not: well under the file descriptors a server
/// gets (the table files need theirs), so idle sockets cannot starve it of them.
const MAX_CONNECTIONS: usize = 4096;

pub async fn serve(listener: TcpListener, config: PgConfig, storage: Storage) -> anyhow::Result<()> {
    let tls = Some(pgwire::tokio::TlsAcceptor::from(Arc::new(tls_config(&config)?)));
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = SERVER_VERSION.to_owned();
    params.is_superuser = false;
    params.time_zone = "UTC".to_owned();
    params.date_style = "ISO, MDY".to_owned();
    let cancels = Arc::new(CancelRegistry::default());
    let handlers = Arc::new(Handlers {
        handler: Arc::new(Handler::new(cancels.clone(), config.metrics.clone())),
        startup: Arc::new(Startup {
            storage: storage.clone(),
            require_tls: config.require_tls,
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
        let connections = config.metrics.connections.clone();
        connections.inc();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                tracing::debug!(error = %e, "PostgreSQL connection ended with an error");
            }
            connections.dec();
            drop(permit);
        });
    }
}
