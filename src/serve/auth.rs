//! Who may connect: the users of `config: serve: users:`, checked with
//! SCRAM-SHA-256 (or md5 / cleartext where the project allows them), or
//! anyone on a loopback-only server with no users.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::md5pass::{Md5PasswordAuthStartupHandler, hash_md5_password};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionHandle, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, SessionExtensions,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::serve::functions::SERVER_VERSION;

/// How passwords are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// No users: anyone who reaches the (loopback) port.
    Trust,
    ScramSha256,
    Md5,
    Cleartext,
}

/// The users and their passwords, read once at start.
#[derive(Debug)]
pub struct Users {
    method: Method,
    /// One numbering of sessions for the whole server: `pg_stat_activity`
    /// and `pg_cancel_backend` tell sessions apart by it.
    pids: Arc<RandomPidSecretKeyGenerator>,
    /// name -> (salt, what the method compares against).
    secrets: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

impl Users {
    /// `users` as (name, password). SCRAM's salted password is derived
    /// here, once: 4096 rounds of PBKDF2 per user.
    pub fn new(method: Method, users: &[(String, String)]) -> Users {
        let secrets = users
            .iter()
            .map(|(name, password)| {
                let salt = salt(name);
                let secret = match method {
                    Method::ScramSha256 => gen_salted_password(password, &salt, SCRAM_ITERATIONS),
                    _ => password.as_bytes().to_vec(),
                };
                (name.clone(), (salt, secret))
            })
            .collect();
        Users {
            method,
            secrets,
            pids: Arc::default(),
        }
    }
}

/// A salt unique to this start of the server and the user.
fn salt(name: &str) -> Vec<u8> {
    let seed = format!(
        "{name}/{}/{}",
        std::process::id(),
        crate::base::time::stamp()
    );
    blake3::hash(seed.as_bytes()).as_bytes()[..16].to_vec()
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let Some((salt, secret)) = self.secrets.get(user) else {
            // As for a wrong password: do not tell who exists.
            return Err(PgWireError::InvalidPassword(user.to_string()));
        };
        Ok(match self.method {
            Method::Md5 => {
                let salt = salt[..4].to_vec();
                let password = String::from_utf8_lossy(secret);
                let hashed = hash_md5_password(user, &password, &salt);
                Password::new(Some(salt), hashed.into_bytes())
            }
            Method::Cleartext => Password::new(None, secret.clone()),
            _ => Password::new(Some(salt.clone()), secret.clone()),
        })
    }
}

/// The users, shared, for a handler that wants its source by value.
#[derive(Debug)]
struct SharedUsers(Arc<Users>);

#[async_trait]
impl AuthSource for SharedUsers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        self.0.get_password(login).await
    }
}

/// The parameters sent at startup: a plain version, read-only by default.
pub fn parameters() -> DefaultServerParameterProvider {
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = SERVER_VERSION.to_string();
    params.is_superuser = false;
    params.default_transaction_read_only = true;
    params
}

/// What to do once a client is in: log it, set its session's defaults.
pub type OnReady = Box<dyn Fn(&mut dyn ClientInfoMut) + Send + Sync>;

/// One connection's startup: authentication by the server's method, or a
/// refusal (too many connections).
pub struct Startup {
    check: Check,
    /// Called once the client is in, with its user and application.
    on_ready: OnReady,
    ready: AtomicBool,
}

/// What `on_ready` may do to the client: read who it is, set defaults.
pub trait ClientInfoMut {
    fn metadata(&self) -> &HashMap<String, String>;
    fn metadata_mut(&mut self) -> &mut HashMap<String, String>;
    fn peer(&self) -> std::net::SocketAddr;
    fn pid_and_secret_key(&self) -> (i32, SecretKey);
    fn session_extensions(&self) -> &SessionExtensions;
}

