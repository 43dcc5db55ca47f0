//! Import-format plugins: turn a file format into typed rows.
//!
//! Implement [`Guest`] (format info and sniffing) and [`GuestParser`] (a parser the host
//! feeds the file to, chunk by chunk), build rows with [`BatchBuilder`], and export with
//! [`import_format_plugin!`](crate::import_format_plugin). Parser methods take `&self`:
//! keep mutable state in a `RefCell`.

mod builder;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "import-format-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_import_format",
        default_bindings_module: "duckstore_plugin_guest::import_format::bindings",
    });
}

pub use bindings::duckstore::plugin::host;
pub use bindings::duckstore::plugin::types::{
    Batch, Column, ColumnData, ColumnDef, ColumnType, Error, ErrorCode, TextData,
};
pub use bindings::exports::duckstore::plugin::import_format::{FormatInfo, Guest, GuestParser, Parser};
pub use builder::{BatchBuilder, Value};

/// Exports `$ty` (which implements [`Guest`]) as this crate's import-format plugin.
///
/// `import_format_plugin!(MyFormat, line_records)` also promises that every newline ends
/// a record and each line parses on its own (as in NDJSON, unlike CSV with quoted
/// newlines): the host then splits large files at newlines and parses the parts in
/// parallel, each in a fresh parser that is fed its part and finished. Errors located at
/// `"line N"` count lines from the start of the part; the host renumbers them for the file.
#[macro_export]
macro_rules! import_format_plugin {
    ($ty:ident) => {
        $crate::__manifest!("import-format");
        $crate::import_format::bindings::__export_import_format!($ty with_types_in $crate::import_format::bindings);
    };
    ($ty:ident, line_records) => {
        $crate::__manifest!("import-format", r#","line_records":true"#);
        $crate::import_format::bindings::__export_import_format!($ty with_types_in $crate::import_format::bindings);
    };
}
