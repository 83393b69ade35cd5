//! The server's sessions, as others reach them: cancel requests (Ctrl-C
//! in psql, psycopg's `cancel()`), `pg_cancel_backend(pid)` and the
//! `pg_stat_activity` view.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_postgres::pgwire;
use futures::channel::oneshot;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ConnectionManager, SessionExtensions};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

use crate::base::time::now_ms;

/// A session's cancel switch for its running statement's rows. pgwire
/// cancels a statement while it is planned; its rows are read after, when
/// only this switch reaches them.
#[derive(Default)]
pub struct Canceller {
    current: Mutex<Option<oneshot::Sender<()>>>,
}

impl Canceller {
    /// A new statement starts: the receiver fires if it is cancelled.
    pub fn start(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// Stop the running statement; false if none was running.
    fn cancel(&self) -> bool {
        let running = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        running.is_some_and(|tx| tx.send(()).is_ok())
    }
}

/// What a session is doing: for closing it when idle, and for
/// `pg_stat_activity`.
#[derive(Default)]
pub struct Activity {
    running: AtomicUsize,
    last_ms: AtomicU64,
    /// The last statement and when it started.
    query: Mutex<(String, u128)>,
}

/// A statement running, until dropped.
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn enter(self: &Arc<Self>, query: &str) -> Busy {
        *self.query.lock().unwrap_or_else(|e| e.into_inner()) = (query.to_string(), now_ms());
        self.running.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Resolves once the session has run nothing for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        self.last_ms.store(now_ms() as u64, Ordering::SeqCst);
        loop {
            let since = now_ms() as u64 - self.last_ms.load(Ordering::SeqCst);
            let idle = Duration::from_millis(since);
            if self.running.load(Ordering::SeqCst) == 0 && idle >= timeout {
                return;
            }
            let wait = timeout.saturating_sub(idle).max(Duration::from_millis(100));
            tokio::time::sleep(wait.min(timeout)).await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last_ms.store(now_ms() as u64, Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who a session is, as its client said at startup.
pub struct Who {
    pub user: String,
    pub database: String,
    pub application: String,
    pub peer: SocketAddr,
}

struct Entry {
    key: SecretKey,
    canceller: Weak<Canceller>,
    activity: Weak<Activity>,
    who: Who,
    started_ms: u128,
}

/// Every open session, by pid.
pub struct Sessions {
    manager: Arc<ConnectionManager>,
    entries: Mutex<HashMap<i32, Entry>>,
}

impl Sessions {
    pub fn new(manager: Arc<ConnectionManager>) -> Sessions {
        Sessions {
            manager,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The sessions still open (those whose canceller lives).
    fn entries(&self) -> MutexGuard<'_, HashMap<i32, Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| e.canceller.strong_count() > 0);
        entries
    }

    /// A session is in: give it a canceller others can reach.
    pub fn register(
        &self,
        (pid, key): (i32, SecretKey),
        extensions: &SessionExtensions,
        activity: &Arc<Activity>,
        who: Who,
    ) {
        let canceller = extensions.get_or_insert_with(Canceller::default);
        let entry = Entry {
            key,
            canceller: Arc::downgrade(&canceller),
            activity: Arc::downgrade(activity),
            who,
            started_ms: now_ms(),
        };
        self.entries().insert(pid, entry);
    }

    /// Cancel session `pid`'s running statement; false if there was none.
    fn cancel(&self, pid: i32) -> bool {
        let (canceller, key) = match self.entries().get(&pid) {
            Some(e) => (e.canceller.upgrade(), e.key.clone()),
            None => return false,
        };
        let manager = self.manager.clone();
        // pgwire's own switch, for a statement still being planned.
        tokio::spawn(async move { manager.cancel(pid, &key).await });
        canceller.is_some_and(|c| c.cancel())
    }

    /// `pg_cancel_backend(pid)`, over these sessions.
    pub fn cancel_function(self: &Arc<Self>) -> ScalarUDF {
        ScalarUDF::new_from_impl(CancelBackend {
            sessions: Arc::downgrade(self),
            signature: Signature::exact(vec![DataType::Int32], Volatility::Volatile),
        })
    }

    /// `pg_stat_activity`, over these sessions.
    pub fn activity_table(self: &Arc<Self>) -> Arc<dyn TableProvider> {
        Arc::new(ActivityTable(Arc::downgrade(self)))
    }

    /// The rows of `pg_stat_activity` now.
    fn activity_rows(&self) -> DfResult<RecordBatch> {
        let entries = self.entries();
        let mut rows: Vec<_> = entries.iter().collect();
        rows.sort_by_key(|(pid, _)| **pid);
        let texts = |f: &dyn Fn(&Entry) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(_, e)| f(e)),
            ))
        };
        let time = |ms: Vec<Option<u128>>| -> ArrayRef {
            let us = ms.into_iter().map(|m| m.map(|m| m as i64 * 1000));
            Arc::new(TimestampMicrosecondArray::from_iter(us).with_timezone("UTC"))
        };
        let now = |e: &Entry| e.activity.upgrade();
        let query =
            |e: &Entry| now(e).map(|a| a.query.lock().unwrap_or_else(|p| p.into_inner()).clone());
        let running = |e: &Entry| now(e).is_some_and(|a| a.running.load(Ordering::SeqCst) > 0);
        let columns: Vec<ArrayRef> = vec![
            texts(&|e| e.who.database.clone()),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(pid, _)| **pid),
            )),
            texts(&|e| e.who.user.clone()),
            texts(&|e| e.who.application.clone()),
            texts(&|e| e.who.peer.ip().to_string()),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(_, e)| e.who.peer.port() as i32),
            )),
            time(rows.iter().map(|(_, e)| Some(e.started_ms)).collect()),
            time(
                rows.iter()
                    .map(|(_, e)| query(e).map(|q| q.1).filter(|&t| t > 0))
                    .collect(),
            ),
            texts(&|e| if running(e) { "active" } else { "idle" }.into()),
            texts(&|e| query(e).map(|q| q.0).unwrap_or_default()),
            texts(&|_| "client backend".into()),
        ];
        Ok(RecordBatch::try_new(activity_schema(), columns)?)
    }
}

