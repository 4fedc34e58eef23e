//! The inode model behind [`SimDisk`]: files and directories with their current and durable
//! contents, what a crash leaves, and the fault rules.

use super::*;

/// What an operation is, for the fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpKind {
    CreateDir,
    CreateNew,
    /// write_at and append.
    Write,
    Read,
    Truncate,
    /// sync and sync_dir.
    Sync,
    /// rename, hard_link, remove_file, remove_dir_all.
    Namespace,
    /// read_dir and metadata.
    Lookup,
    /// available_bytes and capacity_bytes.
    Space,
}

impl OpKind {
    /// Counted by `mutating_ops` and by the `crash_after_ops` countdown.
    pub(super) fn is_mutating(self) -> bool {
        !matches!(self, OpKind::Read | OpKind::Lookup | OpKind::Space)
    }

    pub(super) fn may_fail_with_eio(self) -> bool {
        matches!(self, OpKind::Write | OpKind::Sync | OpKind::Read)
    }

    pub(super) fn may_be_slow(self) -> bool {
        self != OpKind::Space
    }
}

pub(super) type InodeId = u64;

/// The root directory's inode: always present, always durable, never renamed or removed.
pub(super) const ROOT: InodeId = 0;

/// What a name in a directory refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    File(InodeId),
    Dir(InodeId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Current,
    Durable,
}

#[derive(Debug, Default)]
pub(super) struct DirInode {
    pub(super) current: BTreeMap<String, Entry>,
    pub(super) durable: BTreeMap<String, Entry>,
    /// Names whose entry in `current` may differ from `durable`, so a sync or a crash costs what
    /// changed since the last sync, not the size of the directory.
    changed: BTreeSet<String>,
    /// Every name may differ (the directory was emptied at once).
    all_changed: bool,
}

impl DirInode {
    pub(super) fn insert(&mut self, name: &str, entry: Entry) -> Option<Entry> {
        self.note(name);
        self.current.insert(name.to_owned(), entry)
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<Entry> {
        self.note(name);
        self.current.remove(name)
    }

    /// Empties the current map (`rm -r`), returning what it held.
    pub(super) fn take_all(&mut self) -> BTreeMap<String, Entry> {
        self.all_changed = true;
        std::mem::take(&mut self.current)
    }

    fn note(&mut self, name: &str) {
        if !self.all_changed && !self.changed.contains(name) {
            self.changed.insert(name.to_owned());
        }
    }

    /// fsync of the directory: the durable map becomes the current one.
    pub(super) fn sync(&mut self) {
        if self.all_changed {
            self.durable.clone_from(&self.current);
        } else {
            for name in std::mem::take(&mut self.changed) {
                match self.current.get(&name) {
                    Some(entry) => self.durable.insert(name, *entry),
                    None => self.durable.remove(&name),
                };
            }
        }
        self.forget_changes();
        debug_assert!(!cfg!(test) || self.current == self.durable, "a synced directory differs from its durable map");
    }

    /// Power loss: the current map becomes the durable one.
    pub(super) fn revert(&mut self) {
        if self.all_changed {
            self.current.clone_from(&self.durable);
        } else {
            for name in std::mem::take(&mut self.changed) {
                match self.durable.get(&name) {
                    Some(entry) => self.current.insert(name, *entry),
                    None => self.current.remove(&name),
                };
            }
        }
        self.forget_changes();
        debug_assert!(!cfg!(test) || self.current == self.durable, "a crashed directory differs from its durable map");
    }

    fn forget_changes(&mut self) {
        self.changed.clear();
        self.all_changed = false;
    }
}

/// Everything behind the mutex.
///
/// Invariants (checked by `check_invariants`):
/// - `ROOT` is a directory inode; every entry of every directory map names an existing inode of
///   its kind.
/// - The current namespace is a tree from `ROOT` (each directory reached once); a directory it
///   does not reach has an empty `current` map (it was removed, and so were its names).
/// - `links` of each file = the entries naming it in current maps.
/// - `used_bytes` = sum of `current.len()` over files with `links > 0`.
/// - `crash_countdown` is never `Some(0)`.
///
/// The durable maps may reach a directory twice or not at all: `crash_now` repairs that.
#[derive(Debug)]
pub(super) struct State {
    pub(super) rng: SplitMix64,
    pub(super) faults: SimDiskFaults,
    pub(super) files: BTreeMap<InodeId, FileInode>,
    pub(super) dirs: BTreeMap<InodeId, DirInode>,
    pub(super) next_inode: InodeId,
    pub(super) used_bytes: u64,
    /// Garbage collection runs when the inode count passes this (amortised: twice the live count).
    pub(super) gc_threshold: usize,
    pub(super) crash_countdown: Option<u64>,
    pub(super) crashed: bool,
    pub(super) mutating_ops: u64,
    /// When the disk finishes the work queued so far: changes and flushes take their turn, one
    /// at a time, as on a real device.
    pub(super) busy_until: Option<tokio::time::Instant>,
}

pub(super) const GC_SLACK: usize = 64;

impl State {
    pub(super) fn new(seed: u64, faults: SimDiskFaults) -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(ROOT, DirInode::default());
        State {
            rng: SplitMix64(seed),
            faults,
            files: BTreeMap::new(),
            dirs,
            next_inode: ROOT + 1,
            used_bytes: 0,
            gc_threshold: GC_SLACK,
            crash_countdown: None,
            crashed: false,
            mutating_ops: 0,
            busy_until: None,
        }
    }

