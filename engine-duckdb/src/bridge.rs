//! Table functions that move rows between the hub and workspace databases, which are
//! separate DuckDB instances (a workspace's is locked down for user SQL).
//!
//! - `storage_table(bucket, table [, filter := json])`, registered in each workspace, scans a
//!   project table through the engine's own handle: the rows a SQL session sees are always
//!   the committed current ones, and no second handle is ever opened on a table file.
//! - `workspace_table(workspace, table)`, registered in the hub, scans a workspace table so an
//!   import can write SQL results back to storage.
//!
//! Both stream: each call hands the consuming query one chunk of the producing query, whose
//! vectors the output references without copying (the declared column types match
//! exactly). Only the projected columns are read (projection pushdown); a `filter` is
//! applied by the producing query. A large project table is read as several parts (row id
//! ranges), one producing query each, so an aggregate or join over it uses every thread.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use parking_lot::Mutex;

use duckstore_plugin_sdk::names::{BranchId, BucketId, ColumnName, ProjectId, TableName, TableRef};
use duckstore_plugin_sdk::query::RowSelection;
use duckstore_plugin_sdk::schema::{Column, ColumnDef};
use duckstore_plugin_sdk::{Result, StorageError};

use crate::error::db_err;
use crate::hub::Hub;
use crate::layout::Layout;
use crate::raw::{Bind, QueryResult, RawConnection};
use crate::sql::{ident, where_clause};
use crate::table_files::{OwnedReading, TableFile, TableFiles};
use crate::types::{column_type, logical_type, type_name};
use crate::views::{TableView, table_view};

type Error = Box<dyn std::error::Error>;

/// A producing query being streamed into a consuming one, plus whatever keeps its source alive.
struct Stream {
    result: QueryResult,
    _reading: Option<Arc<OwnedReading>>,
    _conn: RawConnection,
}

/// The producing queries of one scan, shared by `init` and every thread calling `func`. A call
/// takes the first stream no other call is reading, hands on one chunk and puts the stream
/// back in front: one consuming thread reads the streams one after the other, several read
/// different streams at once. (Rows come in no particular order either way: the hub does not
/// preserve insertion order, and PostgreSQL promises none without ORDER BY.)
pub(crate) struct Streaming(Mutex<VecDeque<Stream>>);

impl Streaming {
    fn new(streams: impl IntoIterator<Item = Stream>) -> Self {
        Self(Mutex::new(streams.into_iter().collect()))
    }
}

/// Hands the next producing chunk to `output`; an empty output ends this thread's scan.
fn next_into(state: &Streaming, output: &mut DataChunkHandle) -> std::result::Result<(), Error> {
    loop {
        let Some(mut stream) = state.0.lock().pop_front() else {
            output.set_len(0);
            return Ok(());
        };
        // An exhausted stream is dropped here, releasing its source as soon as possible.
        if let Some(chunk) = stream.result.next_chunk()? {
            chunk.reference_into(output.get_ptr())?;
            state.0.lock().push_front(stream);
            return Ok(());
        }
    }
}

/// The select list for the projected columns; `1` when none is needed (`count(*)`), and the
/// row id where DuckDB asks for it.
fn projection(columns: &[Column], indices: &[u64]) -> String {
    let parts: Vec<String> = indices
        .iter()
        .map(|&i| columns.get(i as usize).map_or_else(|| "rowid".to_owned(), |c| ident(c.def.name.as_str())))
        .collect();
    if parts.is_empty() { "1".to_owned() } else { parts.join(", ") }
}

// ---- storage_table: project tables inside a workspace --------------------------------------

/// A part of a table by row id (DuckDB skips the row groups outside it); the last is open-ended.
struct RowRange {
    from: u64,
    to: Option<u64>,
}

/// The rows of the table `data` (from DuckDB's metadata: no scan).
fn row_count(hub: &Hub, data: &str) -> Result<u64> {
    hub.conn()?.query_row(&format!("SELECT count(*) FROM {data}"), [], |r| r.get(0)).map_err(db_err)
}

/// DuckDB's row group size: parts are whole row groups.
const ROW_GROUP: u64 = 122_880;

impl RowRange {
    /// Up to `parts` ranges of at least two row groups each, covering every row of a table
    /// of about `rows` rows (any count gives a correct cover; it only sizes the parts).
    fn split(rows: u64, parts: u64) -> Vec<RowRange> {
        let parts = parts.min(rows / (2 * ROW_GROUP)).max(1);
        let step = rows.div_ceil(parts).div_ceil(ROW_GROUP) * ROW_GROUP;
        // Deleted rows keep their ids until DuckDB compacts them, so ids may run past the row
        // count: the last part is open-ended.
        (0..parts).map(|i| RowRange { from: i * step, to: (i + 1 < parts).then_some((i + 1) * step) }).collect()
    }

    fn condition(&self) -> String {
        match self.to {
            Some(to) => format!("rowid >= {} AND rowid < {to}", self.from),
            None => format!("rowid >= {}", self.from),
        }
    }
}

