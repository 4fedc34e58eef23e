//! [`RepoStore`] over object_store: the local file system, S3 (real builds only) and in-memory
//! buckets.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutPayload, PutPayloadMut};

use super::{
    MAX_GET_BYTES, MAX_LIST_ENTRIES, MAX_LIST_SCANNED, MAX_PUT_BYTES, MAX_PUT_IF_ABSENT_BYTES, MAX_RANGE_BYTES,
    RepoEntry, RepoError, RepoStore, RepoWriter, STREAM_PART_BYTES, Shallow, check_path, check_prefix,
    check_stream_size,
};

/// Most distinct `mem://` buckets alive at once.
pub const MAX_MEM_BUCKETS: usize = 1024;

/// A repository on an object_store store whose root is the location's root.
struct ObjectRepoStore {
    store: Arc<dyn ObjectStore>,
    /// The location, for messages.
    name: String,
}

/// The [`RepoError`] for an object_store error on `path` of the store called `name`.
fn map_error(name: &str, e: object_store::Error, path: &str) -> RepoError {
    match e {
        object_store::Error::NotFound { .. } => RepoError::NotFound(path.to_string()),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            RepoError::AlreadyExists(path.to_string())
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            RepoError::Denied(format!("{name}: {path}: {e}"))
        }
        object_store::Error::InvalidPath { .. } => RepoError::Invalid(format!("{name}: {path}: {e}")),
        other => RepoError::Unreachable(format!("{name}: {path}: {other}")),
    }
}

impl ObjectRepoStore {
    fn error(&self, e: object_store::Error, path: &str) -> RepoError {
        map_error(&self.name, e, path)
    }

    fn object_path(&self, path: &str) -> Result<Path, RepoError> {
        check_path(path)?;
        Path::parse(path).map_err(|e| RepoError::Invalid(format!("path {path:?}: {e}")))
    }
}

fn check_put_size(path: &str, data: &[u8], limit_bytes: u64) -> Result<(), RepoError> {
    if data.len() as u64 > limit_bytes {
        return Err(RepoError::Invalid(format!(
            "{path}: {} bytes is more than the {limit_bytes} bytes this write allows",
            data.len()
        )));
    }
    Ok(())
}

/// The directory a list of `prefix` walks: its parent (`None`: the root).
fn parent_dir(prefix: &str) -> Result<Option<Path>, RepoError> {
    let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
    if dir.is_empty() {
        return Ok(None);
    }
    Path::parse(dir).map(Some).map_err(|e| RepoError::Invalid(format!("prefix {prefix:?}: {e}")))
}

#[async_trait]
impl RepoStore for ObjectRepoStore {
    async fn put(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError> {
        let p = self.object_path(path)?;
        check_put_size(path, &data, MAX_PUT_BYTES)?;
        self.store.put(&p, PutPayload::from(data)).await.map_err(|e| self.error(e, path))?;
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, data: Vec<u8>) -> Result<bool, RepoError> {
        let p = self.object_path(path)?;
        check_put_size(path, &data, MAX_PUT_IF_ABSENT_BYTES)?;
        match self.store.put_opts(&p, PutPayload::from(data), PutMode::Create.into()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.error(e, path)),
        }
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        let p = self.object_path(path)?;
        let result = self.store.get(&p).await.map_err(|e| self.error(e, path))?;
        if result.meta.size > MAX_GET_BYTES {
            return Err(RepoError::Invalid(format!(
                "{path} is {} bytes, more than the {MAX_GET_BYTES} bytes a whole-file read allows; read it in ranges",
                result.meta.size
            )));
        }
        let bytes = result.bytes().await.map_err(|e| self.error(e, path))?;
        Ok(bytes.to_vec())
    }

    async fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, RepoError> {
        let p = self.object_path(path)?;
        if len > MAX_RANGE_BYTES {
            return Err(RepoError::Invalid(format!("a range read is at most {MAX_RANGE_BYTES} bytes, not {len}")));
        }
        let end =
            offset.checked_add(len).ok_or_else(|| RepoError::Invalid(format!("range {offset}+{len} overflows")))?;
        if len > 0 {
            match self.store.get_range(&p, offset..end).await {
                // Taken over, not copied, when the buffer is the store's own (file:// reads).
                Ok(bytes) => return Ok(Vec::from(bytes)),
                Err(e @ object_store::Error::NotFound { .. }) => return Err(self.error(e, path)),
                // A start at or past the end is an error to object_store: tell the two apart.
                Err(_) => {}
            }
        }
        let size = self.size_bytes(path).await?;
        if offset > size {
            return Err(RepoError::Invalid(format!("offset {offset} is past the end of {path} ({size} bytes)")));
        }
        if offset == size || len == 0 {
            return Ok(Vec::new());
        }
        // The range was valid: read again and report that error.
        let bytes = self.store.get_range(&p, offset..end.min(size)).await.map_err(|e| self.error(e, path))?;
        Ok(bytes.to_vec())
    }