    // ---- fault rules ----

    /// Refuses work on a crashed disk and decides whether the operation is slow.
    pub(super) fn begin(&mut self, kind: OpKind, path: &Path) -> DiskResult<Option<Duration>> {
        if self.crashed {
            return Err(crashed(path));
        }
        let slow =
            kind.may_be_slow() && self.faults.slow_ms > 0 && self.rng.chance_per_million(self.faults.slow_per_million);
        let mut delay = if slow { Duration::from_millis(self.faults.slow_ms) } else { Duration::ZERO };
        let latency_us = match kind {
            OpKind::Sync => self.faults.sync_latency_us,
            k if k.is_mutating() => self.faults.write_latency_us,
            _ => 0,
        };
        if latency_us > 0 {
            // Queued behind the work before it.
            let now = tokio::time::Instant::now();
            let start = self.busy_until.filter(|t| *t > now).unwrap_or(now);
            let done = start + Duration::from_micros(latency_us);
            self.busy_until = Some(done);
            delay += done - now;
        }
        Ok((!delay.is_zero()).then_some(delay))
    }

    /// Counts the operation, fires a pending crash, injects EIO. `Ok` means: apply it.
    pub(super) fn admit(&mut self, kind: OpKind, path: &Path) -> DiskResult<()> {
        if self.crashed {
            return Err(crashed(path));
        }
        if kind.is_mutating() {
            self.mutating_ops += 1;
            if let Some(left) = self.crash_countdown {
                debug_assert!(left > 0, "a countdown of 0 crashes at once");
                if left <= 1 {
                    self.crash_now();
                    self.crashed = true;
                    return Err(crashed(path));
                }
                self.crash_countdown = Some(left - 1);
            }
        }
        if kind.may_fail_with_eio() && self.rng.chance_per_million(self.faults.eio_per_million) {
            return Err(DiskError::Io { path: path.to_path_buf(), detail: "injected I/O error".into() });
        }
        Ok(())
    }

    pub(super) fn after_op(&mut self) {
        if self.files.len() + self.dirs.len() > self.gc_threshold {
            self.collect_garbage();
        }
        if cfg!(test) {
            self.check_invariants();
        }
    }

    // ---- crash ----

    pub(super) fn crash_now(&mut self) {
        for file in self.files.values_mut() {
            if !file.dirty {
                debug_assert!(file.unsynced.is_none() && (!cfg!(test) || file.current == file.durable_bytes()));
                continue;
            }
            let mut landed = 0;
            if let Some(write) = &file.unsynced
                && self.rng.below(2) == 1
            {
                landed = self.rng.below(write.len as u64 + 1) as usize;
            }
            file.crash(landed);
        }
        for dir in self.dirs.values_mut() {
            dir.revert();
        }
        self.repair_after_crash();
        self.crash_countdown = None;
        // A walk of the whole disk: every crash in the disk's own tests, and in the simulator
        // while the disk is small (a backend of thousands of tablets would pay it at every kill).
        if cfg!(test) || self.files.len() + self.dirs.len() <= MAX_INODES_CHECKED_AT_CRASH {
            self.check_invariants();
        }
    }