impl<C: ClientInfo> ClientInfoMut for C {
    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        ClientInfo::pid_and_secret_key(self)
    }
    fn session_extensions(&self) -> &SessionExtensions {
        ClientInfo::session_extensions(self)
    }
    fn metadata(&self) -> &HashMap<String, String> {
        ClientInfo::metadata(self)
    }
    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        ClientInfo::metadata_mut(self)
    }
    fn peer(&self) -> std::net::SocketAddr {
        self.socket_addr()
    }
}

type Params = DefaultServerParameterProvider;

enum Check {
    Trust(
        Arc<ConnectionManager>,
        Params,
        Arc<RandomPidSecretKeyGenerator>,
    ),
    Scram(SASLAuthStartupHandler<Params>),
    Md5(Md5PasswordAuthStartupHandler<Users, Params>),
    Cleartext(CleartextPasswordAuthStartupHandler<SharedUsers, Params>),
    Refuse(String, String),
}

impl Startup {
    pub fn new(users: &Arc<Users>, manager: &Arc<ConnectionManager>, on_ready: OnReady) -> Startup {
        let params = Arc::new(parameters());
        let check = match users.method {
            Method::Trust => Check::Trust(manager.clone(), parameters(), users.pids.clone()),
            Method::ScramSha256 => {
                let source: Arc<dyn AuthSource> = users.clone();
                Check::Scram(
                    SASLAuthStartupHandler::new(params)
                        .with_scram(ScramAuth::new(source))
                        .with_connection_manager(manager.clone())
                        .with_pid_secret_key_generator(users.pids.clone()),
                )
            }
            Method::Md5 => Check::Md5(
                Md5PasswordAuthStartupHandler::new(users.clone(), params)
                    .with_connection_manager(manager.clone())
                    .with_pid_secret_key_generator(users.pids.clone()),
            ),
            Method::Cleartext => Check::Cleartext(
                CleartextPasswordAuthStartupHandler::new(SharedUsers(users.clone()), parameters())
                    .with_connection_manager(manager.clone())
                    .with_pid_secret_key_generator(users.pids.clone()),
            ),
        };
        Startup {
            check,
            on_ready,
            ready: AtomicBool::new(false),
        }
    }

    /// A startup that refuses the connection with `code` and `message`.
    pub fn refuse(code: &str, message: String) -> Startup {
        Startup {
            check: Check::Refuse(code.to_string(), message),
            on_ready: Box::new(|_| {}),
            ready: AtomicBool::new(false),
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
        match &self.check {
            Check::Trust(manager, params, pids) => {
                trust(client, message, manager, params, pids).await?
            }
            Check::Scram(h) => h.on_startup(client, message).await?,
            Check::Md5(h) => h.on_startup(client, message).await?,
            Check::Cleartext(h) => h.on_startup(client, message).await?,
            Check::Refuse(code, text) => {
                let info = ErrorInfo::new("FATAL".into(), code.clone(), text.clone());
                return Err(PgWireError::UserError(Box::new(info)));
            }
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery)
            && !self.ready.swap(true, Ordering::Relaxed)
        {
            (self.on_ready)(client);
        }
        Ok(())
    }
}

/// Let the client in without a password (a loopback server with no users),
/// registered for cancel requests like the others.
async fn trust<C>(
    client: &mut C,
    message: PgWireFrontendMessage,
    manager: &Arc<ConnectionManager>,
    params: &Params,
    pids: &RandomPidSecretKeyGenerator,
) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let PgWireFrontendMessage::Startup(startup) = message else {
        return Ok(());
    };
    protocol_negotiation(client, &startup).await?;
    save_startup_parameters_to_metadata(client, &startup);
    let (pid, secret) = pids.generate(client);
    client.set_pid_and_secret_key(pid, secret.clone());
    let (handle, guard) = manager.register(pid, secret);
    client
        .session_extensions()
        .insert::<Arc<ConnectionHandle>>(handle);
    client.session_extensions().insert(guard);
    finish_authentication(client, params).await
}
