//! `mart serve`: the mart as a read-only PostgreSQL server, for dashboards
//! and SQL clients. The protocol and `pg_catalog` are datafusion-postgres'
//! (pgwire); this layer adds what a shared server needs: users, TLS that
//! fails hard, read-only statements, answers from the last published
//! snapshot, limits, typed errors.

mod auth;
mod comments;
mod functions;
mod rewrite;
mod savepoints;
mod session;
mod snapshot;
mod sqlstate;

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire;
use pgwire::api::ConnectionManager;
use pgwire::tokio::process_socket;
use pgwire::tokio::tokio_rustls::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::{self, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::base::error::{Error, Result};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use auth::{Startup, Users};
use comments::Descriptions;
use session::{Cancels, Connection, STATEMENT_TIMEOUT_KEY};
use snapshot::Snapshots;

pub use auth::Method;

/// How `mart serve` runs, resolved from flags, the environment and
/// `config: serve:` by the caller.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Certificate and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Users and their passwords.
    pub users: Vec<(String, String)>,
    /// How passwords are checked (SCRAM-SHA-256 unless the project allows
    /// a weaker method).
    pub method: Method,
    pub max_connections: usize,
    /// Each statement's default limit (a session may `SET` its own).
    pub statement_timeout: Option<Duration>,
    /// Close a session that has run nothing for this long.
    pub idle_timeout: Option<Duration>,
}

/// How long running queries get to finish when the server is stopped.
const GRACE: Duration = Duration::from_secs(3);

/// Serve the workspace's warehouse until `stop` resolves.
pub async fn serve(
    ws: &Workspace,
    options: ServeOptions,
    printer: Arc<dyn Printer>,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let method = if options.users.is_empty() {
        if !options.listen.ip().is_loopback() {
            return Err(Error::usage(format!(
                "`mart serve` would let anyone on the network in: it listens on {} and no users are configured",
                options.listen
            ))
            .help("add users under `config: serve: users: [{name: analyst, password_env: MART_ANALYST_PASSWORD}]`, or listen on 127.0.0.1"));
        }
        Method::Trust
    } else {
        options.method
    };
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let descriptions = Descriptions::of(&ws.project);
    let snapshots = Snapshots::open(ws.warehouse.clone(), ws.session()?, descriptions).await?;
    let snapshots = Arc::new(snapshots);
    let listener = TcpListener::bind(options.listen).await.map_err(|e| {
        Error::failed(format!("cannot listen on {}: {e}", options.listen))
            .help("another server may hold the port: choose another with --listen")
    })?;
    let addr = listener.local_addr().unwrap_or(options.listen);
    let tables = snapshots.last().tables.clone();
    printer.line(&format!(
        "mart serve: listening on {addr} ({}, {}); {} tables: {}",
        if tls.is_some() { "TLS" } else { "no TLS" },
        match method {
            Method::Trust => "no password: loopback only".to_string(),
            Method::ScramSha256 => format!("{} users, SCRAM-SHA-256", options.users.len()),
            Method::Md5 => format!("{} users, md5", options.users.len()),
            Method::Cleartext => format!("{} users, cleartext passwords", options.users.len()),
        },
        tables.len(),
        tables.join(", ")
    ))?;

    let users = Arc::new(Users::new(method, &options.users));
    let manager = Arc::new(ConnectionManager::new());
    let cancels = Arc::new(Cancels::new(manager.clone()));
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let timeout_ms = options.statement_timeout.map(|t| t.as_millis().to_string());
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    printer.warn(&format!("cannot accept a connection: {e}"));
                    continue;
                }
            },
        };
        let slot = slots.clone().try_acquire_owned();
        let startup = match &slot {
            Ok(_) => {
                let (log, timeout_ms, cancels) = (printer.clone(), timeout_ms.clone(), cancels.clone());
                Startup::new(
                    &users,
                    &manager,
                    Box::new(move |client| {
                        let (pid, key) = client.pid_and_secret_key();
                        cancels.register(pid, &key, client.session_extensions());
                        if let Some(ms) = &timeout_ms {
                            client.metadata_mut().insert(STATEMENT_TIMEOUT_KEY.into(), ms.clone());
                        }
                        let meta = client.metadata();
                        let field = |k: &str| meta.get(k).cloned().unwrap_or_else(|| "-".into());
                        let _ = log.line(&format!(
                            "connection from {}: user {}, database {}, application {}",
                            client.peer(),
                            field("user"),
                            field("database"),
                            field("application_name"),
                        ));
                    }),
                )
            }
            Err(_) => Startup::refuse(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!(
                    "sorry, too many clients already (max_connections is {})",
                    options.max_connections
                ),
            ),
        };
        let handlers = Connection::new(snapshots.clone(), startup, cancels.clone());
        let activity = handlers.activity();
        let (tls, log, idle_timeout) = (tls.clone(), printer.clone(), options.idle_timeout);
        connections.spawn(async move {
            let _slot = slot;
            let idle = async {
                match idle_timeout {
                    Some(timeout) => activity.idle_for(timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = process_socket(socket, tls, handlers) => if let Err(e) = done {
                    log.warn(&format!("connection from {peer}: {e}"));
                },
                _ = idle => {
                    let _ = log.line(&format!("connection from {peer}: closed, idle for {:?}", idle_timeout.unwrap_or_default()));
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    printer.line(&format!(
        "mart serve: stopping ({} connections open)",
        connections.len()
    ))?;
    let drained = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all(); // what is still running is cancelled
    }
    Ok(())
}

/// TLS from a PEM certificate chain and key; any problem stops the server
/// from starting (it never falls back to plain text).
fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let open = |path: &PathBuf| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| Error::io("read the TLS file", path, e))
    };
    let bad = |path: &PathBuf, what: String| {
        Error::usage(format!("TLS: `{}`: {what}", path.display()))
            .help("give a PEM certificate chain with --tls-cert and its PEM private key with --tls-key")
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in it".into()));
    }
    let key_der = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| bad(key, e.to_string()))?
        .ok_or_else(|| bad(key, "no private key in it".into()))?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, format!("does not go with the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
