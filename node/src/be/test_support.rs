//! Unit-test scaffolding: a fresh directory on the real disk per test, reached only through
//! [`Disk`] (node code, tests included, never touches `std::fs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::disk::{Disk, RealDisk};
use crate::schema::{Column, ColumnType};

static NEXT: AtomicU64 = AtomicU64::new(0);

pub struct TempDisk {
    root: PathBuf,
    disk: Arc<dyn Disk>,
}

impl TempDisk {
    /// An empty directory named after `label`, this process and a counter.
    pub async fn new(label: &str) -> TempDisk {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("palo-unit-{label}-{}-{n}", std::process::id()));
        let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(&root));
        match disk.remove_dir_all(&root).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("cannot clear {}: {e}", root.display()),
        }
        disk.create_dir_all(&root).await.expect("creates the test directory");
        TempDisk { root, disk }
    }

    pub fn disk(&self) -> Arc<dyn Disk> {
        self.disk.clone()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Removes the directory (a failing test leaves it behind for a look).
    pub async fn remove(self) {
        let _ = self.disk.remove_dir_all(&self.root).await;
    }
}

/// A column for test schemas: keys are NOT NULL, values nullable, no default or aggregation.
pub fn column(name: &str, ty: ColumnType, is_key: bool) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: !is_key,
        default: None,
        comment: String::new(),
        aggregation: None,
        is_key,
    }
}
