//! COPY … FROM STDIN: client data is parsed as it arrives and appended by the engine on a
//! blocking thread, all or nothing.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use duckstore_plugin_sdk::{ErrorKind, Result, StorageError};

use duckstore_plugin_sdk::sql::SqlType;

use crate::pg::commands::{CopyIn, CopyParser};
use crate::pg::copy_binary;
use crate::pg::session::{PgSession, count_success, lock};

type Rows = Vec<Vec<Option<String>>>;

/// What the session hands the engine's append. Only `End` commits: a COPY whose session
/// drops the flight without ending it (a client that went away, a parse error) is rolled back.
enum Message {
    Rows(Rows),
    Fail(StorageError),
    End,
}

/// How the client's data reads: text or CSV lines, or binary tuples.
enum Parser {
    Lines(CopyParser),
    Binary(copy_binary::Reader),
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> std::result::Result<Vec<Vec<Option<String>>>, String> {
        match self {
            Parser::Lines(p) => p.feed(bytes),
            Parser::Binary(p) => p.feed(bytes),
        }
    }

    fn finish(&mut self) -> std::result::Result<Vec<Vec<Option<String>>>, String> {
        match self {
            Parser::Lines(p) => p.finish(),
            Parser::Binary(p) => p.finish(),
        }
    }
}

pub struct CopyInFlight {
    parser: Parser,
    tx: mpsc::Sender<Message>,
    /// The engine's append; taken when awaited.
    done: Option<JoinHandle<Result<u64>>>,
}

fn bad_data(message: String) -> StorageError {
    StorageError::new(ErrorKind::Invalid, "22P04", message)
}

impl CopyInFlight {
    /// Starts appending to `copy`'s target, whose columns have `types`.
    pub fn start(session: &PgSession, copy: CopyIn, types: Vec<SqlType>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Message>(4);
        let engine = session.engine();
        let parser = if copy.options.binary {
            Parser::Binary(copy_binary::Reader::new(types))
        } else {
            Parser::Lines(CopyParser::new(copy.options.clone()))
        };
        let succeeded = session.succeeded();
        let done = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&engine)?;
            let mut ended = false;
            let mut rows = std::iter::from_fn(|| {
                if ended {
                    return None;
                }
                match rx.blocking_recv() {
                    Some(Message::Rows(rows)) => Some(rows.into_iter().map(Ok).collect::<Vec<_>>()),
                    Some(Message::Fail(e)) => Some(vec![Err(e)]),
                    Some(Message::End) => {
                        ended = true;
                        None
                    }
                    None => Some(vec![Err(StorageError::new(
                        ErrorKind::Invalid,
                        "57014",
                        "the COPY ended before its data did",
                    ))]),
                }
            })
            .flatten();
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

    /// Sends a message to the engine; an engine that stopped early ends the COPY with its error.
    async fn send(&mut self, message: Message) -> Result<()> {
        if self.tx.send(message).await.is_ok() {
            return Ok(());
        }
        Err(self.outcome().await.err().unwrap_or_else(|| StorageError::internal("the COPY ended unexpectedly")))
    }

    /// Rolls the append back because of `error`, and returns it once nothing is kept.
    async fn fail(&mut self, error: StorageError) -> StorageError {
        let _ = self.tx.send(Message::Fail(error.clone())).await;
        let _ = self.outcome().await;
        error
    }

    pub async fn data(&mut self, bytes: &[u8]) -> Result<()> {
        match self.parser.feed(bytes) {
            Ok(rows) if rows.is_empty() => Ok(()),
            Ok(rows) => self.send(Message::Rows(rows)).await,
            Err(e) => Err(self.fail(bad_data(e)).await),
        }
    }

    /// Ends the input; returns how many rows were appended.
    pub async fn finish(mut self) -> Result<u64> {
        match self.parser.finish() {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => self.send(Message::Rows(rows)).await?,
            Err(e) => return Err(self.fail(bad_data(e)).await),
        }
        self.send(Message::End).await?;
        self.outcome().await
    }

    /// Aborts: nothing of the COPY is kept.
    pub async fn abort(mut self, why: String) {
        self.fail(StorageError::new(ErrorKind::Invalid, "57014", why)).await;
    }
}