/// What `storage_table` in one workspace may read: its project's tables as its branch sees them.
pub(crate) struct StorageScope {
    pub hub: Arc<Hub>,
    pub files: Arc<TableFiles>,
    pub layout: Layout,
    pub project: ProjectId,
    pub branch: BranchId,
    /// The workspace's DuckDB threads: how many producing queries one scan may split into.
    pub threads: u64,
    /// Bumped after every catalog write.
    pub catalog_epoch: Arc<AtomicU64>,
    pub views: Mutex<CachedViews>,
}

/// Tables looked up at a catalog epoch: a lookup is several catalog queries (~3 ms), and a
/// query over a project table needs its table twice (to bind, and to push down).
#[derive(Default)]
pub(crate) struct CachedViews {
    epoch: u64,
    views: HashMap<(BucketId, TableName), Arc<TableView>>,
}

/// A project table as one workspace sees it: its view (columns, home) and its file.
pub(crate) struct ScopedTable {
    pub view: Arc<TableView>,
    pub file: Arc<TableFile>,
}

impl StorageScope {
    /// The table `bucket`.`table` of the workspace's project and branch (its home may be on
    /// main or in a linked project), or not found: a workspace reads nothing else.
    pub fn table(&self, bucket: BucketId, table: TableName) -> Result<ScopedTable> {
        let view = self.view(bucket, table)?;
        let file = self.files.open(&self.hub, &self.layout.table_file(&view.home.bucket_ref(), &view.home.table))?;
        Ok(ScopedTable { view, file })
    }

    /// The table's view, looked up again once the catalog changed. (The epoch is read
    /// first: a view found after a later write is only fresher than its epoch says.)
    fn view(&self, bucket: BucketId, table: TableName) -> Result<Arc<TableView>> {
        let epoch = self.catalog_epoch.load(Ordering::Acquire);
        let key = (bucket, table);
        {
            let cached = self.views.lock();
            if cached.epoch == epoch
                && let Some(view) = cached.views.get(&key)
            {
                return Ok(view.clone());
            }
        }
        let t = TableRef {
            project: self.project.clone(),
            branch: self.branch.clone(),
            bucket: key.0.clone(),
            table: key.1.clone(),
        };
        let view = Arc::new(table_view(&*self.hub.conn()?, &t)?);
        let mut cached = self.views.lock();
        if cached.epoch != epoch {
            *cached = CachedViews { epoch, views: HashMap::new() };
        }
        cached.views.insert(key, view.clone());
        Ok(view)
    }
}

pub(crate) struct StorageBind {
    scope: Arc<StorageScope>,
    view: Arc<TableView>,
    filter: Option<RowSelection>,
    /// The table's rows when bound.
    rows: u64,
}

pub(crate) struct StorageTable;

/// A positional argument as text. (Reading a NULL value as text throws a C++ exception in
/// DuckDB, which aborts the process when it reaches Rust.)
fn text_param(bind: &BindInfo, index: u64) -> Result<String> {
    let value = bind.get_parameter(index);
    if value.is_null() {
        return Err(StorageError::invalid("22004", "the arguments are names, not NULL"));
    }
    Ok(value.to_string())
}

impl VTab for StorageTable {
    type BindData = StorageBind;
    type InitData = Streaming;

    fn bind(bind: &BindInfo) -> std::result::Result<StorageBind, Error> {
        // SAFETY: registered with an Arc<StorageScope> as its extra info (see `register_storage_table`).
        let scope = unsafe { (*bind.get_extra_info::<Arc<StorageScope>>()).clone() };
        let ScopedTable { view, file } = scope.table(text_param(bind, 0)?.parse()?, text_param(bind, 1)?.parse()?)?;
        let filter = match bind.get_named_parameter("filter") {
            Some(v) if !v.is_null() => Some(serde_json::from_str(&v.to_string())?),
            _ => None,
        };
        for c in &view.meta.columns {
            bind.add_result_column(c.def.name.as_str(), logical_type(c.def.data_type));
        }
        // DuckDB plans by size (a join hashes its smaller side): tell it the table's.
        let rows = row_count(&scope.hub, &file.read()?.data())?;
        bind.set_cardinality(rows, filter.is_none());
        Ok(StorageBind { scope, view, filter, rows })
    }

