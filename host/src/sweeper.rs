//! The background sweeper: periodically removes what has expired: unregistered uploads,
//! snapshots past their retention, audit events past theirs, expired workspaces.

use std::time::Duration;

use crate::metrics::Metrics;
use crate::storage::Storage;

pub fn spawn(
    storage: Storage,
    every: Duration,
    audit_retention: chrono::Duration,
    metrics: std::sync::Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let swept = storage
                .run(move |s| {
                    let uploads = s.sweep_expired_uploads()?;
                    let snapshots = s.sweep_expired_snapshots()?;
                    let events = s.sweep_audit(chrono::Utc::now() - audit_retention)?;
                    let workspaces = s.sweep_expired_workspaces()?;
                    Ok((uploads, snapshots, events, workspaces))
                })
                .await;
            match swept {
                Ok((uploads, snapshots, events, workspaces)) => {
                    let removed = [
                        ("uploads", uploads),
                        ("snapshots", snapshots),
                        ("events", events),
                        ("workspaces", workspaces),
                    ];
                    metrics.swept(Some(removed));
                    if removed.iter().any(|(_, n)| *n > 0) {
                        tracing::info!(uploads, snapshots, events, workspaces, "swept expired data")
                    }
                }
                Err(e) => {
                    metrics.swept(None);
                    tracing::warn!(error = %e, "sweeping expired data failed")
                }
            }
        }
    })
}
