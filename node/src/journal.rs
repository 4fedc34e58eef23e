//! The FE journal: an append-only edit log plus image checkpoints, through the [`Disk`] seam.
//! It is the FE's source of truth: a statement or a job transition is acknowledged only after
//! its record is framed, appended and fsynced here, and a restarted FE rebuilds its state from
//! the newest image plus the records after it.
//!
//! Files in the journal directory:
//! - `edits.<first_lsn>`: segments of framed records. A frame is
//!   `len: u32 LE | crc32c(lsn ‖ payload): u32 LE | lsn: u64 LE | payload (len bytes)`.
//! - `image.<lsn>`: a checkpoint of the whole state after record `lsn`, written atomically
//!   (`image` frame: `magic | lsn | len | crc32c | payload`).
//!
//! A record larger than a piece ([`MAX_PIECE_BYTES`]) is written as a group of frames, one per
//! piece, in one append and one fsync: every frame's payload but the last starts with
//! [`MORE_FOLLOWS`], the last with [`LAST_PIECE`] (as does a small record whose own first byte
//! is one of the two markers); any other payload is a whole record. A group has one LSN per
//! frame; replay hands it back as one record under its last frame's LSN. A group cut short at
//! the end of the log is a torn append and is cut like a torn frame; one cut short anywhere else
//! is damage.
//!
//! Invariants:
//! - LSNs are dense: record `n + 1` follows record `n`; the first record is 1.
//! - Only the tail of the last segment can be torn (a crash mid-append); open cuts it and says
//!   how many bytes it cut. A bad frame anywhere else is corruption and open refuses to start.
//! - A failed append leaves the segment at its last good length, or poisons the journal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{self, Disk, DiskError};

const FRAME_HEADER_BYTES: usize = 16;
const IMAGE_MAGIC: &[u8; 8] = b"PALOIMG1";
const IMAGE_HEADER_BYTES: usize = 8 + 8 + 8 + 4;
/// No frame may exceed this: a length above it is a torn or corrupt frame.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// The largest piece of a record one frame carries (a bigger record is split).
pub const MAX_PIECE_BYTES: usize = 8 * 1024 * 1024;
/// No record may exceed this, in all its pieces (a job's record grows with its tablets; see
/// `docs/jobs.md` for what keeps a job under it).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024 * 1024;
/// First byte of a frame whose record goes on in the next frame.
pub const MORE_FOLLOWS: u8 = 0x00;
/// First byte of the last frame of a group.
pub const LAST_PIECE: u8 = 0x01;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal disk error: {0}")]
    Disk(#[from] DiskError),
    #[error("journal is corrupt: {0}")]
    Corrupt(String),
    #[error("journal is unavailable after an earlier write failure; restart the FE")]
    Poisoned,
    #[error("record of {0} bytes is larger than the limit of {MAX_RECORD_BYTES} bytes")]
    RecordTooLarge(usize),
}

/// What [`Journal::open`] found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The newest checkpoint: the LSN it covers and its payload.
    pub image: Option<(u64, Vec<u8>)>,
    /// Every record after the image, in LSN order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Bytes cut from a torn tail.
    pub cut_bytes: u64,
}

pub struct Journal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    segment: PathBuf,
    segment_len_bytes: u64,
    next_lsn: u64,
    poisoned: bool,
    /// The largest piece of a record one frame carries ([`MAX_PIECE_BYTES`]; tests make it small).
    piece_bytes: usize,
}

/// The frames of one record beginning at `first_lsn`, and how many they are: one frame, or a
/// group of pieces of at most `piece_bytes` (see the module's header).
fn encode_record(first_lsn: u64, payload: &[u8], piece_bytes: usize) -> (Vec<u8>, u64) {
    assert!(piece_bytes > 0 && piece_bytes <= MAX_PIECE_BYTES, "piece of {piece_bytes} bytes");
    let marked = matches!(payload.first(), Some(&(MORE_FOLLOWS | LAST_PIECE)));
    if payload.len() <= piece_bytes && !marked {
        return (encode_frame(first_lsn, payload), 1);
    }
    let pieces: Vec<&[u8]> = payload.chunks(piece_bytes).collect();
    let mut out = Vec::with_capacity(payload.len() + pieces.len() * (FRAME_HEADER_BYTES + 1));
    let mut framed = Vec::with_capacity(piece_bytes + 1);
    for (i, piece) in pieces.iter().enumerate() {
        framed.clear();
        framed.push(if i + 1 == pieces.len() { LAST_PIECE } else { MORE_FOLLOWS });
        framed.extend_from_slice(piece);
        out.extend_from_slice(&encode_frame(first_lsn + i as u64, &framed));
    }
    (out, pieces.len() as u64)
}