    fn init(init: &InitInfo) -> std::result::Result<Streaming, Error> {
        // SAFETY: the bind data is the StorageBind returned by `bind`.
        let bind = unsafe { &*init.get_bind_data::<StorageBind>() };
        let scope = &bind.scope;
        let (home, columns) = (&bind.view.home, &bind.view.meta.columns);
        let file = scope.files.open(&scope.hub, &scope.layout.table_file(&home.bucket_ref(), &home.table))?;
        let reading = Arc::new(file.read_owned()?);
        let filter = where_clause(&bind.filter.clone().unwrap_or_default(), columns)?;
        let select = format!("SELECT {} FROM {}", projection(columns, &init.get_column_indices()), reading.data());
        let stream = |rows: Option<&RowRange>| -> Result<Stream> {
            let sql = match (filter.sql.as_str(), rows.map(RowRange::condition)) {
                (conds, None) => format!("{select}{conds}"),
                ("", Some(range)) => format!("{select} WHERE {range}"),
                (conds, Some(range)) => format!("{select}{conds} AND {range}"),
            };
            let mut conn = scope.hub.raw_connection()?;
            let mut stmt = conn.prepare_sql(&sql)?;
            stmt.bind(&filter.params.iter().map(|p| Bind::Text(p)).collect::<Vec<_>>())?;
            let result = stmt.execute()?;
            Ok(Stream { result, _reading: Some(reading.clone()), _conn: conn })
        };
        // A query consuming the scan (an aggregate, a join) runs on the workspace's threads,
        // each reading its own part of the table through its own producing query. The parts
        // must show one committed state: they start while no writer can commit, or the scan
        // stays one query.
        let parts = RowRange::split(bind.rows, scope.threads);
        let streams = match file.try_lock_writer() {
            Some(_no_commit) if parts.len() > 1 => parts.iter().map(|p| stream(Some(p))).collect::<Result<Vec<_>>>()?,
            _ => vec![stream(None)?],
        };
        init.set_max_threads(streams.len() as u64);
        Ok(Streaming::new(streams))
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> std::result::Result<(), Error> {
        next_into(func.get_init_data(), output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar), LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(vec![("filter".to_owned(), LogicalTypeHandle::from(LogicalTypeId::Varchar))])
    }

    fn supports_pushdown() -> bool {
        true
    }
}

/// Registers `storage_table` on a workspace database.
pub(crate) fn register_storage_table(conn: &duckdb::Connection, scope: Arc<StorageScope>) -> Result<()> {
    conn.register_table_function_with_extra_info::<StorageTable, Arc<StorageScope>>("storage_table", &scope)
        .map_err(db_err)
}

// ---- workspace_table: workspace tables inside hub imports ------------------------------------

/// Opens a raw connection on a workspace's database, by workspace id.
pub(crate) trait WorkspaceOpener: Send + Sync {
    fn connect(&self, workspace_id: &str) -> Result<RawConnection>;
}

pub(crate) struct WorkspaceBind {
    opener: Arc<dyn WorkspaceOpener>,
    workspace: String,
    table: String,
    columns: Vec<Column>,
}

pub(crate) struct WorkspaceTable;

/// The columns of a workspace table, refused unless every type can be stored in a table.
fn workspace_columns(conn: &mut RawConnection, table: &str) -> Result<Vec<Column>> {
    let stmt = conn.prepare_sql(&format!("SELECT * FROM {}", ident(table)))?;
    stmt.columns()
        .into_iter()
        .enumerate()
        .map(|(i, (name, info))| {
            let data_type = column_type(&info).ok_or_else(|| {
                StorageError::unprocessable(
                    "unsupported_type",
                    format!(
                        "column {name:?} of workspace table {table:?} has type {}, which a table cannot hold; cast it in SQL first",
                        type_name(&info)
                    ),
                )
            })?;
            let name = ColumnName::new(name.as_str()).map_err(|_| {
                StorageError::unprocessable("invalid_name", format!("workspace column {name:?} is not a valid column name"))
            })?;
            Ok(Column { def: ColumnDef { name, data_type, nullable: true, default: None }, ordinal_position: i as u32 + 1 })
        })
        .collect()
}

impl VTab for WorkspaceTable {
    type BindData = WorkspaceBind;
    type InitData = Streaming;

    fn bind(bind: &BindInfo) -> std::result::Result<WorkspaceBind, Error> {
        // SAFETY: registered with an Arc<dyn WorkspaceOpener> as its extra info.
        let opener = unsafe { (*bind.get_extra_info::<Arc<dyn WorkspaceOpener>>()).clone() };
        let (workspace, table) = (text_param(bind, 0)?, text_param(bind, 1)?);
        let columns = workspace_columns(&mut opener.connect(&workspace)?, &table)?;
        for c in &columns {
            bind.add_result_column(c.def.name.as_str(), logical_type(c.def.data_type));
        }
        Ok(WorkspaceBind { opener, workspace, table, columns })
    }

    fn init(init: &InitInfo) -> std::result::Result<Streaming, Error> {
        // SAFETY: the bind data is the WorkspaceBind returned by `bind`.
        let bind = unsafe { &*init.get_bind_data::<WorkspaceBind>() };
        let mut conn = bind.opener.connect(&bind.workspace)?;
        let sql =
            format!("SELECT {} FROM {}", projection(&bind.columns, &init.get_column_indices()), ident(&bind.table));
        let result = conn.prepare_sql(&sql)?.execute()?;
        Ok(Streaming::new([Stream { result, _reading: None, _conn: conn }]))
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> std::result::Result<(), Error> {
        next_into(func.get_init_data(), output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar), LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn supports_pushdown() -> bool {
        true
    }
}

/// Registers `workspace_table` on the hub.
pub(crate) fn register_workspace_table(conn: &duckdb::Connection, opener: Arc<dyn WorkspaceOpener>) -> Result<()> {
    conn.register_table_function_with_extra_info::<WorkspaceTable, Arc<dyn WorkspaceOpener>>("workspace_table", &opener)
        .map_err(db_err)
}
