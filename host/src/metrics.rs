//! Prometheus metrics, served at `/metrics`.
//!
//! Labels stay low-cardinality: the matched route template (`/projects/{project_id}`),
//! never the concrete path, so one metric series exists per endpoint, not per project.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Counter, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// The storage engine's sizes and usage, set at each scrape (see [`Metrics::storage`]).
    storage: IntGaugeVec,
    writers_waiting: IntGauge,
    /// Seconds writers waited for tables' writer locks; the engine's running total is
    /// carried over as the increase since the last scrape.
    writer_wait: Counter,
    writer_wait_seen: parking_lot::Mutex<f64>,
    sweeps: IntCounterVec,
    swept: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("duckstore".into()), None).expect("valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route template"),
            &["method", "route"],
        )
        .expect("valid metric");
        let storage = IntGaugeVec::new(
            Opts::new(
                "storage",
                "What the storage engine holds and uses, by measure: projects, tables, files, disk_bytes, \
                 memory_bytes, temp_bytes, open_tables",
            ),
            &["measure"],
        )
        .expect("valid metric");
        let writers_waiting = IntGauge::new(
            "jobs_waiting_for_writer",
            "Jobs waiting for a table's writer lock (another writer holds it)",
        )
        .expect("valid metric");
        let writer_wait = Counter::new("writer_wait_seconds_total", "Seconds writers waited for tables' writer locks")
            .expect("valid metric");
        let sweeps = IntCounterVec::new(
            Opts::new("sweeps_total", "Runs of the background sweeper by outcome (ok, error)"),
            &["outcome"],
        )
        .expect("valid metric");
        let swept = IntCounterVec::new(
            Opts::new("swept_total", "What the sweeper removed: uploads, snapshots, events, workspaces"),
            &["what"],
        )
        .expect("valid metric");
        let build =
            IntCounterVec::new(Opts::new("build_info", "Build information"), &["version"]).expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).inc();
        for m in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(storage.clone()),
            Box::new(writers_waiting.clone()),
            Box::new(writer_wait.clone()),
            Box::new(sweeps.clone()),
            Box::new(swept.clone()),
            Box::new(build),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            storage,
            writers_waiting,
            writer_wait,
            writer_wait_seen: parking_lot::Mutex::new(0.0),
            sweeps,
            swept,
        }
    }

    /// A sweeper run: what it removed, or that it failed.
    pub fn swept(&self, removed: Option<[(&str, u64); 4]>) {
        let Some(removed) = removed else {
            self.sweeps.with_label_values(&["error"]).inc();
            return;
        };
        self.sweeps.with_label_values(&["ok"]).inc();
        for (what, n) in removed {
            self.swept.with_label_values(&[what]).inc_by(n);
        }
    }

    /// Records the engine's statistics (taken just before a scrape).
    pub fn storage(&self, stats: &duckstore_plugin_sdk::backend::StorageStats) {
        for (measure, value) in [
            ("projects", stats.projects),
            ("tables", stats.tables),
            ("files", stats.files),
            ("disk_bytes", stats.disk_bytes),
            ("memory_bytes", stats.memory_bytes),
            ("temp_bytes", stats.temp_bytes),
            ("open_tables", stats.open_tables),
        ] {
            self.storage.with_label_values(&[measure]).set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        self.writers_waiting.set(i64::try_from(stats.writers_waiting).unwrap_or(i64::MAX));
        let mut seen = self.writer_wait_seen.lock();
        if stats.writer_wait_seconds > *seen {
            self.writer_wait.inc_by(stats.writer_wait_seconds - *seen);
            *seen = stats.writer_wait_seconds;
        }
    }

    /// Registers the jobs' families (see [`JobMetrics`]).
    pub fn jobs(&self) -> JobMetrics {
        let jobs = JobMetrics {
            finished: IntCounterVec::new(
                Opts::new("jobs_total", "Jobs ended, by kind and outcome (success, error, cancelled)"),
                &["kind", "outcome"],
            )
            .expect("valid metric"),
            running: IntGaugeVec::new(Opts::new("jobs_running", "Jobs started and not ended, by kind"), &["kind"])
                .expect("valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new("job_duration_seconds", "Job run time, start to end, by kind")
                    .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0]),
                &["kind"],
            )
            .expect("valid metric"),
            rows: IntCounterVec::new(Opts::new("job_rows_total", "Rows the successful jobs moved, by kind"), &["kind"])
                .expect("valid metric"),
            bytes: IntCounterVec::new(
                Opts::new("job_bytes_total", "Bytes the successful jobs moved, by kind"),
                &["kind"],
            )
            .expect("valid metric"),
        };
        for m in [
            Box::new(jobs.finished.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(jobs.running.clone()),
            Box::new(jobs.duration.clone()),
            Box::new(jobs.rows.clone()),
            Box::new(jobs.bytes.clone()),
        ] {
            self.registry.register(m).expect("metric names are unique");
        }
        jobs
    }

    /// Registers the PostgreSQL wire families (see [`PgMetrics`]).
    pub fn pg(&self) -> PgMetrics {
        let pg = PgMetrics {
            connections: IntGauge::new("pg_connections_open", "PostgreSQL connections open (logged in or not)")
                .expect("valid metric"),
            statements: IntCounterVec::new(
                Opts::new("pg_statements_total", "Statements run over PostgreSQL, by SQLSTATE class (00: success)"),
                &["sqlstate_class"],
            )
            .expect("valid metric"),
        };
        for m in
            [Box::new(pg.connections.clone()) as Box<dyn prometheus::core::Collector>, Box::new(pg.statements.clone())]
        {
            self.registry.register(m).expect("metric names are unique");
        }
        pg
    }

    /// Where other parts of the server (plugins) register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// Middleware recording every routed request.
