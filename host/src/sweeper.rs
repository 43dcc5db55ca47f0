//! The background sweeper: periodically removes what has expired (unregistered uploads, …).

use std::time::Duration;

use crate::storage::Storage;

pub fn spawn(storage: Storage, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match storage.run(|s| s.sweep_expired_uploads()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "swept expired uploads"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired uploads failed"),
            }
        }
    })
}
