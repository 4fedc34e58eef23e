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

/// Appends records 1.. (a checkpoint every `checkpoint_every`) until the disk "crashes", the
/// journal splitting records longer than `piece_bytes`; returns how many were acknowledged. An
/// image holds the number of the last record it covers.
async fn write_until_crash(disk: Arc<SimDisk>, checkpoint_every: u64, piece_bytes: usize) -> u64 {
    let dir = Path::new("/fe/meta");
    let Ok((mut journal, recovered)) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await else {
        return 0;
    };
    journal.set_piece_bytes(piece_bytes);
    assert!(recovered.records.is_empty() && recovered.image.is_none());
    let mut acked = 0;
    let mut last_lsn = 0;
    for i in 1..=200u64 {
        match journal.append(&record(i)).await {
            Ok(lsn) => {
                let frames = record(i).len().div_ceil(piece_bytes).max(1) as u64;
                assert_eq!(lsn, last_lsn + frames, "record {i} takes one lsn per piece");
                last_lsn = lsn;
                acked = i;
            }
            Err(_) => return acked,
        }
        if i % checkpoint_every == 0 {
            let image = format!("image-after-{i}").into_bytes();
            if journal.checkpoint(last_lsn, &image).await.is_err() {
                return acked;
            }
        }
    }
    acked
}

/// Power loss anywhere in ~600 disk operations of appends (records of one frame, or of many
/// pieces when `piece_bytes` is small) and checkpoints: replay is a prefix of what was written
/// that holds every acknowledged record, whole, and the journal goes on after the cut.
async fn crash_anywhere(piece_bytes: usize) {
    let mut crashes_mid_write = 0;
    for seed in 0..400u64 {
        let disk = Arc::new(SimDisk::new(seed));
        let crash_at = 1 + (seed * 7919) % 600;
        let checkpoint_every = 3 + seed % 11;
        disk.crash_after_ops(crash_at);
        let acked = write_until_crash(disk.clone(), checkpoint_every, piece_bytes).await;
        if !disk.is_crashed() {
            continue; // The run finished before the crash point.
        }
        crashes_mid_write += 1;
        disk.revive();

        let dir = Path::new("/fe/meta");
        let (mut journal, recovered) = Journal::open(disk.clone() as Arc<dyn Disk>, dir)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: journal does not open after a crash at op {crash_at}: {e}"));
        let (image_lsn, image_index) = match &recovered.image {
            Some((lsn, payload)) => {
                let text = String::from_utf8_lossy(payload);
                let index: u64 = text
                    .strip_prefix("image-after-")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("seed {seed}: image content {text}"));
                (*lsn, index)
            }
            None => (0, 0),
        };
        let mut expected = image_index + 1;
        let mut last = image_lsn;
        for (lsn, payload) in &recovered.records {
            assert!(*lsn > last, "seed {seed}: lsns must grow");
            assert_eq!(payload, &record(expected), "seed {seed}: record {expected} changed (lsn {lsn})");
            last = *lsn;
            expected += 1;
        }
        let replayed = expected - 1;
        assert!(replayed >= acked, "seed {seed}: acknowledged record {acked} lost (replay ends at {replayed})");
        assert!(replayed <= acked + 1, "seed {seed}: replay invented records past {}", acked + 1);

        // The journal goes on after the cut, and a second replay sees everything.
        let lsn = journal.append(b"after-recovery").await.expect("append after recovery");
        assert!(lsn > last, "seed {seed}");
        drop(journal);
        let (_, again) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect("reopen");
        assert_eq!(again.records.last().map(|(l, p)| (*l, p.clone())), Some((lsn, b"after-recovery".to_vec())));
    }
    assert!(crashes_mid_write > 300, "the test must actually crash mid-write ({crashes_mid_write} did)");
}

#[tokio::test]
async fn replay_after_a_crash_anywhere_is_a_prefix_with_every_acknowledged_record() {
    crash_anywhere(palo_node::journal::MAX_PIECE_BYTES).await;
}

/// The same with records split into pieces of 40 bytes (most records are several pieces, so a
/// crash cuts groups anywhere: between pieces, inside one, before the fsync).
#[tokio::test]
async fn a_record_split_into_pieces_is_replayed_whole_or_not_at_all() {
    crash_anywhere(40).await;
}

/// A record whose pieces are followed by another record, not by its last piece, is damage in
/// the middle of the log: the journal refuses to open rather than drop it.
#[tokio::test]
async fn a_record_cut_short_before_the_tail_refuses_to_start() {
    let disk = Arc::new(SimDisk::new(2));
    let dir = Path::new("/fe/meta");
    let (mut journal, _) = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect("open");
    journal.set_piece_bytes(8);
    let segment = dir.join(format!("edits.{:020}", 1));
    journal.append(b"one").await.expect("append");
    let before = disk.read_all(&segment).await.expect("segment").len();
    assert_eq!(journal.append(b"a record of three pieces").await.expect("append"), 4);
    let after = disk.read_all(&segment).await.expect("segment");
    journal.append(b"two").await.expect("append");
    drop(journal);
    // Turn the group's last piece (lsn 4) into a whole record: its first pieces end nowhere.
    let mut bytes = disk.read_all(&segment).await.expect("segment");
    let last_piece_at = after.len() - (16 + 1 + 8);
    assert!(last_piece_at > before);
    bytes.splice(last_piece_at..after.len(), palo_node::journal::encode_frame(4, b"a whole record"));
    disk.write_at(&segment, 0, &bytes).await.expect("rewrite");
    let err = Journal::open(disk.clone() as Arc<dyn Disk>, dir).await.expect_err("a record cut short in the middle");
    assert!(err.to_string().contains("cut short"), "{err}");
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