/// A record whose pieces are being gathered at replay.
struct Group {
    first_lsn: u64,
    segment_index: usize,
    path: PathBuf,
    start_bytes: u64,
    /// The good length of its segment.
    segment_len_bytes: u64,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("segment", &self.segment)
            .field("next_lsn", &self.next_lsn)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

fn segment_name(first_lsn: u64) -> String {
    format!("edits.{first_lsn:020}")
}

fn image_name(lsn: u64) -> String {
    format!("image.{lsn:020}")
}

fn parse_numbered(name: &str, prefix: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?;
    if rest.len() != 20 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn frame_crc(lsn: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

/// Encodes one record frame.
pub fn encode_frame(lsn: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&frame_crc(lsn, payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The outcome of decoding a segment: the good records and where the good prefix ends.
struct DecodedSegment {
    records: Vec<(u64, Vec<u8>)>,
    /// Where each record's frame starts, in bytes.
    starts: Vec<u64>,
    good_len_bytes: u64,
    bad_tail: bool,
}

fn decode_segment(bytes: &[u8]) -> DecodedSegment {
    let mut records = Vec::new();
    let mut starts = Vec::new();
    let mut at = 0usize;
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return DecodedSegment { records, starts, good_len_bytes: at as u64, bad_tail: false };
        }
        let bad = DecodedSegment { records: Vec::new(), starts: Vec::new(), good_len_bytes: at as u64, bad_tail: true };
        if rest.len() < FRAME_HEADER_BYTES {
            return DecodedSegment { records, starts, ..bad };
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let mut lsn_bytes = [0u8; 8];
        lsn_bytes.copy_from_slice(&rest[8..16]);
        let lsn = u64::from_le_bytes(lsn_bytes);
        if len > MAX_FRAME_BYTES || rest.len() < FRAME_HEADER_BYTES + len {
            return DecodedSegment { records, starts, ..bad };
        }
        let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len];
        if frame_crc(lsn, payload) != crc {
            return DecodedSegment { records, starts, ..bad };
        }
        records.push((lsn, payload.to_vec()));
        starts.push(at as u64);
        at += FRAME_HEADER_BYTES + len;
    }
}

/// The offset of a valid frame with an LSN above `after_lsn` that starts past `from`, if any. A
/// torn append damages only the last frame, so such a frame means the log itself is damaged.
fn later_valid_frame(bytes: &[u8], from: usize, after_lsn: u64) -> Option<usize> {
    (from + 1..bytes.len().saturating_sub(FRAME_HEADER_BYTES - 1)).find(|&at| {
        let decoded = decode_segment(&bytes[at..]);
        decoded.records.first().is_some_and(|(lsn, _)| *lsn > after_lsn)
    })
}

fn encode_image(lsn: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IMAGE_HEADER_BYTES + payload.len());
    out.extend_from_slice(IMAGE_MAGIC);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn decode_image(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    if bytes.len() < IMAGE_HEADER_BYTES || &bytes[..8] != IMAGE_MAGIC {
        return None;
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[8..16]);
    let lsn = u64::from_le_bytes(word);
    word.copy_from_slice(&bytes[16..24]);
    let len = usize::try_from(u64::from_le_bytes(word)).ok()?;
    let crc = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    let payload = bytes.get(IMAGE_HEADER_BYTES..IMAGE_HEADER_BYTES.checked_add(len)?)?;
    if bytes.len() != IMAGE_HEADER_BYTES + len || crc32c::crc32c(payload) != crc {
        return None;
    }
    Some((lsn, payload.to_vec()))
}

/// Where a frame read at replay lies.
struct Frame<'a> {
    lsn: u64,
    segment_index: usize,
    path: &'a Path,
    start_bytes: u64,
    /// The good length of its segment.
    segment_len_bytes: u64,
}

/// Takes one frame's payload at replay: a whole record when it ends one (a plain frame, or a
/// group's last piece), `None` while a group's pieces are gathered in `group`.
fn gather(group: &mut Option<Group>, frame: Frame<'_>, payload: Vec<u8>) -> Result<Option<Vec<u8>>, JournalError> {
    let spans = |g: &Group| JournalError::Corrupt(format!("the record at lsn {} spans segments", g.first_lsn));
    match payload.first() {
        Some(&MORE_FOLLOWS) => {
            let g = group.get_or_insert_with(|| Group {
                first_lsn: frame.lsn,
                segment_index: frame.segment_index,
                path: frame.path.to_path_buf(),
                start_bytes: frame.start_bytes,
                segment_len_bytes: frame.segment_len_bytes,
                bytes: Vec::new(),
            });
            if g.segment_index != frame.segment_index {
                return Err(spans(g));
            }
            g.bytes.extend_from_slice(&payload[1..]);
            if g.bytes.len() > MAX_RECORD_BYTES {
                return Err(JournalError::Corrupt(format!(
                    "the record at lsn {} exceeds {MAX_RECORD_BYTES} bytes",
                    g.first_lsn
                )));
            }
            Ok(None)
        }
        Some(&LAST_PIECE) => {
            let mut whole = match group.take() {
                Some(g) if g.segment_index != frame.segment_index => return Err(spans(&g)),
                Some(g) => g.bytes,
                None => Vec::new(),
            };
            whole.extend_from_slice(&payload[1..]);
            Ok(Some(whole))
        }
        _ => match group {
            Some(g) => Err(JournalError::Corrupt(format!(
                "the record at lsn {} is cut short by lsn {} in {}",
                g.first_lsn,
                frame.lsn,
                frame.path.display()
            ))),
            None => Ok(Some(payload)),
        },
    }
}

/// Cuts the pieces of a record torn by a crash off the end of its segment; the bytes cut.
async fn cut_group(disk: &dyn Disk, group: &Group) -> Result<u64, JournalError> {
    let cut_bytes = group.segment_len_bytes - group.start_bytes;
    tracing::warn!(segment = %group.path.display(), cut_bytes, "journal: cutting a record whose pieces were torn");
    disk.truncate(&group.path, group.start_bytes).await?;
    disk.sync(&group.path).await?;
    Ok(cut_bytes)
}

/// The images (by LSN) and segments (by first LSN) in `dir`, sorted; a checkpoint's `.tmp` left
/// by a crash before its rename (never published) is removed.
async fn scan_dir(disk: &dyn Disk, dir: &Path) -> Result<(Vec<u64>, Vec<u64>), JournalError> {
    let mut images = Vec::new();
    let mut segments = Vec::new();
    for entry in disk.read_dir(dir).await? {
        if entry.is_dir {
            continue;
        }
        if entry.name.ends_with(".tmp") {
            disk.remove_file(&dir.join(&entry.name)).await?;
        } else if let Some(lsn) = parse_numbered(&entry.name, "image.") {
            images.push(lsn);
        } else if let Some(first) = parse_numbered(&entry.name, "edits.") {
            segments.push(first);
        }
    }
    images.sort_unstable();
    segments.sort_unstable();
    Ok((images, segments))
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, returning it ready to append together with
    /// everything a caller must replay.
    pub async fn open(disk: Arc<dyn Disk>, dir: &Path) -> Result<(Journal, Recovered), JournalError> {
        disk::create_dir_all_durable(disk.as_ref(), dir).await?;
        let (images, segments) = scan_dir(disk.as_ref(), dir).await?;

        let mut recovered = Recovered::default();
        if let Some(&lsn) = images.last() {
            let bytes = disk.read_all(&dir.join(image_name(lsn))).await?;
            let Some((image_lsn, payload)) = decode_image(&bytes) else {
                return Err(JournalError::Corrupt(format!("image {} fails its checksum", image_name(lsn))));
            };
            if image_lsn != lsn {
                return Err(JournalError::Corrupt(format!("image {} says it covers lsn {image_lsn}", image_name(lsn))));
            }
            recovered.image = Some((lsn, payload));
        }
        let image_lsn = recovered.image.as_ref().map_or(0, |(lsn, _)| *lsn);

        let mut next_lsn = image_lsn + 1;
        let mut last_segment: Option<(PathBuf, u64)> = None;
        let mut group: Option<Group> = None;
        let mut contents = Vec::with_capacity(segments.len());
        for &first in &segments {
            let path = dir.join(segment_name(first));
            let bytes = disk.read_all(&path).await?;
            contents.push((first, path, bytes));
        }
        // A tear can only be in the segment appends went to: the last one that holds any bytes
        // (an empty segment after it is left by a checkpoint that failed before switching).
        let torn_candidate = contents.iter().rposition(|(_, _, bytes)| !bytes.is_empty());
        for (index, (first, path, bytes)) in contents.into_iter().enumerate() {
            let decoded = decode_segment(&bytes);
            if decoded.bad_tail {
                if Some(index) != torn_candidate {
                    return Err(JournalError::Corrupt(format!(
                        "segment {} has a bad frame at byte {} and is not the last segment",
                        segment_name(first),
                        decoded.good_len_bytes
                    )));
                }
                let last_good = decoded.records.last().map_or(0, |(lsn, _)| *lsn);
                if let Some(at) = later_valid_frame(&bytes, decoded.good_len_bytes as usize, last_good) {
                    return Err(JournalError::Corrupt(format!(
                        "segment {} has a bad frame at byte {} followed by a valid record at byte {at}: \
                         that is damage, not a torn write",
                        segment_name(first),
                        decoded.good_len_bytes
                    )));
                }
                let cut = bytes.len() as u64 - decoded.good_len_bytes;
                tracing::warn!(segment = %path.display(), cut_bytes = cut, "journal: cutting a torn tail");
                disk.truncate(&path, decoded.good_len_bytes).await?;
                disk.sync(&path).await?;
                recovered.cut_bytes = cut;
            }
            let good_len_bytes = decoded.good_len_bytes;
            for ((lsn, payload), start_bytes) in decoded.records.into_iter().zip(decoded.starts) {
                if lsn <= image_lsn {
                    continue;
                }
                if lsn != next_lsn {
                    return Err(JournalError::Corrupt(format!(
                        "segment {} holds lsn {lsn} where {next_lsn} was expected",
                        segment_name(first)
                    )));
                }
                next_lsn += 1;
                let frame =
                    Frame { lsn, segment_index: index, path: &path, start_bytes, segment_len_bytes: good_len_bytes };
                if let Some(whole) = gather(&mut group, frame, payload)? {
                    recovered.records.push((lsn, whole));
                }
            }
            last_segment = Some((path, good_len_bytes));
        }
        if let Some(group) = group {
            // The pieces of the last append, cut short by a crash: a torn append, cut like one.
            if Some(group.segment_index) != torn_candidate {
                return Err(JournalError::Corrupt(format!(
                    "the record at lsn {} is cut short and is not at the end of the log",
                    group.first_lsn
                )));
            }
            recovered.cut_bytes += cut_group(disk.as_ref(), &group).await?;
            next_lsn = group.first_lsn;
            if let Some((last_path, last_len)) = &mut last_segment
                && *last_path == group.path
            {
                *last_len = group.start_bytes;
            }
        }
        let (segment, segment_len_bytes) = match last_segment {
            Some(found) => found,
            None => {
                let path = dir.join(segment_name(next_lsn));
                disk.create_new(&path).await?;
                disk.sync(&path).await?;
                disk.sync_dir(dir).await?;
                (path, 0)
            }
        };
        let journal = Journal {
            disk,
            dir: dir.to_path_buf(),
            segment,
            segment_len_bytes,
            next_lsn,
            poisoned: false,
            piece_bytes: MAX_PIECE_BYTES,
        };
        Ok((journal, recovered))
    }

    /// True once a failed write could not be undone: every later write is refused.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The LSN the next append will get.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Splits later records into pieces of at most `piece_bytes` (tests split small records).
    pub fn set_piece_bytes(&mut self, piece_bytes: usize) {
        assert!(piece_bytes > 0 && piece_bytes <= MAX_PIECE_BYTES, "piece of {piece_bytes} bytes");
        self.piece_bytes = piece_bytes;
    }

    /// Appends one record (one frame, or a group of pieces) and fsyncs it. Returns its LSN (its
    /// last frame's) once it is durable.
    pub async fn append(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        if payload.len() > MAX_RECORD_BYTES {
            return Err(JournalError::RecordTooLarge(payload.len()));
        }
        let (frame, frames) = encode_record(self.next_lsn, payload, self.piece_bytes);
        let lsn = self.next_lsn + frames - 1;
        let written = async {
            let new_len = self.disk.append(&self.segment, &frame).await?;
            if new_len != self.segment_len_bytes + frame.len() as u64 {
                return Err(DiskError::Io {
                    path: self.segment.clone(),
                    detail: format!(
                        "segment grew to {new_len} bytes, expected {}",
                        self.segment_len_bytes + frame.len() as u64
                    ),
                });
            }
            self.disk.sync(&self.segment).await?;
            Ok(new_len)
        }
        .await;
        match written {
            Ok(new_len) => {
                self.segment_len_bytes = new_len;
                self.next_lsn = lsn + 1;
                Ok(lsn)
            }
            Err(e) => {
                // Leave no partial frame behind: later frames after garbage would be cut on replay.
                let restored = async {
                    self.disk.truncate(&self.segment, self.segment_len_bytes).await?;
                    self.disk.sync(&self.segment).await
                }
                .await;
                if restored.is_err() {
                    self.poisoned = true;
                }
                Err(e.into())
            }
        }
    }

    /// Writes a checkpoint of the state after `lsn` (which must be the last appended record),
    /// starts a new segment, and removes the segments and images it makes unnecessary.
    pub async fn checkpoint(&mut self, lsn: u64, image: &[u8]) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        assert_eq!(lsn + 1, self.next_lsn, "a checkpoint must cover every appended record");
        let image_path = self.dir.join(image_name(lsn));
        disk::write_file_atomic(self.disk.as_ref(), &image_path, &encode_image(lsn, image)).await?;

        let new_segment = self.dir.join(segment_name(self.next_lsn));
        if new_segment != self.segment {
            match self.disk.create_new(&new_segment).await {
                Ok(()) => {}
                Err(DiskError::AlreadyExists { .. }) => self.disk.truncate(&new_segment, 0).await?,
                Err(e) => return Err(e.into()),
            }
            let published = async {
                self.disk.sync(&new_segment).await?;
                self.disk.sync_dir(&self.dir).await
            }
            .await;
            if let Err(e) = published {
                // Appends stay in the old segment; a new segment left behind must not outlive this
                // failure, or a later tear in the old one would look like damage in the middle.
                let removed = async {
                    self.disk.remove_file(&new_segment).await?;
                    self.disk.sync_dir(&self.dir).await
                }
                .await;
                if removed.is_err() {
                    self.poisoned = true;
                }
                return Err(e.into());
            }
            self.segment = new_segment;
            self.segment_len_bytes = 0;
        }

        // Everything older is now covered by the image. Removing it is only housekeeping: a
        // crash part-way leaves files that open skips.
        for entry in self.disk.read_dir(&self.dir).await? {
            let old_segment = parse_numbered(&entry.name, "edits.").is_some_and(|first| first <= lsn);
            let old_image = parse_numbered(&entry.name, "image.").is_some_and(|at| at < lsn);
            if old_segment || old_image {
                self.disk.remove_file(&self.dir.join(&entry.name)).await?;
            }
        }
        self.disk.sync_dir(&self.dir).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let mut bytes = encode_frame(1, b"one");
        bytes.extend(encode_frame(2, b"two"));
        let good = bytes.len();
        bytes.extend(encode_frame(3, b"three"));
        let decoded = decode_segment(&bytes);
        assert_eq!(decoded.records.len(), 3);
        assert!(!decoded.bad_tail);

        // A torn last frame: only the first two come back.
        let torn = &bytes[..bytes.len() - 2];
        let decoded = decode_segment(torn);
        assert_eq!(decoded.records, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
        assert_eq!(decoded.good_len_bytes, good as u64);
        assert!(decoded.bad_tail);

        // A flipped bit in the last payload is caught by the checksum.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert_eq!(decode_segment(&flipped).records.len(), 2);
    }

    #[test]
    fn damage_followed_by_a_valid_frame_is_not_a_torn_tail() {
        let mut bytes = encode_frame(1, b"one");
        let second_at = bytes.len();
        bytes.extend(encode_frame(2, b"two"));
        bytes.extend(encode_frame(3, b"three"));
        bytes[second_at + FRAME_HEADER_BYTES] ^= 0x01; // damage record 2's payload
        let decoded = decode_segment(&bytes);
        assert_eq!(decoded.records.len(), 1);
        assert!(later_valid_frame(&bytes, decoded.good_len_bytes as usize, 1).is_some(), "record 3 is found");
        // A genuinely torn last frame has nothing valid after it.
        let torn = &encode_frame(1, b"one")[..];
        let mut torn = torn.to_vec();
        torn.extend(&encode_frame(2, b"two")[..10]);
        let decoded = decode_segment(&torn);
        assert_eq!(later_valid_frame(&torn, decoded.good_len_bytes as usize, 1), None);
    }

    #[test]
    fn image_detects_damage() {
        let image = encode_image(7, b"state");
        assert_eq!(decode_image(&image), Some((7, b"state".to_vec())));
        let mut bad = image.clone();
        bad[IMAGE_HEADER_BYTES] ^= 0xff;
        assert_eq!(decode_image(&bad), None);
        assert_eq!(decode_image(&image[..image.len() - 1]), None);
    }
}
