//! For tests only: tries to reach the network (so the component imports `wasi:sockets`)
//! and carries no embedded manifest, so tests pair it with `plugin.toml` files of their own.

use duckstore_plugin_guest::import_format::*;

struct Probe;

impl Guest for Probe {
    type Parser = Probe;

    fn info() -> FormatInfo {
        FormatInfo { name: "net-probe".to_owned(), extensions: vec![], mime_types: vec![] }
    }

    fn sniff(_: Vec<u8>) -> u8 {
        0
    }
}

impl GuestParser for Probe {
    fn open(_: String, _: Vec<ColumnDef>) -> Result<Parser, Error> {
        std::net::TcpStream::connect("127.0.0.1:9").map_err(|e| Error::internal(e.to_string()))?;
        Ok(Parser::new(Probe))
    }

    fn feed(&self, _: Vec<u8>) -> Result<Vec<Batch>, Error> {
        Ok(vec![])
    }

    fn finish(&self) -> Result<Vec<Batch>, Error> {
        Ok(vec![])
    }
}

duckstore_plugin_guest::import_format::bindings::__export_import_format!(Probe with_types_in duckstore_plugin_guest::import_format::bindings);
