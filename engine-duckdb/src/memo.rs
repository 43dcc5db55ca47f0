//! Answers of catalog reads kept in memory until the catalog next changes.
//!
//! DuckDB is an analytical engine: each point query on the catalog costs about a
//! millisecond, and a table's row count means attaching its file. The small requests that
//! clients repeat (who is this key, table detail, bucket list, job poll) are answered from
//! here instead. Every catalog write bumps the engine's *epoch* after it commits
//! ([`crate::DuckEngine::write`]); an answer is kept under the epoch read **before** it was
//! loaded and served only while the epoch is unchanged, so an answer loaded across a write
//! is never served after the write returned. The catalog file stays the only truth: a
//! restart starts empty. A catalog shared by several nodes would compare a version row
//! kept in that catalog instead of a process counter.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use duckstore_plugin_sdk::Result;
use duckstore_plugin_sdk::jobs::Job;
use duckstore_plugin_sdk::model::{Bucket, StoredApiKey, Table};
use duckstore_plugin_sdk::names::{BranchRef, BucketRef, ProjectId, TableRef};

use crate::views::TableView;

/// The reads kept: the ones every request or every poll makes.
pub(crate) struct Memos {
    pub api_keys: Memo<String, Option<StoredApiKey>>,
    pub buckets: Memo<BranchRef, Vec<Bucket>>,
    pub bucket: Memo<BucketRef, Bucket>,
    pub tables: Memo<BucketRef, Vec<Table>>,
    pub table: Memo<TableRef, Table>,
    /// How a branch sees a table, for the readers of its rows (previews, exports).
    pub views: Memo<TableRef, TableView>,
    pub jobs: Memo<(ProjectId, String), Job>,
}

impl Memos {
    pub fn new() -> Self {
        Self {
            api_keys: Memo::new(),
            buckets: Memo::new(),
            bucket: Memo::new(),
            tables: Memo::new(),
            table: Memo::new(),
            views: Memo::new(),
            jobs: Memo::new(),
        }
    }
}

/// At most this many answers per kind; a full memo starts over (the next write would empty
/// it anyway).
const CAPACITY: usize = 50_000;

pub(crate) struct Memo<K, V> {
    inner: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    epoch: u64,
    map: HashMap<K, V>,
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    pub fn new() -> Self {
        Self { inner: Mutex::new(Entries { epoch: 0, map: HashMap::new() }) }
    }

    /// The answer for `key` as of the catalog's current epoch: kept, or loaded by `load`.
    pub fn get(&self, epoch: &AtomicU64, key: &K, load: impl FnOnce() -> Result<V>) -> Result<V> {
        let seen = epoch.load(Ordering::Acquire);
        {
            let mut entries = self.inner.lock();
            if entries.epoch == seen {
                if let Some(v) = entries.map.get(key) {
                    return Ok(v.clone());
                }
            } else if entries.epoch < seen {
                entries.epoch = seen;
                entries.map.clear();
            }
        }
        let value = load()?;
        let mut entries = self.inner.lock();
        // Kept only under the epoch it was loaded in; a newer one already emptied the memo.
        if entries.epoch == seen {
            if entries.map.len() >= CAPACITY {
                entries.map.clear();
            }
            entries.map.insert(key.clone(), value.clone());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_until_the_epoch_moves() {
        let (memo, epoch) = (Memo::<u32, u32>::new(), AtomicU64::new(0));
        assert_eq!(memo.get(&epoch, &1, || Ok(10)).unwrap(), 10);
        assert_eq!(memo.get(&epoch, &1, || Ok(11)).unwrap(), 10, "kept");
        epoch.fetch_add(1, Ordering::Release);
        assert_eq!(memo.get(&epoch, &1, || Ok(12)).unwrap(), 12, "a write empties the memo");
    }

    #[test]
    fn an_answer_loaded_across_a_write_is_not_kept() {
        let (memo, epoch) = (Memo::<u32, u32>::new(), AtomicU64::new(0));
        // The write commits while the answer is being loaded.
        let stale = memo.get(&epoch, &1, || {
            epoch.fetch_add(1, Ordering::Release);
            Ok(1)
        });
        assert_eq!(stale.unwrap(), 1);
        assert_eq!(memo.get(&epoch, &1, || Ok(2)).unwrap(), 2, "the stale answer was not kept");
    }

    #[test]
    fn failures_are_not_kept() {
        let (memo, epoch) = (Memo::<u32, u32>::new(), AtomicU64::new(0));
        assert!(memo.get(&epoch, &1, || Err(duckstore_plugin_sdk::StorageError::internal("x"))).is_err());
        assert_eq!(memo.get(&epoch, &1, || Ok(3)).unwrap(), 3);
    }
}
