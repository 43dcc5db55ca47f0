//! Files: uploads streamed to disk (hashed on the way, never buffered whole, refused as soon
//! as they outgrow the file size limit or the project's quota) and registered as files.
//! Every face that takes files in (REST, Keboola's transfer, S3) comes through here.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use duckstore_plugin_sdk::files::{FileInfo, NewUpload, Upload};
use duckstore_plugin_sdk::names::ProjectId;
use duckstore_plugin_sdk::{ErrorKind, StorageError};

use crate::auth::{Access, Principal};
use crate::service::{Service, ServiceResult};
use crate::storage::Storage;

impl Service {
    /// Starts an upload session; it expires (and its content is deleted) unless registered.
    pub async fn prepare_upload(&self, who: &Principal, project: ProjectId, new: NewUpload) -> ServiceResult<Upload> {
        who.authorize(&project, None, Access::Write)?;
        Ok(self.storage.run(move |s| s.prepare_upload(&project, &new)).await?)
    }

    /// Streams `body` (of `declared` length, when the client said) into upload `key`.
    pub async fn receive_upload<S, E>(
        &self,
        who: &Principal,
        project: ProjectId,
        key: String,
        declared: Option<u64>,
        body: S,
    ) -> ServiceResult<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        who.authorize(&project, None, Access::Write)?;
        Ok(receive(&self.storage, project, key, declared, body).await?)
    }

    /// Registers a received upload as a file.
    pub async fn register_file(&self, who: &Principal, project: ProjectId, key: String) -> ServiceResult<FileInfo> {
        who.authorize(&project, None, Access::Write)?;
        Ok(self.storage.run(move |s| s.register_file(&project, &key)).await?)
    }

    /// Prepares, receives and registers a file in one call. A failed upload leaves no
    /// session behind (it would hold a quota slot until it expired).
    pub async fn upload_file<S, E>(
        &self,
        who: &Principal,
        project: ProjectId,
        new: NewUpload,
        declared: Option<u64>,
        body: S,
    ) -> ServiceResult<FileInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.prepare_upload(who, project.clone(), new).await?;
        let key = upload.upload_key;
        let (p, k) = (project.clone(), key.clone());
        let registered = match receive(&self.storage, project.clone(), key.clone(), declared, body).await {
            Ok(_) => self.storage.run(move |s| s.register_file(&p, &k)).await,
            Err(e) => Err(e),
        };
        if registered.is_err()
            && let Err(e) = self.storage.run(move |s| s.abort_upload(&project, &key)).await
        {
            tracing::warn!(error = %e, "could not remove the session of a failed upload");
        }
        Ok(registered?)
    }
}

/// Streams a body into an upload's staging file, hashing it on the way, and refuses it
/// (413) as soon as it grows past what the upload may hold.
async fn receive<S, E>(
    storage: &Storage,
    project: ProjectId,
    key: String,
    declared: Option<u64>,
    mut body: S,
) -> Result<Upload, StorageError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (p, k) = (project.clone(), key.clone());
    let sink = storage.run(move |s| s.open_upload(&p, &k)).await?;
    let max = sink.max_bytes;
    let too_large = || {
        StorageError::new(
            ErrorKind::TooLarge,
            "file_too_large",
            format!("the upload exceeds {max} bytes (the file size limit or what is left of the project's quota)"),
        )
    };
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }

    // Hashing here and writing on a blocking thread keep both cores busy; the buffered
    // writer turns many small body chunks into few large writes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let failed = Arc::new(AtomicBool::new(false));
    let writer_failed = failed.clone();
    let file = sink.file;
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if writer_failed.load(Ordering::Acquire) {
            // Give the space back now rather than when the session expires.
            file.set_len(0)
        } else {
            file.sync_all()
        }
    });

    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let failure = loop {
        match body.next().await {
            None => break None,
            Some(Err(e)) => {
                break Some(StorageError::invalid("upload_interrupted", format!("the upload broke off: {e}")));
            }
            Some(Ok(chunk)) => {
                received += chunk.len() as u64;
                if received > max {
                    break Some(too_large());
                }
                hasher.update(&chunk);
                if tx.send(chunk).await.is_err() {
                    break None; // the writer stopped; its error is reported below
                }
            }
        }
    };
    if failure.is_some() {
        failed.store(true, Ordering::Release);
    }
    drop(tx);
    let written = writer.await.map_err(|e| StorageError::internal(e.to_string()))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    written.map_err(StorageError::from)?;
    let (size, sha256) = (received, hex::encode(hasher.finalize()));
    storage.run(move |s| s.finish_upload(&project, &key, size, &sha256)).await
}

impl Service {
    /// Reads a registered file's record.
    pub async fn file(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<FileInfo> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.get_file(&project, &id)).await?)
    }

    /// How many bytes upload `key` may still take (the file size limit or what is left of
    /// the project's quota): what a face staging parts of it may hold.
    pub async fn upload_room(&self, who: &Principal, project: ProjectId, key: String) -> ServiceResult<u64> {
        who.authorize(&project, None, Access::Write)?;
        Ok(self.storage.run(move |s| s.open_upload(&project, &key)).await?.max_bytes)
    }
}

impl Service {
    /// A registered file's record and its content, to read.
    pub async fn open_file(
        &self,
        who: &Principal,
        project: ProjectId,
        id: String,
    ) -> ServiceResult<(FileInfo, std::fs::File)> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.open_file(&project, &id)).await?)
    }
}

impl Service {
    /// A page of the project's files (carrying all of `query.tags`) and how many match.
    pub async fn list_files(
        &self,
        who: &Principal,
        project: ProjectId,
        query: duckstore_plugin_sdk::files::FileQuery,
    ) -> ServiceResult<(Vec<FileInfo>, u64)> {
        who.authorize(&project, None, Access::Read)?;
        Ok(self.storage.run(move |s| s.list_files(&project, &query)).await?)
    }

    pub async fn delete_file(&self, who: &Principal, project: ProjectId, id: String) -> ServiceResult<()> {
        who.authorize(&project, None, Access::Write)?;
        Ok(self.storage.run(move |s| s.delete_file(&project, &id)).await?)
    }

    /// Replaces a file's tags.
    pub async fn set_file_tags(
        &self,
        who: &Principal,
        project: ProjectId,
        id: String,
        tags: Vec<String>,
    ) -> ServiceResult<FileInfo> {
        who.authorize(&project, None, Access::Write)?;
        Ok(self.storage.run(move |s| s.set_file_tags(&project, &id, &tags)).await?)
    }
}