    async fn size_bytes(&self, path: &str) -> Result<u64, RepoError> {
        let p = self.object_path(path)?;
        let meta = self.store.head(&p).await.map_err(|e| self.error(e, path))?;
        Ok(meta.size)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<RepoEntry>, RepoError> {
        check_prefix(prefix)?;
        // object_store lists whole directories: list the prefix's parent and filter.
        let dir_path = parent_dir(prefix)?;
        let mut stream = self.store.list(dir_path.as_ref());
        let mut entries = Vec::new();
        let mut scanned = 0usize;
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.error(e, prefix))?;
            scanned += 1;
            if scanned > MAX_LIST_SCANNED {
                return Err(RepoError::Invalid(format!(
                    "listing {prefix:?} walks more than {MAX_LIST_SCANNED} files; use a narrower prefix"
                )));
            }
            let path = meta.location.to_string();
            if path.starts_with(prefix) {
                if entries.len() >= MAX_LIST_ENTRIES {
                    return Err(RepoError::Invalid(format!(
                        "more than {MAX_LIST_ENTRIES} files start with {prefix:?}; use a narrower prefix"
                    )));
                }
                entries.push(RepoEntry { path, size_bytes: meta.size });
            }
        }
        entries.sort();
        Ok(entries)
    }

    async fn list_shallow(&self, prefix: &str) -> Result<Shallow, RepoError> {
        check_prefix(prefix)?;
        let dir_path = parent_dir(prefix)?;
        let listed = self.store.list_with_delimiter(dir_path.as_ref()).await.map_err(|e| self.error(e, prefix))?;
        if listed.objects.len() + listed.common_prefixes.len() > MAX_LIST_SCANNED {
            return Err(RepoError::Invalid(format!(
                "listing {prefix:?} walks more than {MAX_LIST_SCANNED} entries; use a narrower prefix"
            )));
        }
        let mut shallow = Shallow {
            files: listed
                .objects
                .into_iter()
                .map(|meta| RepoEntry { path: meta.location.to_string(), size_bytes: meta.size })
                .filter(|e| e.path.starts_with(prefix))
                .collect(),
            dirs: listed.common_prefixes.iter().map(|p| p.to_string()).filter(|d| d.starts_with(prefix)).collect(),
        };
        if shallow.files.len() + shallow.dirs.len() > MAX_LIST_ENTRIES {
            return Err(RepoError::Invalid(format!(
                "more than {MAX_LIST_ENTRIES} entries start with {prefix:?}; use a narrower prefix"
            )));
        }
        shallow.files.sort();
        shallow.dirs.sort();
        Ok(shallow)
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        let p = self.object_path(path)?;
        match self.store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(e, path)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), RepoError> {
        let from_path = self.object_path(from)?;
        let to_path = self.object_path(to)?;
        self.store.rename(&from_path, &to_path).await.map_err(|e| self.error(e, from))
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn RepoWriter>, RepoError> {
        let location = self.object_path(path)?;
        Ok(Box::new(ObjectWriter {
            store: Arc::clone(&self.store),
            location,
            path: path.to_string(),
            name: self.name.clone(),
            buffer: PutPayloadMut::new(),
            upload: None,
            written_bytes: 0,
            failed: false,
        }))
    }
}

/// A streamed write on object_store. Bytes collect in `buffer` up to [`STREAM_PART_BYTES`]; a full
/// buffer is sent as the next part of a multipart upload (started by the first) once more bytes
/// come, so a file that fits in one part is a single plain put at `finish`. Each part is awaited
/// before the next is buffered: the buffer is the only part in memory. (Not object_store's
/// `WriteMultipart`: it spawns tasks on the real tokio, which the simulator does not run.)
///
/// Visibility: a plain put and a completed multipart upload are both atomic (S3 objects appear
/// whole; `file://` writes a staging file `<path>#<n>`, which listings skip, and renames it).
struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    location: Path,
    /// The relative path and the store's name, for messages.
    path: String,
    name: String,
    /// The part being gathered: at most [`STREAM_PART_BYTES`], as the chunks written (owned
    /// chunks are held as they came; borrowed ones are copied into blocks).
    buffer: PutPayloadMut,
    upload: Option<Box<dyn MultipartUpload>>,
    written_bytes: u64,
    /// A part failed (and the upload was aborted): nothing more may be written.
    failed: bool,
}

impl ObjectWriter {
    fn check_usable(&self) -> Result<(), RepoError> {
        if self.failed {
            return Err(RepoError::Invalid(format!("{}: an earlier write of this file failed", self.path)));
        }
        Ok(())
    }

