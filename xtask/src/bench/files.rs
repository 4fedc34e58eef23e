//! The files of a table on the backends' disks, and the baselines a benchmark compares with:
//! counting files and bytes, dropping the page cache, timing `cp` (of tablet directories, or of
//! any directory: a snapshot in the repository).
//!
//! A backend's tablets are `<data>/be<i>/tablets/<tablet_id>/`, each with `meta.json` and
//! `rowsets/<start>_<end>_<origin>.rowset` (see node/src/be/tablet/).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The tablet directories of some tablets, per backend directory name (`be0`, `be1`, ...).
#[derive(Debug, Clone, Default)]
pub struct TabletDirs {
    pub per_backend: BTreeMap<String, Vec<PathBuf>>,
}

impl TabletDirs {
    /// The directories of `ids` under every `<data>/be*/tablets/` (a tablet with several
    /// replicas has one per backend).
    pub fn find(data: &Path, ids: &BTreeSet<i64>) -> Result<TabletDirs, String> {
        let mut per_backend = BTreeMap::new();
        for backend in read_dir(data)? {
            let name = file_name(&backend);
            if !name.starts_with("be") || !backend.is_dir() {
                continue;
            }
            let tablets = backend.join("tablets");
            if !tablets.is_dir() {
                continue;
            }
            let mut dirs: Vec<PathBuf> = read_dir(&tablets)?
                .into_iter()
                .filter(|d| file_name(d).parse::<i64>().is_ok_and(|id| ids.contains(&id)))
                .collect();
            dirs.sort();
            if !dirs.is_empty() {
                per_backend.insert(name, dirs);
            }
        }
        Ok(TabletDirs { per_backend })
    }

    pub fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.per_backend.values().flatten()
    }

    pub fn count(&self) -> usize {
        self.all().count()
    }

    /// The published rowset files (`rowsets/*.rowset`): how many, and their bytes.
    pub fn rowsets(&self) -> Result<Stats, String> {
        let mut stats = Stats::default();
        for dir in self.all() {
            let rowsets = dir.join("rowsets");
            if !rowsets.is_dir() {
                continue;
            }
            for file in read_dir(&rowsets)? {
                if file_name(&file).ends_with(".rowset") {
                    stats.add_file(&file)?;
                }
            }
        }
        Ok(stats)
    }

    /// Every file in the directories (rowsets, meta.json, anything else).
    pub fn everything(&self) -> Result<Stats, String> {
        let mut stats = Stats::default();
        for dir in self.all() {
            stats.add_tree(dir)?;
        }
        Ok(stats)
    }

    /// Runs `cp <flags> <the directories of a backend> <dest>/<backend>/`, backend after
    /// backend, and times the copies (making the destination directories is not timed).
    pub fn timed_cp(&self, flags: &str, dest: &Path) -> Result<Timed, String> {
        let mut copies = Vec::new();
        for (backend, dirs) in &self.per_backend {
            let target = dest.join(backend);
            std::fs::create_dir_all(&target).map_err(|e| format!("creating {}: {e}", target.display()))?;
            copies.push((dirs.as_slice(), target));
        }
        timed_cp(flags, &copies)
    }
}

/// Runs `cp <flags> <sources> <target>` for each `(sources, target)` in turn (the targets are
/// existing directories), and times the copies together, with the CPU the `cp`s used.
pub fn timed_cp(flags: &str, copies: &[(&[PathBuf], PathBuf)]) -> Result<Timed, String> {
    let cpu_before = super::cpu::of_children();
    let started = Instant::now();
    for (sources, target) in copies {
        let status = Command::new("cp")
            .arg(flags)
            .args(*sources)
            .arg(target)
            .status()
            .map_err(|e| format!("running cp: {e}"))?;
        if !status.success() {
            return Err(format!("cp {flags} ... {} failed ({status})", target.display()));
        }
    }
    let wall = started.elapsed();
    let cpu = super::cpu::of_children().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    Ok(Timed { wall, cpu })
}

