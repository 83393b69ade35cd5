//! `mart serve`: the mart as a read-only PostgreSQL server, for dashboards
//! and SQL clients. The protocol and `pg_catalog` are datafusion-postgres'
//! (pgwire); this layer adds what a shared server needs: users, TLS that
//! fails hard, read-only statements, answers from the last published
//! snapshot, limits, typed errors.

mod auth;
mod cache;
mod catalog;
mod comments;
mod functions;
mod rewrite;
mod savepoints;
mod session;
mod sessions;
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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::base::error::{Error, Result};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use auth::{OnReady, Startup, Users};
use comments::Descriptions;
use session::{Connection, STATEMENT_TIMEOUT_KEY};
use sessions::{Activity, Sessions, Who};
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
    /// Bytes of tables to keep decoded in memory (0: read every query
    /// from the files).
    pub cache: usize,
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
    let method = method(&options)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let descriptions = Descriptions::of(&ws.project);
    let manager = Arc::new(ConnectionManager::new());
    let sessions = Arc::new(Sessions::new(manager.clone()));
    let snapshots = Snapshots::open(
        ws.warehouse.clone(),
        ws.session()?,
        descriptions,
        sessions.clone(),
        options.cache,
        printer.clone(),
    )
    .await?;
    let listener = TcpListener::bind(options.listen).await.map_err(|e| {
        Error::failed(format!("cannot listen on {}: {e}", options.listen))
            .help("another server may hold the port: choose another with --listen")
    })?;
    let addr = listener.local_addr().unwrap_or(options.listen);
    let tables = snapshots.last().tables.clone();
    printer.line(&format!(
        "mart serve: listening on {addr} ({}, {}); {} tables: {}",
        if tls.is_some() { "TLS" } else { "no TLS" },
        who(method, options.users.len()),
        tables.len(),
        tables.join(", ")
    ))?;
    let server = Arc::new(Server {
        snapshots,
        users: Arc::new(Users::new(method, &options.users)),
        sessions,
        manager,
        slots: Arc::new(Semaphore::new(options.max_connections)),
        tls,
        printer,
        options,
    });

    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    connections.spawn(server.clone().connection(socket, peer));
                }
                Err(e) => server.printer.warn(&format!("cannot accept a connection: {e}")),
            },
        }
        while connections.try_join_next().is_some() {}
    }
    let open = connections.len();
    server
        .printer
        .line(&format!("mart serve: stopping ({open} connections open)"))?;
    let drained = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all(); // what is still running is cancelled
    }
    Ok(())
}

/// How clients get in; none without users except on loopback.
fn method(options: &ServeOptions) -> Result<Method> {
    if !options.users.is_empty() {
        return Ok(options.method);
    }
    if !options.listen.ip().is_loopback() {
        return Err(Error::usage(format!(
            "`mart serve` would let anyone on the network in: it listens on {} and no users are configured",
            options.listen
        ))
        .help("add users under `config: serve: users: [{name: analyst, password_env: MART_ANALYST_PASSWORD}]`, or listen on 127.0.0.1"));
    }
    Ok(Method::Trust)
}

fn who(method: Method, users: usize) -> String {
    match method {
        Method::Trust => "no password: loopback only".to_string(),
        Method::ScramSha256 => format!("{users} users, SCRAM-SHA-256"),
        Method::Md5 => format!("{users} users, md5"),
        Method::Cleartext => format!("{users} users, cleartext passwords"),
    }
}

/// What every connection shares.
struct Server {
    snapshots: Arc<Snapshots>,
    users: Arc<Users>,
    manager: Arc<ConnectionManager>,
    sessions: Arc<Sessions>,
    slots: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    printer: Arc<dyn Printer>,
    options: ServeOptions,
}

impl Server {
    /// Serve one connection to its end: refused if all slots are taken,
    /// closed when idle too long.
    async fn connection(self: Arc<Self>, socket: TcpStream, peer: SocketAddr) {
        let slot = self.slots.clone().try_acquire_owned();
        let activity = Arc::new(Activity::default());
        let startup = match slot {
            Ok(_) => Startup::new(&self.users, &self.manager, self.on_ready(&activity)),
            Err(_) => Startup::refuse(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!(
                    "sorry, too many clients already (max_connections is {})",
                    self.options.max_connections
                ),
            ),
        };
        let handlers = Connection::new(
            self.snapshots.clone(),
            startup,
            self.sessions.clone(),
            activity.clone(),
        );
        let idle_timeout = self.options.idle_timeout;
        let idle = async {
            match idle_timeout {
                Some(timeout) => activity.idle_for(timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = process_socket(socket, self.tls.clone(), handlers) => if let Err(e) = done {
                self.printer.warn(&format!("connection from {peer}: {e}"));
            },
            _ = idle => {
                let idle = idle_timeout.unwrap_or_default();
                let _ = self.printer.line(&format!("connection from {peer}: closed, idle for {idle:?}"));
            }
        }
    }

    /// Once a client is in: reachable by cancel requests, given the
    /// default statement timeout, and logged (never its password).
    fn on_ready(&self, activity: &Arc<Activity>) -> OnReady {
        let (log, sessions) = (self.printer.clone(), self.sessions.clone());
        let activity = activity.clone();
        let timeout_ms = self
            .options
            .statement_timeout
            .map(|t| t.as_millis().to_string());
        Box::new(move |client| {
            if let Some(ms) = &timeout_ms {
                client
                    .metadata_mut()
                    .insert(STATEMENT_TIMEOUT_KEY.into(), ms.clone());
            }
            let meta = client.metadata();
            let field = |k: &str| meta.get(k).cloned().unwrap_or_default();
            let who = Who {
                user: field("user"),
                database: field("database"),
                application: field("application_name"),
                peer: client.peer(),
            };
            let dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            let _ = log.line(&format!(
                "connection from {}: user {}, database {}, application {}",
                who.peer,
                dash(&who.user),
                dash(&who.database),
                dash(&who.application),
            ));
            let ids = client.pid_and_secret_key();
            sessions.register(ids, client.session_extensions(), &activity, who);
        })
    }
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
        Error::usage(format!("TLS: `{}`: {what}", path.display())).help(
            "give a PEM certificate chain with --tls-cert and its PEM private key with --tls-key",
        )
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