pub async fn track(State(metrics): State<std::sync::Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.http_duration.with_label_values(&[&method, &route]).observe(start.elapsed().as_secs_f64());
    metrics.http_requests.with_label_values(&[&method, &route, response.status().as_str()]).inc();
    response
}

/// What the jobs (imports, exports, snapshots, restores, profiles, …) did: labelled by job
/// kind and outcome only, both from short fixed lists.
#[derive(Clone)]
pub struct JobMetrics {
    finished: IntCounterVec,
    running: IntGaugeVec,
    duration: HistogramVec,
    rows: IntCounterVec,
    bytes: IntCounterVec,
}

impl JobMetrics {
    pub fn started(&self, kind: &str) {
        self.running.with_label_values(&[kind]).inc();
    }

    /// A job of `kind` ended after `seconds` with `outcome`.
    pub fn ended(&self, kind: &str, seconds: f64, outcome: &duckstore_plugin_sdk::jobs::JobOutcome) {
        self.running.with_label_values(&[kind]).dec();
        self.duration.with_label_values(&[kind]).observe(seconds);
        let label = match outcome {
            Ok((progress, _)) => {
                self.rows.with_label_values(&[kind]).inc_by(progress.rows);
                self.bytes.with_label_values(&[kind]).inc_by(progress.bytes);
                "success"
            }
            Err(e) if e.code == "cancelled" => "cancelled",
            Err(_) => "error",
        };
        self.finished.with_label_values(&[kind, label]).inc();
    }
}

/// The PostgreSQL face: connections and statements by outcome class (two characters of the
/// SQLSTATE, a bounded set).
#[derive(Clone)]
pub struct PgMetrics {
    pub connections: IntGauge,
    statements: IntCounterVec,
}

impl PgMetrics {
    /// A statement ended with `sqlstate` (`00000` for success).
    pub fn statement(&self, sqlstate: &str) {
        let class = sqlstate.get(..2).filter(|c| c.bytes().all(|b| b.is_ascii_alphanumeric())).unwrap_or("XX");
        self.statements.with_label_values(&[class]).inc();
    }
}
