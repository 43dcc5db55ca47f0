//! COPY … FROM STDIN: client data is parsed as it arrives and appended by the engine on a
//! blocking thread, all or nothing.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use crate::pg::commands::{CopyIn, CopyParser};
use crate::pg::session::PgSession;

type Batch = Result<Vec<Vec<Option<String>>>>;

pub struct CopyInFlight {
    parser: CopyParser,
    tx: mpsc::Sender<Batch>,
    done: JoinHandle<Result<u64>>,
}

fn bad_data(message: String) -> StorageError {
    StorageError::new(ErrorKind::Invalid, "22P04", message)
}

impl CopyInFlight {
    pub fn start(session: &PgSession, copy: CopyIn) -> Self {
        let (tx, mut rx) = mpsc::channel::<Batch>(4);
        let engine = session.engine();
        let parser = CopyParser::new(copy.options.clone());
        let done = tokio::task::spawn_blocking(move || {
            let mut guard = engine.lock().map_err(|_| StorageError::internal("a previous statement panicked"))?;
            let mut rows = std::iter::from_fn(|| rx.blocking_recv()).flat_map(|batch| match batch {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            });
            guard.copy_in(copy.schema.as_deref(), &copy.table, &copy.columns, &mut rows)
        });
        Self { parser, tx, done }
    }

    /// Sends rows to the engine; an engine failure ends the COPY with its error.
    async fn send(&mut self, batch: Batch) -> Result<()> {
        if self.tx.send(batch).await.is_err() {
            // The engine stopped early: its error says why.
            let (tx, _) = mpsc::channel(1);
            let done = std::mem::replace(&mut self.done, tokio::spawn(async { Ok(0) }));
            self.tx = tx;
            return Err(match done.await {
                Ok(Err(e)) => e,
                _ => StorageError::internal("the COPY ended unexpectedly"),
            });
        }
        Ok(())
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
        drop(self.tx);
        self.done.await.map_err(|e| StorageError::internal(format!("COPY failed: {e}")))?
    }

    /// Aborts: nothing of the COPY is kept.
    pub async fn abort(self, why: String) {
        let _ = self.tx.send(Err(StorageError::new(ErrorKind::Invalid, "57014", why))).await;
        drop(self.tx);
        let _ = self.done.await;
    }
}