    /// What fsck does: walks the namespace from the root by depth, then name; a directory reached
    /// a second time loses that extra name (only renames of directories synced in some dirs and
    /// not others make this possible); whatever the root does not reach is freed. Then recounts
    /// links and used bytes.
    pub(super) fn repair_after_crash(&mut self) {
        let mut seen_dirs = BTreeSet::from([ROOT]);
        let mut links: BTreeMap<InodeId, u32> = BTreeMap::new();
        let mut queue = VecDeque::from([ROOT]);
        while let Some(id) = queue.pop_front() {
            let dir = self.dirs.get_mut(&id);
            debug_assert!(dir.is_some(), "entry names missing directory inode {id}");
            let Some(dir) = dir else { continue };
            let mut extra_names = Vec::new();
            for (name, entry) in &dir.current {
                match *entry {
                    Entry::File(file) => *links.entry(file).or_insert(0) += 1,
                    Entry::Dir(child) if seen_dirs.insert(child) => queue.push_back(child),
                    Entry::Dir(_) => extra_names.push(name.clone()),
                }
            }
            for name in extra_names {
                dir.current.remove(&name);
                dir.durable.remove(&name);
            }
        }
        self.dirs.retain(|id, _| seen_dirs.contains(id));
        self.files.retain(|id, _| links.contains_key(id));
        self.used_bytes = 0;
        for (id, file) in &mut self.files {
            file.links = links.get(id).copied().unwrap_or(0);
            self.used_bytes += file.current.len() as u64;
        }
        self.gc_threshold = 2 * (self.files.len() + self.dirs.len()) + GC_SLACK;
    }

    /// Frees inodes neither namespace can reach any more: a crash restores only what the durable
    /// maps reach, and operations only name what the current maps reach.
    pub(super) fn collect_garbage(&mut self) {
        let mut seen_dirs = BTreeSet::from([ROOT]);
        let mut seen_files = BTreeSet::new();
        let mut stack = vec![ROOT];
        while let Some(id) = stack.pop() {
            let dir = self.dirs.get(&id);
            debug_assert!(dir.is_some(), "entry names missing directory inode {id}");
            let Some(dir) = dir else { continue };
            for entry in dir.current.values().chain(dir.durable.values()) {
                match *entry {
                    Entry::File(file) => {
                        seen_files.insert(file);
                    }
                    Entry::Dir(child) => {
                        if seen_dirs.insert(child) {
                            stack.push(child);
                        }
                    }
                }
            }
        }
        debug_assert!(
            self.files.iter().all(|(id, f)| f.links == 0 || seen_files.contains(id)),
            "a linked file is unreachable"
        );
        self.dirs.retain(|id, _| seen_dirs.contains(id));
        self.files.retain(|id, _| seen_files.contains(id));
        self.gc_threshold = 2 * (self.files.len() + self.dirs.len()) + GC_SLACK;
    }

    // ---- lookups ----

    pub(super) fn dir(&self, id: InodeId, path: &Path) -> DiskResult<&DirInode> {
        let dir = self.dirs.get(&id);
        debug_assert!(dir.is_some(), "entry names missing directory inode {id}");
        dir.ok_or_else(|| broken(path))
    }

    pub(super) fn dir_mut(&mut self, id: InodeId, path: &Path) -> DiskResult<&mut DirInode> {
        let dir = self.dirs.get_mut(&id);
        debug_assert!(dir.is_some(), "entry names missing directory inode {id}");
        dir.ok_or_else(|| broken(path))
    }

    pub(super) fn file(&self, id: InodeId, path: &Path) -> DiskResult<&FileInode> {
        let file = self.files.get(&id);
        debug_assert!(file.is_some(), "entry names missing file inode {id}");
        file.ok_or_else(|| broken(path))
    }

    pub(super) fn file_mut(&mut self, id: InodeId, path: &Path) -> DiskResult<&mut FileInode> {
        let file = self.files.get_mut(&id);
        debug_assert!(file.is_some(), "entry names missing file inode {id}");
        file.ok_or_else(|| broken(path))
    }

