//! The rowset file: one load's rows for one tablet (or the merge of several such rowsets).
//!
//! ```text
//! header  magic "PLRS" | format version u32 | tablet_id i64 | txn_id i64        (24 bytes)
//! data    row_codec bytes, appended chunk by chunk
//! footer  row_count u64 | data_len u64 | crc32c u32 of header+data | magic "PLRE" (24 bytes)
//! ```
//!
//! All integers little endian. A compaction's output has txn_id 0.
//!
//! A restore installs files written for another tablet: [`RowsetRetagger`] rewrites one, streamed,
//! to carry the new tablet's id (and a checksum over the new header).
//!
//! Crash safety: [`RowsetWriter`] writes without syncing; [`RowsetWriter::seal`] writes the footer,
//! syncs the file and then its directory, and only then reports success. A file is trusted only if
//! its footer, lengths and checksum agree ([`parse_rowset`], [`verify_rowset`]): a torn or
//! half-written file is detected, never read as rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};

use crate::disk::{self, Disk, DiskError};
use crate::row_codec::{self, StreamDecoder};
use crate::schema::{Row, Schema};

pub const HEADER_MAGIC: [u8; 4] = *b"PLRS";
pub const FOOTER_MAGIC: [u8; 4] = *b"PLRE";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_BYTES: u64 = 24;
pub const FOOTER_BYTES: u64 = 24;

/// Reads of a rowset file that is checked piece by piece.
const VERIFY_READ_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RowsetError {
    #[error("rowset file {path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("rowset file {}: {source}", source.path().display())]
    Disk {
        #[from]
        source: DiskError,
    },
}

fn damaged(path: &Path, detail: impl Into<String>) -> RowsetError {
    RowsetError::Damaged { path: path.to_path_buf(), detail: detail.into() }
}

/// Who a rowset file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsetHeader {
    pub tablet_id: i64,
    /// The load that wrote it; 0 for a compaction's output.
    pub txn_id: i64,
}

