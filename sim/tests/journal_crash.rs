//! The FE journal under power loss at every point of an append or a checkpoint: replay must give
//! a prefix of what was written that holds every acknowledged record, and the journal must keep
//! working after the cut.

use std::path::Path;
use std::sync::Arc;

use palo_node::disk::Disk;
use palo_node::journal::Journal;
use palo_sim::SimDisk;

fn record(i: u64) -> Vec<u8> {
    // Records of varying length, so torn frames land anywhere in a frame.
    format!("record-{i}-{}", "x".repeat((i * 37 % 200) as usize)).into_bytes()
}

/// Appends records 1.. (a checkpoint every `checkpoint_every`) until the disk "crashes";
/// returns how many were acknowledged.
async fn write_until_crash(disk: Arc<SimDisk>, checkpoint_every: u64) -> u64 {
    let dir = Path::new("/fe/meta");
    let Ok((mut journal, recovered)) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await else {
        return 0;
    };
    assert!(recovered.records.is_empty() && recovered.image.is_none());
    let mut acked = 0;
    for i in 1..=200u64 {
        match journal.append(&record(i)).await {
            Ok(lsn) => {
                assert_eq!(lsn, i);
                acked = i;
            }
            Err(_) => return acked,
        }
        if i % checkpoint_every == 0 {
            let image = format!("image-after-{i}").into_bytes();
            if journal.checkpoint(i, &image).await.is_err() {
                return acked;
            }
        }
    }
    acked
}

#[tokio::test]
async fn replay_after_a_crash_anywhere_is_a_prefix_with_every_acknowledged_record() {
    let mut crashes_mid_write = 0;
    for seed in 0..400u64 {
        let disk = Arc::new(SimDisk::new(seed));
        // Crash somewhere in the first ~600 disk operations (about 200 appends plus checkpoints).
        let crash_at = 1 + (seed * 7919) % 600;
        let checkpoint_every = 3 + seed % 11;
        disk.crash_after_ops(crash_at);
        let acked = write_until_crash(disk.clone(), checkpoint_every).await;
        if !disk.is_crashed() {
            continue; // The run finished before the crash point.
        }
        crashes_mid_write += 1;
        disk.revive();

        let dir = Path::new("/fe/meta");
        let (mut journal, recovered) = Journal::open(disk.clone() as Arc<dyn Disk>, dir)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: journal does not open after a crash at op {crash_at}: {e}"));
        let image_lsn = match &recovered.image {
            Some((lsn, payload)) => {
                assert_eq!(payload, &format!("image-after-{lsn}").into_bytes(), "seed {seed}: image content");
                *lsn
            }
            None => 0,
        };
        let mut expected = image_lsn + 1;
        for (lsn, payload) in &recovered.records {
            assert_eq!(*lsn, expected, "seed {seed}: records must be dense");
            assert_eq!(payload, &record(*lsn), "seed {seed}: record {lsn} changed");
            expected += 1;
        }
        let last = expected - 1;
        assert!(last >= acked, "seed {seed}: acknowledged record {acked} lost (replay ends at {last})");
        assert!(last <= acked + 1, "seed {seed}: replay invented records past {}", acked + 1);

        // The journal goes on after the cut, and a second replay sees everything.
        let lsn = journal.append(b"after-recovery").await.expect("append after recovery");
        assert_eq!(lsn, last + 1, "seed {seed}");
        drop(journal);
        let (_, again) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect("reopen");
        assert_eq!(again.records.last().map(|(l, p)| (*l, p.clone())), Some((lsn, b"after-recovery".to_vec())));
    }
    assert!(crashes_mid_write > 300, "the test must actually crash mid-write ({crashes_mid_write} did)");
}

#[tokio::test]
async fn a_corrupt_record_before_the_tail_refuses_to_start() {
    let disk = Arc::new(SimDisk::new(1));
    let dir = Path::new("/fe/meta");
    let (mut journal, _) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect("open");
    for i in 1..=6 {
        journal.append(&record(i)).await.expect("append");
    }
    journal.checkpoint(6, b"image").await.expect("checkpoint");
    for i in 7..=9 {
        journal.append(&record(i)).await.expect("append");
    }
    drop(journal);
    // Flip one byte of the image: the FE must refuse to start rather than serve a wrong state.
    let image = dir.join(format!("image.{:020}", 6));
    let mut bytes = disk.read_all(&image).await.expect("image exists");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    disk.write_at(&image, 0, &bytes).await.expect("rewrite");
    let err = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect_err("corrupt image must be refused");
    assert!(err.to_string().contains("checksum"), "{err}");
}