    /// The directory at `comps` in the current namespace.
    pub(super) fn walk_dir(&self, path: &Path, comps: &[String]) -> DiskResult<InodeId> {
        let mut id = ROOT;
        for name in comps {
            id = match self.dir(id, path)?.current.get(name) {
                Some(Entry::Dir(child)) => *child,
                Some(Entry::File(_)) => return Err(invalid(path, "a parent is not a directory")),
                None => return Err(not_found(path)),
            };
        }
        Ok(id)
    }

    /// What `comps` names now; `None` when it, or a parent, is missing.
    pub(super) fn lookup(&self, path: &Path, comps: &[String]) -> DiskResult<Option<Entry>> {
        let Some((name, parents)) = comps.split_last() else {
            return Ok(Some(Entry::Dir(ROOT)));
        };
        match self.walk_dir(path, parents) {
            Ok(parent) => Ok(self.dir(parent, path)?.current.get(name).copied()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The existing parent directory of `comps` and the last name; NotFound without a parent.
    pub(super) fn parent_and_name<'c>(&self, path: &Path, comps: &'c [String]) -> DiskResult<(InodeId, &'c str)> {
        let Some((name, parents)) = comps.split_last() else {
            return Err(invalid(path, "the root has no name to create, move or remove"));
        };
        Ok((self.walk_dir(path, parents)?, name.as_str()))
    }

    pub(super) fn file_at(&self, path: &Path) -> DiskResult<&FileInode> {
        let comps = components(path)?;
        match self.lookup(path, &comps)? {
            None => Err(not_found(path)),
            Some(Entry::Dir(_)) => Err(invalid(path, "is a directory")),
            Some(Entry::File(id)) => self.file(id, path),
        }
    }

    /// Every path `side` reaches from the root (not the root itself), sorted. Reaches each
    /// directory once even if a durable namespace names it twice, keeping the name a crash keeps
    /// (the same breadth-first order as `repair_after_crash`).
    pub(super) fn walk(&self, side: Side) -> Vec<(PathBuf, Entry)> {
        let mut out = Vec::new();
        let mut seen_dirs = BTreeSet::from([ROOT]);
        let mut queue = VecDeque::from([(PathBuf::from("/"), ROOT)]);
        while let Some((dir_path, id)) = queue.pop_front() {
            let dir = self.dirs.get(&id);
            debug_assert!(dir.is_some(), "entry names missing directory inode {id}");
            let Some(dir) = dir else { continue };
            let map = match side {
                Side::Current => &dir.current,
                Side::Durable => &dir.durable,
            };
            for (name, entry) in map {
                let path = dir_path.join(name);
                if let Entry::Dir(child) = *entry {
                    if !seen_dirs.insert(child) {
                        debug_assert!(side == Side::Durable, "current namespace is not a tree");
                        continue;
                    }
                    queue.push_back((path.clone(), child));
                }
                out.push((path, *entry));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    // ---- namespace changes that keep `links` and `used_bytes` ----

    pub(super) fn new_inode_id(&mut self) -> InodeId {
        let id = self.next_inode;
        self.next_inode += 1;
        debug_assert!(!self.files.contains_key(&id) && !self.dirs.contains_key(&id));
        id
    }

    /// Adds a name to `parent`'s current map for an entry that is not yet named anywhere in the
    /// current namespace (a new inode, or a second name of a file).
    pub(super) fn link(&mut self, parent: InodeId, name: &str, entry: Entry, path: &Path) -> DiskResult<()> {
        let previous = self.dir_mut(parent, path)?.insert(name, entry);
        debug_assert!(previous.is_none(), "link over an existing name");
        if let Entry::File(id) = entry {
            let file = self.file_mut(id, path)?;
            file.links += 1;
            let added = if file.links == 1 { file.current.len() as u64 } else { 0 };
            self.used_bytes += added;
        }
        Ok(())
    }

    /// Removes a name from `parent`'s current map. A file loses a link (and its bytes stop
    /// counting at zero links); a directory loses every name below it, like `rm -r`.
    pub(super) fn unlink(&mut self, parent: InodeId, name: &str, path: &Path) -> DiskResult<()> {
        let removed = self.dir_mut(parent, path)?.remove(name);
        debug_assert!(removed.is_some(), "unlink of a missing name");
        let mut stack: Vec<Entry> = removed.into_iter().collect();
        while let Some(entry) = stack.pop() {
            match entry {
                Entry::File(id) => {
                    let file = self.file_mut(id, path)?;
                    debug_assert!(file.links > 0, "unlink of a file without links");
                    file.links = file.links.saturating_sub(1);
                    let freed = if file.links == 0 { file.current.len() as u64 } else { 0 };
                    self.used_bytes -= freed;
                }
                Entry::Dir(id) => {
                    let children = self.dir_mut(id, path)?.take_all();
                    stack.extend(children.into_values());
                }
            }
        }
        Ok(())
    }

    /// Fails with NoSpace if a file growing from `old_len` to `new_len` would exceed capacity.
    pub(super) fn reserve(&self, path: &Path, old_len: usize, new_len: usize) -> DiskResult<()> {
        let growth = new_len.saturating_sub(old_len) as u64;
        if growth > 0 && self.used_bytes.saturating_add(growth) > self.faults.capacity_bytes {
            return Err(DiskError::NoSpace { path: path.to_path_buf() });
        }
        Ok(())
    }

    // ---- operations ----

    pub(super) fn create_dir_all(&mut self, path: &Path) -> DiskResult<()> {
        let comps = components(path)?;
        let mut id = ROOT;
        for name in &comps {
            id = match self.dir(id, path)?.current.get(name).copied() {
                Some(Entry::Dir(child)) => child,
                Some(Entry::File(_)) => {
                    return Err(DiskError::AlreadyExists { path: path.to_path_buf() });
                }
                None => {
                    let child = self.new_inode_id();
                    self.dirs.insert(child, DirInode::default());
                    self.link(id, name, Entry::Dir(child), path)?;
                    child
                }
            };
        }
        Ok(())
    }

    pub(super) fn create_new(&mut self, path: &Path) -> DiskResult<()> {
        let comps = components(path)?;
        let (parent, name) = self.parent_and_name(path, &comps)?;
        if self.dir(parent, path)?.current.contains_key(name) {
            return Err(DiskError::AlreadyExists { path: path.to_path_buf() });
        }
        self.new_file(parent, name, path)?;
        Ok(())
    }

    pub(super) fn new_file(&mut self, parent: InodeId, name: &str, path: &Path) -> DiskResult<InodeId> {
        let id = self.new_inode_id();
        let file = FileInode::new();
        self.files.insert(id, file);
        self.link(parent, name, Entry::File(id), path)?;
        Ok(id)
    }

    /// write_at (`offset` given) or append (`None`); returns the new length. Nothing changes on
    /// error.
    pub(super) fn write(&mut self, path: &Path, offset: Option<u64>, data: &[u8]) -> DiskResult<u64> {
        let comps = components(path)?;
        let (parent, name) = self.parent_and_name(path, &comps)?;
        let existing = match self.dir(parent, path)?.current.get(name) {
            Some(Entry::Dir(_)) => return Err(invalid(path, "is a directory")),
            Some(Entry::File(id)) => Some(*id),
            None => None,
        };
        let old_len = match existing {
            Some(id) => self.file(id, path)?.current.len(),
            None => 0,
        };
        let offset = match offset {
            Some(offset) => usize::try_from(offset).map_err(|_| invalid(path, "offset beyond any file size"))?,
            None => old_len,
        };
        let end = offset.checked_add(data.len()).ok_or_else(|| invalid(path, "write beyond any file size"))?;
        // Like pwrite: an empty write does not extend the file.
        let new_len = if data.is_empty() { old_len } else { old_len.max(end) };
        self.reserve(path, old_len, new_len)?;

        let id = match existing {
            Some(id) => id,
            None => self.new_file(parent, name, path)?,
        };
        let file = self.file_mut(id, path)?;
        debug_assert!(file.links > 0, "written file has no name");
        if !data.is_empty() {
            file.write(offset, data);
        }
        debug_assert_eq!(file.current.len(), new_len);
        self.used_bytes += (new_len - old_len) as u64;
        Ok(new_len as u64)
    }

    pub(super) fn truncate(&mut self, path: &Path, len_bytes: u64) -> DiskResult<()> {
        let comps = components(path)?;
        let id = match self.lookup(path, &comps)? {
            None => return Err(not_found(path)),
            Some(Entry::Dir(_)) => return Err(invalid(path, "is a directory")),
            Some(Entry::File(id)) => id,
        };
        let new_len = usize::try_from(len_bytes).map_err(|_| invalid(path, "length too large"))?;
        let old_len = self.file(id, path)?.current.len();
        self.reserve(path, old_len, new_len)?;
        self.file_mut(id, path)?.truncate(new_len);
        self.used_bytes = self.used_bytes - old_len as u64 + new_len as u64;
        Ok(())
    }

    /// fsync: a file's content, or (like fsync on a directory descriptor) a directory's names.
    pub(super) fn sync(&mut self, path: &Path) -> DiskResult<()> {
        let comps = components(path)?;
        match self.lookup(path, &comps)? {
            None => Err(not_found(path)),
            Some(Entry::Dir(id)) => self.sync_dir_inode(id, path),
            Some(Entry::File(id)) => {
                self.file_mut(id, path)?.sync();
                Ok(())
            }
        }
    }

    /// What a lying disk does on a file sync: check the path, then persist nothing.
    pub(super) fn lie_about_sync(&mut self, path: &Path) -> DiskResult<()> {
        let comps = components(path)?;
        match self.lookup(path, &comps)? {
            None => Err(not_found(path)),
            Some(_) => Ok(()),
        }
    }

    pub(super) fn sync_dir(&mut self, path: &Path) -> DiskResult<()> {
        let comps = components(path)?;
        match self.lookup(path, &comps)? {
            None => Err(not_found(path)),
            Some(Entry::File(_)) => Err(invalid(path, "not a directory")),
            Some(Entry::Dir(id)) => self.sync_dir_inode(id, path),
        }
    }

    pub(super) fn sync_dir_inode(&mut self, id: InodeId, path: &Path) -> DiskResult<()> {
        self.dir_mut(id, path)?.sync();
        Ok(())
    }

    pub(super) fn rename(&mut self, from: &Path, to: &Path) -> DiskResult<()> {
        let from_comps = components(from)?;
        let to_comps = components(to)?;
        let (from_parent, from_name) = self.parent_and_name(from, &from_comps)?;
        let Some(moved) = self.dir(from_parent, from)?.current.get(from_name).copied() else {
            return Err(not_found(from));
        };
        let (to_parent, to_name) = self.parent_and_name(to, &to_comps)?;
        if from_comps == to_comps {
            return Ok(());
        }
        if matches!(moved, Entry::Dir(_)) && to_comps.starts_with(&from_comps) {
            return Err(invalid(to, "cannot move a directory into itself"));
        }
        match (moved, self.dir(to_parent, to)?.current.get(to_name).copied()) {
            (_, None) => {}
            // POSIX: two names of one file; rename does nothing.
            (Entry::File(a), Some(Entry::File(b))) if a == b => return Ok(()),
            (Entry::File(_), Some(Entry::File(_))) => self.unlink(to_parent, to_name, to)?,
            (Entry::File(_), Some(Entry::Dir(_))) => return Err(invalid(to, "is a directory")),
            (Entry::Dir(_), Some(Entry::File(_))) => return Err(invalid(to, "not a directory")),
            (Entry::Dir(_), Some(Entry::Dir(target))) => {
                if !self.dir(target, to)?.current.is_empty() {
                    return Err(invalid(to, "directory not empty"));
                }
                self.unlink(to_parent, to_name, to)?;
            }
        }
        // A move, not an unlink + link: links and used bytes do not change.
        let removed = self.dir_mut(from_parent, from)?.remove(from_name);
        debug_assert_eq!(removed, Some(moved));
        let replaced = self.dir_mut(to_parent, to)?.insert(to_name, moved);
        debug_assert!(replaced.is_none());
        Ok(())
    }

    pub(super) fn hard_link(&mut self, original: &Path, link: &Path) -> DiskResult<()> {
        let original_comps = components(original)?;
        let link_comps = components(link)?;
        let id = match self.lookup(original, &original_comps)? {
            None => return Err(not_found(original)),
            Some(Entry::Dir(_)) => return Err(invalid(original, "cannot hard-link a directory")),
            Some(Entry::File(id)) => id,
        };
        let (parent, name) = self.parent_and_name(link, &link_comps)?;
        if self.dir(parent, link)?.current.contains_key(name) {
            return Err(DiskError::AlreadyExists { path: link.to_path_buf() });
        }
        self.link(parent, name, Entry::File(id), link)
    }

    /// remove_file (`dir == false`) or remove_dir_all (`dir == true`).
    pub(super) fn remove(&mut self, path: &Path, dir: bool) -> DiskResult<()> {
        let comps = components(path)?;
        let (parent, name) = self.parent_and_name(path, &comps)?;
        match (self.dir(parent, path)?.current.get(name), dir) {
            (None, _) => Err(not_found(path)),
            (Some(Entry::Dir(_)), false) => Err(invalid(path, "is a directory")),
            (Some(Entry::File(_)), true) => Err(invalid(path, "not a directory")),
            _ => self.unlink(parent, name, path),
        }
    }

    // ---- invariants ----

    /// Full check (a walk of everything): after every operation in this crate's tests and after
    /// every crash in debug builds.
    pub(super) fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert!(self.dirs.contains_key(&ROOT), "root directory missing");
        assert!(self.crash_countdown != Some(0), "countdown of 0 left pending");
        let mut links: BTreeMap<InodeId, u32> = BTreeMap::new();
        for dir in self.dirs.values() {
            for entry in dir.current.values().chain(dir.durable.values()) {
                match entry {
                    Entry::File(id) => assert!(self.files.contains_key(id), "dangling file {id}"),
                    Entry::Dir(id) => assert!(self.dirs.contains_key(id), "dangling dir {id}"),
                }
            }
            for entry in dir.current.values() {
                if let Entry::File(id) = entry {
                    *links.entry(*id).or_insert(0) += 1;
                }
            }
        }
        let reached: BTreeSet<InodeId> = self
            .walk(Side::Current)
            .into_iter()
            .filter_map(|(_, entry)| match entry {
                Entry::Dir(id) => Some(id),
                Entry::File(_) => None,
            })
            .chain([ROOT])
            .collect();
        for (id, dir) in &self.dirs {
            assert!(reached.contains(id) || dir.current.is_empty(), "removed dir {id} has names");
        }
        let mut used = 0;
        for (id, file) in &self.files {
            assert_eq!(file.links, links.get(id).copied().unwrap_or(0), "links of file {id}");
            if file.links > 0 {
                used += file.current.len() as u64;
            }
        }
        assert_eq!(self.used_bytes, used, "used bytes");
    }
}

/// The names of `path` below the root. Relative paths are taken from the root; `..` is refused.
pub(super) fn components(path: &Path) -> DiskResult<Vec<String>> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => match name.to_str() {
                Some(name) => out.push(name.to_owned()),
                None => return Err(invalid(path, "path is not UTF-8")),
            },
            Component::ParentDir => return Err(invalid(path, "`..` is not supported")),
            Component::Prefix(_) => return Err(invalid(path, "path prefixes are not supported")),
        }
    }
    Ok(out)
}

pub(super) fn not_found(path: &Path) -> DiskError {
    DiskError::NotFound { path: path.to_path_buf() }
}

pub(super) fn invalid(path: &Path, detail: &str) -> DiskError {
    DiskError::Invalid { path: path.to_path_buf(), detail: detail.into() }
}

pub(super) fn crashed(path: &Path) -> DiskError {
    DiskError::Io { path: path.to_path_buf(), detail: "node crashed".into() }
}

/// Only reachable if an invariant is broken (debug builds assert first).
pub(super) fn broken(path: &Path) -> DiskError {
    DiskError::Io { path: path.to_path_buf(), detail: "simulated disk is inconsistent".into() }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, every seed a good stream.
/// The largest disk (files and directories) whose invariants every crash checks in full.
const MAX_INODES_CHECKED_AT_CRASH: usize = 4_096;

#[derive(Debug)]
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for our `n`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Draws nothing for 0 and for certainty, so a fault-free disk's torn writes depend only on
    /// the seed and the crashes, not on how many operations ran.
    pub(super) fn chance_per_million(&mut self, per_million: u32) -> bool {
        match per_million {
            0 => false,
            p if p >= 1_000_000 => true,
            p => self.below(1_000_000) < u64::from(p),
        }
    }
}