impl RowsetHeader {
    fn encode(self) -> [u8; HEADER_BYTES as usize] {
        let mut out = [0u8; HEADER_BYTES as usize];
        out[0..4].copy_from_slice(&HEADER_MAGIC);
        out[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[8..16].copy_from_slice(&self.tablet_id.to_le_bytes());
        out[16..24].copy_from_slice(&self.txn_id.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<RowsetHeader, RowsetError> {
        let field = |range: std::ops::Range<usize>| -> Result<[u8; 8], RowsetError> {
            bytes.get(range).and_then(|b| b.try_into().ok()).ok_or_else(|| damaged(path, "the header is cut short"))
        };
        if bytes.get(0..4) != Some(&HEADER_MAGIC[..]) {
            return Err(damaged(path, "bad header magic"));
        }
        let version = bytes.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
        if version != Some(FORMAT_VERSION) {
            return Err(damaged(path, format!("unknown format version {version:?}")));
        }
        Ok(RowsetHeader { tablet_id: i64::from_le_bytes(field(8..16)?), txn_id: i64::from_le_bytes(field(16..24)?) })
    }
}

struct Footer {
    row_count: u64,
    data_len_bytes: u64,
    crc: u32,
}

impl Footer {
    fn encode(&self) -> [u8; FOOTER_BYTES as usize] {
        let mut out = [0u8; FOOTER_BYTES as usize];
        out[0..8].copy_from_slice(&self.row_count.to_le_bytes());
        out[8..16].copy_from_slice(&self.data_len_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.crc.to_le_bytes());
        out[20..24].copy_from_slice(&FOOTER_MAGIC);
        out
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Footer, RowsetError> {
        let Ok(bytes) = <[u8; FOOTER_BYTES as usize]>::try_from(bytes) else {
            return Err(damaged(path, "the footer is cut short"));
        };
        if bytes[20..24] != FOOTER_MAGIC {
            return Err(damaged(path, "no footer (the file was never sealed, or its end is torn)"));
        }
        let mut u64_at = [0u8; 8];
        u64_at.copy_from_slice(&bytes[0..8]);
        let row_count = u64::from_le_bytes(u64_at);
        u64_at.copy_from_slice(&bytes[8..16]);
        let data_len_bytes = u64::from_le_bytes(u64_at);
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[16..20]);
        Ok(Footer { row_count, data_len_bytes, crc: u32::from_le_bytes(crc) })
    }
}

/// What a sealed rowset holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsetSummary {
    pub header: RowsetHeader,
    pub row_count: u64,
    pub size_bytes: u64,
    /// The MD5 of the whole file (32 lowercase hex digits), when whoever wrote it hashed it as it
    /// went (a backup names the file by it without reading it again).
    pub md5: Option<String>,
}

/// 32 lowercase hex digits of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes one rowset file. After any error the writer must be dropped: the file's content is
/// then unknown and the file is garbage (never sealed).
pub struct RowsetWriter {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    header: RowsetHeader,
    len_bytes: u64,
    crc: u32,
    /// Of every byte written, in order (the file is written front to back).
    md5: Md5,
    row_count: u64,
}

impl RowsetWriter {
    /// Starts the file at `path`, replacing anything there.
    pub async fn create(disk: Arc<dyn Disk>, path: PathBuf, header: RowsetHeader) -> Result<RowsetWriter, DiskError> {
        match disk.remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let bytes = header.encode();
        disk.write_at(&path, 0, &bytes).await?;
        let mut md5 = Md5::new();
        md5.update(bytes);
        Ok(RowsetWriter { disk, path, header, len_bytes: HEADER_BYTES, crc: crc32c::crc32c(&bytes), md5, row_count: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn row_count(&self) -> u64 {
        self.row_count
    }

    /// Appends row_codec bytes holding `row_count` rows (not yet durable).
    pub async fn append(&mut self, data: &[u8], row_count: u64) -> Result<(), DiskError> {
        if data.is_empty() {
            return Ok(());
        }
        self.disk.write_at(&self.path, self.len_bytes, data).await?;
        self.len_bytes += data.len() as u64;
        self.crc = crc32c::crc32c_append(self.crc, data);
        self.md5.update(data);
        self.row_count += row_count;
        Ok(())
    }

    /// Writes the footer and makes the file and its name durable.
    pub async fn seal(mut self) -> Result<RowsetSummary, DiskError> {
        let footer =
            Footer { row_count: self.row_count, data_len_bytes: self.len_bytes - HEADER_BYTES, crc: self.crc }.encode();
        self.disk.write_at(&self.path, self.len_bytes, &footer).await?;
        self.disk.sync(&self.path).await?;
        self.disk.sync_dir(disk::parent_of(&self.path)?).await?;
        self.md5.update(footer);
        Ok(RowsetSummary {
            header: self.header,
            row_count: self.row_count,
            size_bytes: self.len_bytes + FOOTER_BYTES,
            md5: Some(hex(&self.md5.finalize())),
        })
    }
}

/// A rowset file read whole and checked: the header, the footer and the checksum agree.
#[derive(Debug)]
pub struct RowsetFile {
    pub path: PathBuf,
    pub header: RowsetHeader,
    pub row_count: u64,
    pub size_bytes: u64,
    bytes: Vec<u8>,
}

impl RowsetFile {
    /// The data section: row_codec bytes.
    pub fn data(&self) -> &[u8] {
        let end = self.bytes.len() - FOOTER_BYTES as usize;
        &self.bytes[HEADER_BYTES as usize..end]
    }

    /// The rows, checked against `schema` and the footer's row count.
    pub fn rows(&self, schema: &Schema) -> Result<Vec<Row>, RowsetError> {
        let rows = row_codec::decode_rows(schema, self.data()).map_err(|e| damaged(&self.path, e.to_string()))?;
        if rows.len() as u64 != self.row_count {
            return Err(damaged(
                &self.path,
                format!("the footer says {} rows but the data holds {}", self.row_count, rows.len()),
            ));
        }
        Ok(rows)
    }
}

/// Reads and checks the rowset file at `path` (a missing file is damage too: someone expected it).
pub async fn read_rowset(disk: &dyn Disk, path: &Path) -> Result<RowsetFile, RowsetError> {
    let bytes = match disk.read_all(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Err(damaged(path, "the file is missing")),
        Err(e) => return Err(e.into()),
    };
    parse_rowset(bytes, path)
}

/// Checks a whole rowset file's bytes.
pub fn parse_rowset(bytes: Vec<u8>, path: &Path) -> Result<RowsetFile, RowsetError> {
    let size_bytes = bytes.len() as u64;
    if size_bytes < HEADER_BYTES + FOOTER_BYTES {
        return Err(damaged(path, format!("{size_bytes} bytes is shorter than a header and a footer")));
    }
    let header = RowsetHeader::decode(&bytes[..HEADER_BYTES as usize], path)?;
    let footer_at = (size_bytes - FOOTER_BYTES) as usize;
    let footer = Footer::decode(&bytes[footer_at..], path)?;
    let data_len_bytes = size_bytes - HEADER_BYTES - FOOTER_BYTES;
    if footer.data_len_bytes != data_len_bytes {
        return Err(damaged(
            path,
            format!("the footer says {} data bytes but the file holds {data_len_bytes}", footer.data_len_bytes),
        ));
    }
    let crc = crc32c::crc32c(&bytes[..footer_at]);
    if crc != footer.crc {
        return Err(damaged(path, format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", footer.crc)));
    }
    Ok(RowsetFile { path: path.to_path_buf(), header, row_count: footer.row_count, size_bytes, bytes })
}

/// Checks only the frame of the rowset file at `path`: its header, its footer and that their
/// lengths agree with the file's size (two small reads; the checksum is not recomputed). For a
/// file verified whole moments ago (a restore's download checks every byte); every read checks
/// the checksum again anyway.
pub async fn check_frame(disk: &dyn Disk, path: &Path) -> Result<RowsetSummary, RowsetError> {
    let frame = read_frame(disk, path).await?;
    Ok(RowsetSummary {
        header: frame.header,
        row_count: frame.footer.row_count,
        size_bytes: frame.size_bytes,
        md5: None,
    })
}

/// A rowset file's header and footer, read and checked against the file's size.
struct Frame {
    /// The header's bytes (the checksum covers them).
    head: Vec<u8>,
    header: RowsetHeader,
    footer: Footer,
    size_bytes: u64,
    /// Where the footer starts: the data is `HEADER_BYTES..footer_at`.
    footer_at: u64,
}

async fn read_frame(disk: &dyn Disk, path: &Path) -> Result<Frame, RowsetError> {
    let size_bytes = match disk.metadata(path).await? {
        Some(m) if !m.is_dir => m.len_bytes,
        _ => return Err(damaged(path, "the file is missing")),
    };
    if size_bytes < HEADER_BYTES + FOOTER_BYTES {
        return Err(damaged(path, format!("{size_bytes} bytes is shorter than a header and a footer")));
    }
    let head = disk.read_at(path, 0, HEADER_BYTES).await?;
    let header = RowsetHeader::decode(&head, path)?;
    let footer_at = size_bytes - FOOTER_BYTES;
    let footer = Footer::decode(&disk.read_at(path, footer_at, FOOTER_BYTES).await?, path)?;
    if footer.data_len_bytes != footer_at - HEADER_BYTES {
        return Err(damaged(
            path,
            format!(
                "the footer says {} data bytes but the file holds {}",
                footer.data_len_bytes,
                footer_at - HEADER_BYTES
            ),
        ));
    }
    Ok(Frame { head, header, footer, size_bytes, footer_at })
}

/// Checks the rowset file at `path` reading it in bounded pieces: header, footer, lengths and
/// checksum, and with `schema` also that the data is exactly `row_count` rows of it.
pub async fn verify_rowset(
    disk: &dyn Disk,
    path: &Path,
    schema: Option<&Schema>,
) -> Result<RowsetSummary, RowsetError> {
    let Frame { head, header, footer, size_bytes, footer_at } = read_frame(disk, path).await?;
    let mut crc = crc32c::crc32c(&head);
    let mut decoder = schema.map(StreamDecoder::new);
    let mut offset = HEADER_BYTES;
    while offset < footer_at {
        let want = VERIFY_READ_BYTES.min(footer_at - offset);
        let piece = disk.read_at(path, offset, want).await?;
        if piece.len() as u64 != want {
            return Err(damaged(path, "the file shrank while being read"));
        }
        crc = crc32c::crc32c_append(crc, &piece);
        if let Some(decoder) = decoder.as_mut() {
            decoder.feed_validate(&piece).map_err(|e| damaged(path, e.to_string()))?;
        }
        offset += want;
    }
    if crc != footer.crc {
        return Err(damaged(path, format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", footer.crc)));
    }
    if let Some(decoder) = decoder {
        let rows = decoder.finish().map_err(|e| damaged(path, e.to_string()))?;
        if rows != footer.row_count {
            return Err(damaged(path, format!("the footer says {} rows but the data holds {rows}", footer.row_count)));
        }
    }
    Ok(RowsetSummary { header, row_count: footer.row_count, size_bytes, md5: None })
}

/// Rewrites a rowset file, streamed, to belong to another tablet: a restore's files carry the
/// tablet id of the backed-up tablet in their header, and reads check it is the tablet's own.
///
/// Fed the original file's bytes in order, chunk by chunk, it returns the bytes to write instead:
/// the header with the tablet id replaced, the data as it is; it holds back the last
/// [`FOOTER_BYTES`] (the original footer). [`RowsetRetagger::finish`] checks the original footer
/// (magic, data length, crc32c over the original header and data, which must carry the expected
/// source tablet id) and returns the new footer, whose crc32c covers the new header and data. The
/// output has the same length as the input. Memory stays at one chunk.
pub struct RowsetRetagger {
    /// Named in errors.
    path: PathBuf,
    size_bytes: u64,
    source_tablet_id: i64,
    new_tablet_id: i64,
    /// Original bytes fed so far.
    fed_bytes: u64,
    /// The original header while it arrives (at most [`HEADER_BYTES`]).
    header: Vec<u8>,
    /// The original footer while it arrives (at most [`FOOTER_BYTES`]).
    footer: Vec<u8>,
    /// The crc32c of the original header and of the new one, once the header has come.
    original_header_crc: u32,
    new_header_crc: u32,
    /// The crc32c of the data fed so far: the same in both files.
    data_crc: u32,
}

impl RowsetRetagger {
    /// For a file of `size_bytes` bytes written for `source_tablet_id`, to become `new_tablet_id`'s.
    pub fn new(
        path: &Path,
        size_bytes: u64,
        source_tablet_id: i64,
        new_tablet_id: i64,
    ) -> Result<RowsetRetagger, RowsetError> {
        if size_bytes < HEADER_BYTES + FOOTER_BYTES {
            return Err(damaged(path, format!("{size_bytes} bytes is shorter than a header and a footer")));
        }
        Ok(RowsetRetagger {
            path: path.to_path_buf(),
            size_bytes,
            source_tablet_id,
            new_tablet_id,
            fed_bytes: 0,
            header: Vec::with_capacity(HEADER_BYTES as usize),
            footer: Vec::with_capacity(FOOTER_BYTES as usize),
            original_header_crc: 0,
            new_header_crc: 0,
            data_crc: 0,
        })
    }

    /// Takes the next `chunk` of the original file; returns what to write next. A chunk wholly
    /// within the data (most of a large file) is handed back as it is, not copied.
    pub fn feed(&mut self, chunk: Vec<u8>) -> Result<Vec<u8>, RowsetError> {
        let footer_at = self.size_bytes - FOOTER_BYTES;
        let end = self.fed_bytes.saturating_add(chunk.len() as u64);
        if end > self.size_bytes {
            return Err(damaged(&self.path, format!("the file is longer than its {} bytes", self.size_bytes)));
        }
        if self.fed_bytes >= HEADER_BYTES && end <= footer_at {
            self.data_crc = crc32c::crc32c_append(self.data_crc, &chunk);
            self.fed_bytes = end;
            return Ok(chunk);
        }
        self.feed_edge(&chunk)
    }

    /// [`RowsetRetagger::feed`] of a chunk that holds some of the header or the footer.
    fn feed_edge(&mut self, chunk: &[u8]) -> Result<Vec<u8>, RowsetError> {
        let footer_at = self.size_bytes - FOOTER_BYTES;
        let mut out = Vec::with_capacity(chunk.len());
        let mut rest = chunk;
        while !rest.is_empty() {
            let at = self.fed_bytes;
            let take = if at < HEADER_BYTES {
                let take = rest.len().min((HEADER_BYTES - at) as usize);
                self.header.extend_from_slice(&rest[..take]);
                if self.header.len() as u64 == HEADER_BYTES {
                    out.extend_from_slice(&self.retag_header()?);
                }
                take
            } else if at < footer_at {
                let take = rest.len().min((footer_at - at) as usize);
                let data = &rest[..take];
                self.data_crc = crc32c::crc32c_append(self.data_crc, data);
                out.extend_from_slice(data);
                take
            } else {
                self.footer.extend_from_slice(rest);
                rest.len()
            };
            self.fed_bytes += take as u64;
            rest = &rest[take..];
        }
        debug_assert!(self.header.len() as u64 <= HEADER_BYTES && self.footer.len() as u64 <= FOOTER_BYTES);
        Ok(out)
    }

    /// The complete original header: checks it and returns the new one.
    fn retag_header(&mut self) -> Result<[u8; HEADER_BYTES as usize], RowsetError> {
        let header = RowsetHeader::decode(&self.header, &self.path)?;
        if header.tablet_id != self.source_tablet_id {
            return Err(damaged(
                &self.path,
                format!(
                    "it belongs to tablet {}, not to the backed-up tablet {}",
                    header.tablet_id, self.source_tablet_id
                ),
            ));
        }
        let new = RowsetHeader { tablet_id: self.new_tablet_id, ..header }.encode();
        self.original_header_crc = crc32c::crc32c(&self.header);
        self.new_header_crc = crc32c::crc32c(&new);
        Ok(new)
    }

    /// After the whole file was fed: checks the original footer and returns the new one.
    pub fn finish(self) -> Result<[u8; FOOTER_BYTES as usize], RowsetError> {
        let data_len = (self.size_bytes - HEADER_BYTES - FOOTER_BYTES) as usize;
        let original_crc = crc32c::crc32c_combine(self.original_header_crc, self.data_crc, data_len);
        let footer = check_footer(&self.path, self.size_bytes, self.fed_bytes, &self.footer, original_crc)?;
        let new_crc = crc32c::crc32c_combine(self.new_header_crc, self.data_crc, data_len);
        Ok(Footer { crc: new_crc, ..footer }.encode())
    }
}

/// The footer of a file of `size_bytes` bytes, all `fed_bytes` of which were seen, whose
/// header and data hash to `computed_crc`: checked against all three.
fn check_footer(
    path: &Path,
    size_bytes: u64,
    fed_bytes: u64,
    footer: &[u8],
    computed_crc: u32,
) -> Result<Footer, RowsetError> {
    if fed_bytes != size_bytes {
        return Err(damaged(path, format!("the file is cut short: {fed_bytes} of its {size_bytes} bytes")));
    }
    let footer = Footer::decode(footer, path)?;
    let data_len_bytes = size_bytes - HEADER_BYTES - FOOTER_BYTES;
    if footer.data_len_bytes != data_len_bytes {
        return Err(damaged(
            path,
            format!("the footer says {} data bytes but the file holds {data_len_bytes}", footer.data_len_bytes),
        ));
    }
    if footer.crc != computed_crc {
        return Err(damaged(
            path,
            format!("checksum mismatch (stored {:#010x}, computed {computed_crc:#010x})", footer.crc),
        ));
    }
    Ok(footer)
}

/// Checks a rowset file streamed through it, chunk by chunk, against its own footer (its lengths
/// and the crc32c of header and data), without copying it. An upload that knows a file's MD5
/// from when it was written checks the file this way as it sends it: crc32c runs in hardware, an
/// order of magnitude faster than hashing it again, and still catches any change since.
pub struct RowsetStreamCheck {
    /// Named in errors.
    path: PathBuf,
    size_bytes: u64,
    fed_bytes: u64,
    crc: u32,
    /// The footer while it arrives (at most [`FOOTER_BYTES`]).
    footer: Vec<u8>,
}

impl RowsetStreamCheck {
    /// For a file of `size_bytes` bytes.
    pub fn new(path: &Path, size_bytes: u64) -> Result<RowsetStreamCheck, RowsetError> {
        if size_bytes < HEADER_BYTES + FOOTER_BYTES {
            return Err(damaged(path, format!("{size_bytes} bytes is shorter than a header and a footer")));
        }
        let footer = Vec::with_capacity(FOOTER_BYTES as usize);
        Ok(RowsetStreamCheck { path: path.to_path_buf(), size_bytes, fed_bytes: 0, crc: 0, footer })
    }

    /// Takes the next `chunk` of the file.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), RowsetError> {
        let end = self.fed_bytes.saturating_add(chunk.len() as u64);
        if end > self.size_bytes {
            return Err(damaged(&self.path, format!("the file is longer than its {} bytes", self.size_bytes)));
        }
        let footer_at = self.size_bytes - FOOTER_BYTES;
        let hashed = footer_at.saturating_sub(self.fed_bytes).min(chunk.len() as u64) as usize;
        self.crc = crc32c::crc32c_append(self.crc, &chunk[..hashed]);
        self.footer.extend_from_slice(&chunk[hashed..]);
        self.fed_bytes = end;
        debug_assert!(self.footer.len() as u64 <= FOOTER_BYTES);
        Ok(())
    }

    /// After the whole file was fed: checks its footer.
    pub fn finish(self) -> Result<(), RowsetError> {
        check_footer(&self.path, self.size_bytes, self.fed_bytes, &self.footer, self.crc).map(|_| ())
    }
}

/// The bytes of a sealed rowset of `tablet_id` whose data is `data` (not rows: for tests of
/// what streams files without decoding them).
#[cfg(test)]
pub(crate) fn sealed_rowset_bytes(tablet_id: i64, data: &[u8]) -> Vec<u8> {
    let mut out = RowsetHeader { tablet_id, txn_id: 1 }.encode().to_vec();
    out.extend_from_slice(data);
    let footer = Footer { row_count: 1, data_len_bytes: data.len() as u64, crc: crc32c::crc32c(&out) };
    out.extend_from_slice(&footer.encode());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;
    use crate::schema::{Column, ColumnType, KeysType, Value};

    fn schema() -> Schema {
        Schema {
            columns: vec![
                Column {
                    name: "k".into(),
                    ty: ColumnType::BigInt,
                    nullable: false,
                    default: None,
                    comment: String::new(),
                    aggregation: None,
                    is_key: true,
                },
                Column {
                    name: "v".into(),
                    ty: ColumnType::String,
                    nullable: true,
                    default: None,
                    comment: String::new(),
                    aggregation: None,
                    is_key: false,
                },
            ],
            keys_type: KeysType::Duplicate,
        }
    }

    fn rows(from: i128, n: i128) -> Vec<Row> {
        (from..from + n).map(|i| vec![Value::Int(i), Value::Str(format!("row {i}"))]).collect()
    }

    #[tokio::test]
    async fn written_chunks_read_back_and_flipped_bytes_are_caught() {
        let temp = TempDisk::new("rowset").await;
        let disk = temp.disk();
        let schema = schema();
        let path = temp.path("r1.rowset");
        let mut writer =
            RowsetWriter::create(disk.clone(), path.clone(), RowsetHeader { tablet_id: 7, txn_id: 9 }).await.unwrap();
        let mut all = Vec::new();
        for chunk in 0..3 {
            let chunk_rows = rows(chunk * 10, 10);
            let mut bytes = Vec::new();
            row_codec::encode_rows(&schema, &chunk_rows, &mut bytes).unwrap();
            writer.append(&bytes, 10).await.unwrap();
            all.extend(chunk_rows);
        }
        let summary = writer.seal().await.unwrap();
        assert_eq!(summary.row_count, 30);
        assert_eq!(summary.header, RowsetHeader { tablet_id: 7, txn_id: 9 });

        let file = read_rowset(disk.as_ref(), &path).await.unwrap();
        assert_eq!(file.rows(&schema).unwrap(), all);
        assert_eq!(file.size_bytes, summary.size_bytes);
        // The writer hashed what it wrote: the MD5 of the whole file (a backup names it by it).
        let whole = disk.read_all(&path).await.unwrap();
        assert_eq!(summary.md5.as_deref(), Some(crate::repository::md5_hex(&whole).as_str()));
        let verified = verify_rowset(disk.as_ref(), &path, Some(&schema)).await.unwrap();
        assert_eq!(verified, RowsetSummary { md5: None, ..summary.clone() });

        // Flip one data byte: the checksum catches it, and the message names the file.
        let mut bytes = disk.read_all(&path).await.unwrap();
        bytes[HEADER_BYTES as usize + 5] ^= 0x40;
        disk.write_at(&path, 0, &bytes).await.unwrap();
        let err = read_rowset(disk.as_ref(), &path).await.unwrap_err().to_string();
        assert!(err.contains("r1.rowset is damaged") && err.contains("checksum"), "{err}");
        assert!(verify_rowset(disk.as_ref(), &path, None).await.is_err());
    }

    #[tokio::test]
    async fn unsealed_and_truncated_files_are_rejected() {
        let temp = TempDisk::new("rowset-unsealed").await;
        let disk = temp.disk();
        let path = temp.path("r2.rowset");
        let mut writer =
            RowsetWriter::create(disk.clone(), path.clone(), RowsetHeader { tablet_id: 1, txn_id: 2 }).await.unwrap();
        writer.append(&[1, 0, 0, 0, 0, 0, 0, 0, 0], 1).await.unwrap();
        drop(writer);
        let err = verify_rowset(disk.as_ref(), &path, None).await.unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(read_rowset(disk.as_ref(), &path).await.is_err());
        disk.truncate(&path, 3).await.unwrap();
        assert!(read_rowset(disk.as_ref(), &path).await.is_err());
        let missing = read_rowset(disk.as_ref(), &temp.path("nope")).await.unwrap_err().to_string();
        assert!(missing.contains("missing"), "{missing}");
    }

    /// A sealed rowset for tablet 7 holding `rows(0, 500)`; its bytes.
    async fn tablet_7_rowset(temp: &TempDisk) -> Vec<u8> {
        let path = temp.path("source.rowset");
        let header = RowsetHeader { tablet_id: 7, txn_id: 33 };
        let mut writer = RowsetWriter::create(temp.disk(), path.clone(), header).await.unwrap();
        let mut bytes = Vec::new();
        row_codec::encode_rows(&schema(), &rows(0, 500), &mut bytes).unwrap();
        writer.append(&bytes, 500).await.unwrap();
        writer.seal().await.unwrap();
        temp.disk().read_all(&path).await.unwrap()
    }

    /// Feeds `original` to a retagger (7 to 9) in chunks of `chunk` bytes; the bytes to write.
    fn retag(original: &[u8], size_bytes: u64, source: i64, chunk: usize) -> Result<Vec<u8>, RowsetError> {
        let mut retagger = RowsetRetagger::new(Path::new("r.rowset"), size_bytes, source, 9)?;
        let mut out = Vec::new();
        for piece in original.chunks(chunk) {
            out.extend(retagger.feed(piece.to_vec())?);
        }
        out.extend(retagger.finish()?);
        Ok(out)
    }

    #[tokio::test]
    async fn a_retagged_rowset_belongs_to_the_new_tablet_and_holds_the_same_rows() {
        let temp = TempDisk::new("rowset-retag").await;
        let original = tablet_7_rowset(&temp).await;
        let size = original.len() as u64;
        for chunk in [1, 5, 24, 25, 1000, original.len()] {
            let out = retag(&original, size, 7, chunk).unwrap();
            assert_eq!(out.len(), original.len(), "chunk {chunk}");
            let path = temp.path(&format!("retagged-{chunk}.rowset"));
            temp.disk().write_at(&path, 0, &out).await.unwrap();
            let summary = verify_rowset(temp.disk().as_ref(), &path, Some(&schema())).await.unwrap();
            assert_eq!(summary.header, RowsetHeader { tablet_id: 9, txn_id: 33 });
            assert_eq!((summary.row_count, summary.size_bytes), (500, size));
            let file = read_rowset(temp.disk().as_ref(), &path).await.unwrap();
            assert_eq!(file.rows(&schema()).unwrap(), rows(0, 500));
        }
        temp.remove().await;
    }

    #[tokio::test]
    async fn retagging_refuses_damaged_foreign_and_truncated_files() {
        let temp = TempDisk::new("rowset-retag-bad").await;
        let original = tablet_7_rowset(&temp).await;
        let size = original.len() as u64;
        let is_damaged = |r: Result<Vec<u8>, RowsetError>, what: &str| {
            let err = r.expect_err(what);
            assert!(matches!(err, RowsetError::Damaged { .. }), "{what}: {err}");
            err.to_string()
        };
        let mut flipped = original.clone();
        flipped[HEADER_BYTES as usize + 100] ^= 0x04;
        let err = is_damaged(retag(&flipped, size, 7, 64), "a flipped data byte");
        assert!(err.contains("checksum mismatch"), "{err}");
        let err = is_damaged(retag(&original, size, 8, 64), "another source tablet");
        assert!(err.contains("belongs to tablet 7, not to the backed-up tablet 8"), "{err}");
        // Cut short: fewer bytes than announced, or a shorter file announced as such.
        let cut = &original[..original.len() - 10];
        let err = is_damaged(retag(cut, size, 7, 64), "fewer bytes than the size");
        assert!(err.contains("cut short"), "{err}");
        is_damaged(retag(cut, cut.len() as u64, 7, 64), "a truncated file");
        is_damaged(retag(&original[..40], 40, 7, 64), "shorter than a header and a footer");
        let mut longer = original.clone();
        longer.push(0);
        is_damaged(retag(&longer, size, 7, 64), "more bytes than the size");
        temp.remove().await;
    }

    #[test]
    fn parse_never_panics_on_garbage() {
        let path = Path::new("garbage");
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200usize {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            if len >= 48 {
                bytes[..4].copy_from_slice(&HEADER_MAGIC);
                bytes[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
                let end = bytes.len();
                bytes[end - 4..].copy_from_slice(&FOOTER_MAGIC);
            }
            assert!(parse_rowset(bytes, path).is_err());
        }
    }
}
