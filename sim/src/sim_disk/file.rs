//! A file of [`SimDisk`]: its current bytes, what a crash leaves of them, and the last write a
//! crash may tear.

#[derive(Debug)]
pub(super) struct FileInode {
    pub(super) current: Vec<u8>,
    /// What a crash leaves of the file (before a torn write lands).
    pub(super) durable: Durable,
    /// The last write since the last sync: at a crash a prefix of it may land on the durable bytes.
    pub(super) unsynced: Option<UnsyncedWrite>,
    /// Names in the current namespace that refer to this inode. Its bytes count as used while
    /// this is positive.
    pub(super) links: u32,
    /// Written or truncated since its last sync (`current` may differ from `durable`), so a
    /// crash touches only what changed.
    pub(super) dirty: bool,
}

/// A file's durable bytes. Most files are written front to back and then synced, so the durable
/// bytes are a prefix of the current ones and are not copied: a sync, and a write or truncate
/// past the synced length, cost nothing. A change below it copies the durable bytes out once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Durable {
    /// The first this-many bytes of `current`.
    Prefix(usize),
    /// Bytes of their own (a change since the last sync reached below the synced length).
    Copy(Vec<u8>),
}

/// The last write since a sync. Its bytes are `current[offset..offset + len]` until a truncate
/// cuts them, which keeps them in `bytes` first.
#[derive(Debug)]
pub(super) struct UnsyncedWrite {
    pub(super) offset: usize,
    pub(super) len: usize,
    pub(super) bytes: Option<Vec<u8>>,
}

impl FileInode {
    pub(super) fn new() -> FileInode {
        FileInode { current: Vec::new(), durable: Durable::Prefix(0), unsynced: None, links: 0, dirty: false }
    }

    /// The bytes a crash would leave (before a torn write lands).
    pub(super) fn durable_bytes(&self) -> &[u8] {
        match &self.durable {
            Durable::Prefix(len) => {
                debug_assert!(*len <= self.current.len(), "a durable prefix longer than the file");
                &self.current[..*len]
            }
            Durable::Copy(bytes) => bytes,
        }
    }

    /// Before `current` changes from byte `from` on: a durable prefix reaching past `from` gets
    /// bytes of its own.
    fn keep_durable_below(&mut self, from: usize) {
        if let Durable::Prefix(len) = self.durable
            && from < len
        {
            self.durable = Durable::Copy(self.current[..len].to_vec());
        }
    }

    /// Writes `data` at `offset` (the file already holds `offset + data.len()` bytes or grows).
    pub(super) fn write(&mut self, offset: usize, data: &[u8]) {
        let end = offset + data.len();
        self.keep_durable_below(offset);
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[offset..end].copy_from_slice(data);
        self.unsynced = Some(UnsyncedWrite { offset, len: data.len(), bytes: None });
        self.dirty = true;
    }

    pub(super) fn truncate(&mut self, new_len: usize) {
        self.keep_durable_below(new_len);
        if let Some(write) = &mut self.unsynced
            && write.bytes.is_none()
            && new_len < write.offset + write.len
        {
            write.bytes = Some(self.current[write.offset..write.offset + write.len].to_vec());
        }
        self.current.resize(new_len, 0);
        self.dirty = true;
    }

    pub(super) fn sync(&mut self) {
        self.durable = Durable::Prefix(self.current.len());
        self.unsynced = None;
        self.dirty = false;
    }

    /// Power loss: the durable bytes, and `landed` bytes of the unsynced write on them (drawn
    /// by the caller, at most the write's length).
    pub(super) fn crash(&mut self, landed: usize) {
        let torn = self.unsynced.take().filter(|_| landed > 0).map(|write| {
            let bytes = match &write.bytes {
                Some(bytes) => bytes[..landed].to_vec(),
                None => self.current[write.offset..write.offset + landed].to_vec(),
            };
            (write.offset, bytes)
        });
        match std::mem::replace(&mut self.durable, Durable::Prefix(0)) {
            Durable::Prefix(len) => self.current.truncate(len),
            Durable::Copy(bytes) => self.current = bytes,
        }
        if let Some((offset, bytes)) = torn {
            let end = offset + bytes.len();
            if self.current.len() < end {
                self.current.resize(end, 0);
            }
            self.current[offset..end].copy_from_slice(&bytes);
        }
        self.durable = Durable::Prefix(self.current.len());
        self.dirty = false;
    }
}
