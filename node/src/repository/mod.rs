//! Remote repositories: where backups go. A repository is a location (`file://`, `s3://`,
//! `mem://`) plus properties (endpoint, credentials); [`RepoStore`] is the small file API the FE,
//! the BEs and the broker need on top of it, with paths relative to the location's root (e.g.
//! `__palo_repository_r/__repo_info`).
//!
//! [`open_direct`] talks to the storage itself through object_store; [`BrokerStore`] goes through
//! a broker process over gRPC. Both implement the same trait, with the same errors.
//!
//! Big files are written through [`RepoStore::writer`], a [`RepoWriter`] that streams: it holds at
//! most one part ([`STREAM_PART_BYTES`]) in memory whatever the file's size, and publishes the
//! file only when [`RepoWriter::finish`] succeeds.
//!
//! `mem://bucket/prefix` is an in-memory store, shared by everything that opens the same bucket:
//! in the simulator, by every node of one simulated world (each seed runs on its own thread, and
//! the registry is per thread); in a real build, by the whole process (useful for tests).

mod broker_store;
#[cfg(madsim)]
mod faults;
mod location;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use broker_store::{BROKER_TIMEOUTS, BrokerStore, repo_error_to_status};
pub use location::{LOCATION_FORMS, Location};

/// Largest file [`RepoStore::get`] reads whole.
pub const MAX_GET_BYTES: u64 = 64 * 1024 * 1024;
/// Largest range one [`RepoStore::get_range`] returns.
pub const MAX_RANGE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest object [`RepoStore::put`] writes from one buffer; bigger files go through
/// [`RepoStore::writer`].
pub const MAX_PUT_BYTES: u64 = 256 * 1024 * 1024;
/// Largest object [`RepoStore::put_if_absent`] writes: conditional creates are small marker files,
/// and the broker assembles them in memory (so it holds no more for one than for a streamed part).
pub const MAX_PUT_IF_ABSENT_BYTES: u64 = STREAM_PART_BYTES as u64;
/// What a [`RepoWriter`] buffers before sending it as one part of a multipart upload. S3 wants
/// every part but the last to be at least 5 MiB (and some S3-like stores want them equal).
pub const STREAM_PART_BYTES: usize = 8 * 1024 * 1024;
/// Most parts of one multipart upload (S3's limit).
pub const MAX_STREAM_PARTS: u64 = 10_000;
/// Largest object a [`RepoWriter`] takes: [`MAX_STREAM_PARTS`] full parts (78 GiB).
pub const MAX_STREAM_BYTES: u64 = STREAM_PART_BYTES as u64 * MAX_STREAM_PARTS;
/// Most entries one [`RepoStore::list`] returns; past it the list is an error, not a cut list.
pub const MAX_LIST_ENTRIES: usize = 100_000;
/// Most objects one list may walk (a string prefix lists its parent directory and filters).
pub const MAX_LIST_SCANNED: usize = 1_000_000;
/// Longest relative path accepted (S3 keys are at most 1024 bytes, prefix included).
pub const MAX_PATH_BYTES: usize = 1024;
/// Data per message on the broker protocol.
pub const WIRE_CHUNK_BYTES: usize = 1024 * 1024;
/// The most files one [`RepoStore::put_files`] writes.
pub const MAX_PUT_FILES: usize = 1024;
/// The most bytes, all files together, one [`RepoStore::put_files`] writes.
pub const MAX_PUT_FILES_BYTES: u64 = 4 * 1024 * 1024;

/// Property names [`open_direct`] accepts (Doris's names).
pub const KNOWN_PROPERTIES: &[&str] =
    &["s3.endpoint", "s3.region", "s3.access_key", "s3.secret_key", "s3.session_token", "use_path_style"];

/// A file under the location's root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoEntry {
    pub path: String,
    pub size_bytes: u64,
}

/// One level of a directory: [`RepoStore::list_shallow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shallow {
    /// Files of the directory that start with the prefix, sorted by path.
    pub files: Vec<RepoEntry>,
    /// Its subdirectories that start with the prefix, as paths without a trailing `/`, sorted.
    pub dirs: Vec<String>,
}