fn activity_schema() -> SchemaRef {
    let time = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        text("datname"),
        Field::new("pid", DataType::Int32, false),
        text("usename"),
        text("application_name"),
        text("client_addr"),
        Field::new("client_port", DataType::Int32, false),
        Field::new("backend_start", time.clone(), false),
        Field::new("query_start", time, true),
        text("state"),
        text("query"),
        text("backend_type"),
    ]))
}

#[async_trait]
impl CancelHandler for Sessions {
    /// A cancel request names its session by pid and secret key.
    async fn on_cancel_request(&self, request: CancelRequest) {
        let known = self
            .entries()
            .get(&request.pid)
            .is_some_and(|e| e.key.to_bytes() == request.secret_key.to_bytes());
        if known {
            self.cancel(request.pid);
        }
    }
}

/// `pg_stat_activity`: the open sessions, read when a query scans it.
#[derive(Debug)]
struct ActivityTable(Weak<Sessions>);

impl Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

#[async_trait]
impl TableProvider for ActivityTable {
    fn schema(&self) -> SchemaRef {
        activity_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = match self.0.upgrade() {
            Some(sessions) => sessions.activity_rows()?,
            None => RecordBatch::new_empty(activity_schema()),
        };
        let table = MemTable::try_new(activity_schema(), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}

/// `pg_cancel_backend(pid)`: true if the session had a statement running,
/// which then fails with SQLSTATE 57014 as on a cancel request.
#[derive(Debug)]
struct CancelBackend {
    sessions: Weak<Sessions>,
    signature: Signature,
}

impl PartialEq for CancelBackend {
    fn eq(&self, other: &Self) -> bool {
        self.sessions.ptr_eq(&other.sessions)
    }
}

impl Eq for CancelBackend {}

impl std::hash::Hash for CancelBackend {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.sessions.as_ptr().hash(state);
    }
}

impl ScalarUDFImpl for CancelBackend {
    fn name(&self) -> &str {
        "pg_cancel_backend"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(sessions) = self.sessions.upgrade() else {
            return exec_err!("the server is stopping");
        };
        let pids = args.args[0].to_array(args.number_rows)?;
        let Some(pids) = pids.as_any().downcast_ref::<Int32Array>() else {
            return exec_err!("pg_cancel_backend takes a pid (integer)");
        };
        let done: BooleanArray = pids
            .iter()
            .map(|pid| pid.map(|p| sessions.cancel(p)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(done)))
    }
}