    /// Sends the buffer as the next part; on failure aborts the upload and poisons the writer.
    async fn send_part(&mut self) -> Result<(), RepoError> {
        let part = std::mem::take(&mut self.buffer).freeze();
        let mut upload = match self.upload.take() {
            Some(upload) => upload,
            None => match self.store.put_multipart(&self.location).await {
                Ok(upload) => upload,
                Err(e) => {
                    self.failed = true;
                    return Err(map_error(&self.name, e, &self.path));
                }
            },
        };
        match upload.put_part(part).await {
            Ok(()) => {
                self.upload = Some(upload);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                abort_upload(upload.as_mut(), &self.path).await;
                Err(map_error(&self.name, e, &self.path))
            }
        }
    }

    /// Bytes the part being gathered can still take.
    fn part_room_bytes(&self) -> usize {
        debug_assert!(self.buffer.content_length() <= STREAM_PART_BYTES);
        STREAM_PART_BYTES - self.buffer.content_length()
    }
}

async fn abort_upload(upload: &mut dyn MultipartUpload, path: &str) {
    if let Err(e) = upload.abort().await {
        tracing::warn!(path, error = %e, "repository: aborting a multipart upload failed; its parts may linger");
    }
}

#[async_trait]
impl RepoWriter for ObjectWriter {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), RepoError> {
        self.check_usable()?;
        check_stream_size(&self.path, self.written_bytes, chunk.len())?;
        while !chunk.is_empty() {
            if self.part_room_bytes() == 0 {
                self.send_part().await?;
            }
            let take = self.part_room_bytes().min(chunk.len());
            self.buffer.extend_from_slice(&chunk[..take]);
            self.written_bytes += take as u64;
            chunk = &chunk[take..];
        }
        Ok(())
    }

    async fn write_owned(&mut self, chunk: Vec<u8>) -> Result<(), RepoError> {
        self.check_usable()?;
        check_stream_size(&self.path, self.written_bytes, chunk.len())?;
        let mut chunk = Bytes::from(chunk);
        while !chunk.is_empty() {
            if self.part_room_bytes() == 0 {
                self.send_part().await?;
            }
            let take = self.part_room_bytes().min(chunk.len());
            self.buffer.push(chunk.split_to(take));
            self.written_bytes += take as u64;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, RepoError> {
        self.check_usable()?;
        let last = std::mem::take(&mut self.buffer).freeze();
        let result = match self.upload.take() {
            None => self.store.put(&self.location, last).await.map(drop),
            Some(mut upload) => {
                // The buffer is never empty here: a full part is only sent when more bytes come.
                let mut result = upload.put_part(last).await;
                if result.is_ok() {
                    result = upload.complete().await.map(drop);
                }
                if result.is_err() {
                    abort_upload(upload.as_mut(), &self.path).await;
                }
                result
            }
        };
        result.map_err(|e| map_error(&self.name, e, &self.path))?;
        Ok(self.written_bytes)
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(mut upload) = self.upload.take() {
            abort_upload(upload.as_mut(), &self.path).await;
        }
    }
}

/// A directory of the local file system. Directories, the root included, are made by the first
/// write under them (and never removed: automatic cleanup is off); reading a missing root finds
/// nothing.
pub(super) fn open_local(dir: &str) -> Result<Arc<dyn RepoStore>, RepoError> {
    use object_store::local::LocalFileSystem;
    let fs: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new().with_automatic_cleanup(false));
    let name = format!("file://{dir}");
    Ok(Arc::new(ObjectRepoStore { store: with_prefix(fs, dir.trim_start_matches('/')), name }))
}

#[cfg(not(madsim))]
static MEM_BUCKETS: std::sync::Mutex<BTreeMap<String, Arc<InMemory>>> = std::sync::Mutex::new(BTreeMap::new());

#[cfg(madsim)]
thread_local! {
    /// Per thread: the simulator runs each seed, with all its nodes, on one thread.
    static MEM_BUCKETS: std::cell::RefCell<BTreeMap<String, Arc<InMemory>>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
}

fn mem_bucket_in(buckets: &mut BTreeMap<String, Arc<InMemory>>, bucket: &str) -> Result<Arc<InMemory>, RepoError> {
    if let Some(store) = buckets.get(bucket) {
        return Ok(Arc::clone(store));
    }
    if buckets.len() >= MAX_MEM_BUCKETS {
        return Err(RepoError::Invalid(format!("more than {MAX_MEM_BUCKETS} mem:// buckets; reuse one")));
    }
    let store = Arc::new(InMemory::new());
    buckets.insert(bucket.to_string(), Arc::clone(&store));
    Ok(store)
}