impl Shallow {
    /// One level of `prefix`'s directory, taken from a list of every file under it (paths that
    /// do not start with `prefix` are ignored).
    pub fn of(prefix: &str, entries: Vec<RepoEntry>) -> Shallow {
        let dir_len = prefix.rfind('/').map_or(0, |at| at + 1);
        let mut shallow = Shallow::default();
        for entry in entries {
            if !entry.path.starts_with(prefix) {
                continue;
            }
            match entry.path[dir_len..].find('/') {
                None => shallow.files.push(entry),
                Some(at) => {
                    let dir = &entry.path[..dir_len + at];
                    if shallow.dirs.last().map(String::as_str) != Some(dir) {
                        shallow.dirs.push(dir.to_string());
                    }
                }
            }
        }
        shallow.files.sort();
        shallow.dirs.sort();
        shallow.dirs.dedup();
        shallow
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    #[error("remote file {0} does not exist")]
    NotFound(String),
    #[error("remote file {0} already exists")]
    AlreadyExists(String),
    #[error("repository unreachable: {0}")]
    Unreachable(String),
    #[error("repository access denied: {0}; check the credentials and their rights on the location")]
    Denied(String),
    #[error("invalid repository request: {0}")]
    Invalid(String),
}

/// The file API of a repository. Paths are relative to the location's root, `/`-separated, with
/// no empty, `.` or `..` segment.
#[async_trait]
pub trait RepoStore: Send + Sync {
    /// Writes `data` to `path`, replacing what was there.
    async fn put(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError>;
    /// Writes `data` to `path` only if nothing is there; true if it created the file.
    async fn put_if_absent(&self, path: &str, data: Vec<u8>) -> Result<bool, RepoError>;
    /// A whole file of at most [`MAX_GET_BYTES`].
    async fn get(&self, path: &str) -> Result<Vec<u8>, RepoError>;
    /// Bytes `[offset, offset + len)` of a file, cut at its end (`offset` equal to the size gives
    /// nothing; past it is an error). `len` is at most [`MAX_RANGE_BYTES`].
    async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, RepoError>;
    /// The size of a file.
    async fn size_bytes(&self, path: &str) -> Result<u64, RepoError>;
    /// Every file whose path starts with `prefix` (a plain string prefix: `a/__meta` finds
    /// `a/__meta.<md5>`; `a/` finds everything under `a`), sorted by path.
    async fn list(&self, prefix: &str) -> Result<Vec<RepoEntry>, RepoError>;
    /// One level of `prefix`'s directory: its files and subdirectories that start with `prefix`,
    /// without walking what the subdirectories hold (a snapshot's `__info` beside 10^5 tablet
    /// files). By default a whole [`RepoStore::list`], cut to one level.
    async fn list_shallow(&self, prefix: &str) -> Result<Shallow, RepoError> {
        Ok(Shallow::of(prefix, self.list(prefix).await?))
    }
    /// Deletes a file; a missing one is fine.
    async fn delete(&self, path: &str) -> Result<(), RepoError>;
    async fn exists(&self, path: &str) -> Result<bool, RepoError> {
        match self.size_bytes(path).await {
            Ok(_) => Ok(true),
            Err(RepoError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Moves `from` to `to`, replacing `to`.
    async fn rename(&self, from: &str, to: &str) -> Result<(), RepoError>;
    /// A streaming write to `path`, replacing what is there once it finishes (see
    /// [`RepoWriter`]).
    async fn writer(&self, path: &str) -> Result<Box<dyn RepoWriter>, RepoError>;
    /// Puts small files, each as [`RepoStore::put`] would, in order: at most [`MAX_PUT_FILES`]
    /// files of at most [`MAX_PUT_FILES_BYTES`] in all. A store that can (the broker) writes them
    /// in one call: a backup of many small files pays one round trip for many of them. After an
    /// error, the files before the one that failed are published; the others may or may not be.
    async fn put_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), RepoError> {
        check_put_files(files.iter().map(|(path, data)| (path.as_str(), data.len())))?;
        for (path, data) in files {
            self.put(&path, data).await?;
        }
        Ok(())
    }
    /// Whether a put or a finished writer has already checked that the store published every byte
    /// it was given (the broker answers each write with the bytes it published, and the write
    /// fails if they differ), so a writer need not ask the store for the size again.
    fn checks_written_sizes(&self) -> bool {
        false
    }
}

/// A file being written piece by piece. Nothing is visible under its path (an earlier file there
/// stays as it was) until [`RepoWriter::finish`] succeeds; [`RepoWriter::abort`], an error, or
/// dropping the writer leave nothing there. It holds at most [`STREAM_PART_BYTES`] (plus the
/// chunk being written) in memory.
///
/// Dropping instead of aborting cannot wait for the store: on S3 the parts already sent stay,
/// invisible, until the bucket's lifecycle rule for incomplete multipart uploads removes them.
#[async_trait]
pub trait RepoWriter: Send {
    /// Appends `chunk`. After an error the writer is unusable: abort it.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), RepoError>;
    /// [`RepoWriter::write`] of bytes the caller gives away: a writer that holds or sends them
    /// takes them as they are instead of copying them.
    async fn write_owned(&mut self, chunk: Vec<u8>) -> Result<(), RepoError> {
        self.write(&chunk).await
    }
    /// Publishes the file; its size in bytes.
    async fn finish(self: Box<Self>) -> Result<u64, RepoError>;
    /// Drops what was written (best effort: an error is only logged).
    async fn abort(self: Box<Self>);
}

/// Refuses to grow a streamed object past [`MAX_STREAM_BYTES`].
fn check_stream_size(path: &str, written_bytes: u64, chunk_bytes: usize) -> Result<(), RepoError> {
    if written_bytes.saturating_add(chunk_bytes as u64) > MAX_STREAM_BYTES {
        return Err(RepoError::Invalid(format!(
            "{path}: more than the {MAX_STREAM_BYTES} bytes one streamed write allows"
        )));
    }
    Ok(())
}

/// Opens the storage at `location` directly (no broker). Unknown property names are refused.
/// Nothing is contacted yet: a `file://` directory (the root included) is made by the first
/// write under it, and an S3 bucket is first reached by the first call.
pub fn open_direct(location: &str, properties: &BTreeMap<String, String>) -> Result<Arc<dyn RepoStore>, RepoError> {
    let parsed = Location::parse(location)?;
    check_properties(&parsed, properties)?;
    match parsed {
        Location::File { dir } => store::open_local(&dir),
        Location::S3 { bucket, prefix } => store::open_s3(&bucket, &prefix, properties),
        Location::Mem { bucket, prefix } => store::open_mem(&bucket, &prefix),
    }
}

fn check_properties(location: &Location, properties: &BTreeMap<String, String>) -> Result<(), RepoError> {
    for name in properties.keys() {
        if !KNOWN_PROPERTIES.contains(&name.as_str()) {
            return Err(RepoError::Invalid(format!(
                "unknown repository property {name:?}; known properties: {}",
                KNOWN_PROPERTIES.join(", ")
            )));
        }
        // mem:// stands in for S3 (in the simulator), so it takes S3's properties and ignores them.
        if matches!(location, Location::File { .. }) {
            return Err(RepoError::Invalid(format!(
                "property {name:?} applies only to s3:// (and mem://) locations, not to {location}"
            )));
        }
    }
    Ok(())
}

/// The MD5 of `bytes` as 32 lowercase hex digits.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(bytes);
    let mut hex = String::with_capacity(32);
    for byte in digest.iter() {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Doris's checksummed file name: `name.<md5>`.
pub fn with_md5(name: &str, md5: &str) -> String {
    format!("{name}.{md5}")
}

/// Splits `name.<32 hex digits>` into the name and the MD5; None when the name carries no MD5.
pub fn split_md5(file: &str) -> Option<(&str, &str)> {
    let (name, md5) = file.rsplit_once('.')?;
    (!name.is_empty() && md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit())).then_some((name, md5))
}

/// Checks a relative path; the error says what is wrong.
/// Refuses a [`RepoStore::put_files`] of `(path, bytes)` above its limits, or with a bad path.
pub fn check_put_files<'a>(files: impl ExactSizeIterator<Item = (&'a str, usize)>) -> Result<(), RepoError> {
    if files.len() > MAX_PUT_FILES {
        return Err(RepoError::Invalid(format!("{} files in one put, more than {MAX_PUT_FILES}", files.len())));
    }
    let mut total_bytes = 0u64;
    for (path, len) in files {
        check_path(path)?;
        total_bytes = total_bytes.saturating_add(len as u64);
    }
    if total_bytes > MAX_PUT_FILES_BYTES {
        return Err(RepoError::Invalid(format!(
            "{total_bytes} bytes in one put of files, more than {MAX_PUT_FILES_BYTES}"
        )));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), RepoError> {
    if path.is_empty() {
        return Err(RepoError::Invalid("the path is empty".into()));
    }
    check_prefix(path)
}

/// Like [`check_path`], but an empty prefix and a trailing `/` are fine.
fn check_prefix(prefix: &str) -> Result<(), RepoError> {
    if prefix.len() > MAX_PATH_BYTES {
        return Err(RepoError::Invalid(format!("path is longer than {MAX_PATH_BYTES} bytes")));
    }
    if prefix.starts_with('/') {
        return Err(RepoError::Invalid(format!("path {prefix:?} must be relative to the location (no leading /)")));
    }
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Ok(());
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.chars().any(|c| c.is_control()) {
            return Err(RepoError::Invalid(format!(
                "path {prefix:?} has an empty, '.', '..' or control-character segment"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