/// Runs `sync` and times it: after a copy, the time its written data takes to reach the disk.
pub fn timed_sync() -> Result<Duration, String> {
    let started = Instant::now();
    let status = Command::new("sync").status().map_err(|e| format!("running sync: {e}"))?;
    if !status.success() {
        return Err(format!("sync failed ({status})"));
    }
    Ok(started.elapsed())
}

/// How long a step took, and the CPU time it used when known.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    pub wall: Duration,
    pub cpu: Option<Duration>,
}

impl Timed {
    /// `CPU 1.2 s (0.6 of 2 cores)`, or `CPU unknown`.
    pub fn cpu_text(&self) -> String {
        match self.cpu {
            Some(cpu) => format!(
                "CPU {:.2} s ({:.2} of {} cores)",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9),
                crate::cmd::available_cores()
            ),
            None => "CPU unknown".to_string(),
        }
    }
}

/// A number of files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
}

impl Stats {
    fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.files += 1;
        self.bytes += meta.len();
        Ok(())
    }

    /// Adds every regular file under `dir`.
    pub fn add_tree(&mut self, dir: &Path) -> Result<(), String> {
        self.add_tree_matching(dir, &|_| true)
    }

    /// Adds every regular file under `dir` whose name `keep` accepts.
    fn add_tree_matching(&mut self, dir: &Path, keep: &dyn Fn(&str) -> bool) -> Result<(), String> {
        for entry in read_dir(dir)? {
            let meta = std::fs::symlink_metadata(&entry).map_err(|e| format!("{}: {e}", entry.display()))?;
            if meta.is_dir() {
                self.add_tree_matching(&entry, keep)?;
            } else if meta.is_file() && keep(&file_name(&entry)) {
                self.files += 1;
                self.bytes += meta.len();
            }
        }
        Ok(())
    }

    /// The files under `dir`.
    pub fn of_tree(dir: &Path) -> Result<Stats, String> {
        Stats::of_tree_matching(dir, &|_| true)
    }

    /// The files under `dir` whose name `keep` accepts.
    pub fn of_tree_matching(dir: &Path, keep: &dyn Fn(&str) -> bool) -> Result<Stats, String> {
        let mut stats = Stats::default();
        stats.add_tree_matching(dir, keep)?;
        Ok(stats)
    }
}

/// `sync`, then `echo 3 > /proc/sys/vm/drop_caches`: whether the page cache was dropped (it
/// needs root, and a container may forbid it even then).
pub fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::read_dir(dir)
        .map_err(|e| format!("listing {}: {e}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| format!("listing {}: {e}", dir.display())))
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_counts_and_copies_the_tablets_of_a_table() {
        let root = std::env::temp_dir().join(format!("xtask-files-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        for (be, tablet, rowsets) in [("be0", 11, 2), ("be1", 12, 3), ("be1", 99, 1)] {
            let dir = data.join(be).join("tablets").join(tablet.to_string());
            std::fs::create_dir_all(dir.join("rowsets")).unwrap();
            std::fs::write(dir.join("meta.json"), b"{}").unwrap();
            for v in 0..rowsets {
                std::fs::write(dir.join("rowsets").join(format!("{v}_{v}_l.rowset")), vec![0u8; 10]).unwrap();
            }
        }
        std::fs::create_dir_all(data.join("fe").join("meta")).unwrap();
        let dirs = TabletDirs::find(&data, &BTreeSet::from([11, 12])).unwrap();
        assert_eq!(dirs.count(), 2);
        assert_eq!(dirs.rowsets().unwrap(), Stats { files: 5, bytes: 50 });
        assert_eq!(dirs.everything().unwrap(), Stats { files: 7, bytes: 54 });
        dirs.timed_cp("-r", &root.join("copy")).unwrap();
        assert_eq!(Stats::of_tree(&root.join("copy")).unwrap(), Stats { files: 7, bytes: 54 });
        assert!(root.join("copy/be1/12/rowsets/2_2_l.rowset").is_file());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