fn mem_bucket(bucket: &str) -> Result<Arc<InMemory>, RepoError> {
    #[cfg(not(madsim))]
    {
        let mut buckets = MEM_BUCKETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        mem_bucket_in(&mut buckets, bucket)
    }
    #[cfg(madsim)]
    {
        MEM_BUCKETS.with(|buckets| mem_bucket_in(&mut buckets.borrow_mut(), bucket))
    }
}

/// An in-memory bucket (see the module docs for who shares it).
pub(super) fn open_mem(bucket: &str, prefix: &str) -> Result<Arc<dyn RepoStore>, RepoError> {
    let store: Arc<dyn ObjectStore> = mem_bucket(bucket)?;
    let name = if prefix.is_empty() { format!("mem://{bucket}") } else { format!("mem://{bucket}/{prefix}") };
    let store: Arc<dyn RepoStore> = Arc::new(ObjectRepoStore { store: with_prefix(store, prefix), name });
    // In the simulator, mem:// stands for a remote store: it fails, stalls and flips bits.
    #[cfg(madsim)]
    let store: Arc<dyn RepoStore> = Arc::new(super::faults::FaultyStore { inner: store });
    Ok(store)
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<dyn ObjectStore> {
    if prefix.is_empty() { store } else { Arc::new(PrefixStore::new(store, prefix)) }
}

#[cfg(madsim)]
pub(super) fn open_s3(
    _bucket: &str,
    _prefix: &str,
    _properties: &BTreeMap<String, String>,
) -> Result<Arc<dyn RepoStore>, RepoError> {
    Err(RepoError::Invalid("S3 is not available in the simulator; use mem://".into()))
}

/// S3 retries: few and short, so an unreachable endpoint fails in seconds, not minutes.
#[cfg(not(madsim))]
const S3_MAX_RETRIES: usize = 3;
#[cfg(not(madsim))]
const S3_RETRY_TIMEOUT_MS: u64 = 10_000;
#[cfg(not(madsim))]
const S3_CONNECT_TIMEOUT_MS: u64 = 5_000;
#[cfg(not(madsim))]
const S3_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// An S3 bucket, with static keys only (never the instance metadata service).
#[cfg(not(madsim))]
pub(super) fn open_s3(
    bucket: &str,
    prefix: &str,
    properties: &BTreeMap<String, String>,
) -> Result<Arc<dyn RepoStore>, RepoError> {
    use std::time::Duration;

    use object_store::aws::AmazonS3Builder;
    use object_store::{BackoffConfig, ClientOptions, RetryConfig};

    let get = |name: &str| properties.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (Some(access_key), Some(secret_key)) = (get("s3.access_key"), get("s3.secret_key")) else {
        return Err(RepoError::Invalid("s3.access_key and s3.secret_key are required".into()));
    };
    let Some(endpoint) = get("s3.endpoint") else {
        return Err(RepoError::Invalid(
            "s3.endpoint is required (e.g. http://127.0.0.1:9000 or s3.us-east-1.amazonaws.com)".into(),
        ));
    };
    let path_style = match get("use_path_style") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(RepoError::Invalid(format!("use_path_style must be true or false, not {other:?}"))),
    };
    let (scheme, host) = match endpoint.split_once("://") {
        Some((scheme @ ("http" | "https"), host)) => (scheme, host),
        Some((scheme, _)) => {
            return Err(RepoError::Invalid(format!("s3.endpoint scheme must be http or https, not {scheme:?}")));
        }
        None => ("https", endpoint),
    };
    let host = host.trim_end_matches('/');
    // Virtual-hosted style: object_store wants the bucket in the endpoint.
    let endpoint = if path_style { format!("{scheme}://{host}") } else { format!("{scheme}://{bucket}.{host}") };
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: S3_MAX_RETRIES,
        retry_timeout: Duration::from_millis(S3_RETRY_TIMEOUT_MS),
    };
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_millis(S3_CONNECT_TIMEOUT_MS))
        .with_timeout(Duration::from_millis(S3_REQUEST_TIMEOUT_MS));
    // Client options first: `with_client_options` replaces them all, `allow_http` included.
    let mut builder = AmazonS3Builder::new()
        .with_client_options(client)
        .with_bucket_name(bucket)
        .with_region(get("s3.region").unwrap_or("us-east-1"))
        .with_endpoint(endpoint.clone())
        .with_allow_http(scheme == "http")
        .with_virtual_hosted_style_request(!path_style)
        .with_access_key_id(access_key)
        .with_secret_access_key(secret_key)
        .with_retry(retry);
    if let Some(token) = get("s3.session_token") {
        builder = builder.with_token(token);
    }
    let s3 = builder.build().map_err(|e| RepoError::Invalid(format!("s3://{bucket} at {endpoint}: {e}")))?;
    let name = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
    Ok(Arc::new(ObjectRepoStore { store: with_prefix(Arc::new(s3), prefix), name }))
}
