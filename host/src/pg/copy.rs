//! COPY … FROM STDIN: client data is parsed as it arrives and appended by the engine on a
//! blocking thread, all or nothing.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::pg::commands::{CopyIn, CopyParser};
use crate::pg::session::{PgSession, count_success, lock};

type Batch = Result<Vec<Vec<Option<String>>>>;

pub struct CopyInFlight {
    parser: CopyParser,
    tx: mpsc::Sender<Batch>,
    /// The engine's append; taken when awaited.
    done: Option<JoinHandle<Result<u64>>>,
}

fn bad_data(message: String) -> StorageError {
    StorageError::new(ErrorKind::Invalid, "22P04", message)
}

impl CopyInFlight {
    pub fn start(session: &PgSession, copy: CopyIn) -> Self {
        let (tx, mut rx) = mpsc::channel::<Batch>(4);
        let engine = session.engine();
        let parser = CopyParser::new(copy.options.clone());
        let succeeded = session.succeeded();
        let done = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&engine)?;
            let mut rows = std::iter::from_fn(|| rx.blocking_recv()).flat_map(|batch| match batch {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            });
            let result = guard.copy_in(copy.schema.as_deref(), &copy.table, &copy.columns, &mut rows);
            count_success(&succeeded, &result);
            result
        });
        Self { parser, tx, done: Some(done) }
    }

    /// The engine's outcome.
    async fn outcome(&mut self) -> Result<u64> {
        let done = self.done.take().ok_or_else(|| StorageError::internal("the COPY already ended"))?;
        done.await.map_err(|e| StorageError::internal(format!("COPY failed: {e}")))?
    }

    /// Sends rows to the engine; an engine that stopped early ends the COPY with its error.
    async fn send(&mut self, batch: Batch) -> Result<()> {
        if self.tx.send(batch).await.is_ok() {
            return Ok(());
        }
        Err(self.outcome().await.err().unwrap_or_else(|| StorageError::internal("the COPY ended unexpectedly")))
    }

    pub async fn data(&mut self, bytes: &[u8]) -> Result<()> {
        let rows = self.parser.feed(bytes).map_err(bad_data)?;
        if rows.is_empty() { Ok(()) } else { self.send(Ok(rows)).await }
    }

    /// Ends the input; returns how many rows were appended.
    pub async fn finish(mut self) -> Result<u64> {
        let rows = self.parser.finish().map_err(bad_data)?;
        if !rows.is_empty() {
            self.send(Ok(rows)).await?;
        }
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        self.outcome().await
    }

    /// Aborts: nothing of the COPY is kept.
    pub async fn abort(mut self, why: String) {
        let _ = self.tx.send(Err(StorageError::new(ErrorKind::Invalid, "57014", why))).await;
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        let _ = self.outcome().await;
    }
}
