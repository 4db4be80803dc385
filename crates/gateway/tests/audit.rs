//! The audit log against an attacker who can write the home but not the anchor: edits,
//! reordering, truncation and re-keying are all detected; a crash's debris is not mistaken
//! for tampering. The frame format is re-implemented here from `docs/format.md`, so the tests
//! also pin the documented format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_core::{AuditOutcome, AuditRecord, AuditSink, Layer};
use sandframe_gateway::audit::{self, Tampering};
use sandframe_gateway::{
    Anchor, AuditLog, FileAnchor, GatewayError, Head, HomeSecret, MemoryAnchor, Migration,
};

const KEY: [u8; 32] = [5; 32];

fn dir(t: &tempfile::TempDir) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(t.path(), cap_std::ambient_authority()).unwrap()
}

/// Records one allowed `clock.now` call of the test app, with `detail`.
fn record(log: &AuditLog, i: u64, detail: &str) -> Result<(), sandframe_core::Error> {
    let app = "com.example.audit".parse().unwrap();
    log.record(&AuditRecord {
        app: Some(&app),
        layer: Layer::Gateway,
        action: "call",
        subject: "clock.now",
        capability: "",
        outcome: AuditOutcome::Allowed,
        detail,
        latency_ns: i,
        bytes_in: 0,
        bytes_out: 12,
        unix_ms: 0,
    })
}

fn write(log: &AuditLog, n: usize, what: &str) {
    for i in 0..n {
        record(log, i as u64, &format!("{what} {i} {}", "x".repeat(100))).unwrap();
    }
}

/// A log of several frames, flushed and anchored.
fn sample() -> (tempfile::TempDir, Arc<MemoryAnchor>, Vec<u8>) {
    let t = tempfile::tempdir().unwrap();
    let anchor = Arc::new(MemoryAnchor::new(KEY));
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    write(&log, 2500, "r"); // about 330 KB: five frames or more
    log.flush().unwrap();
    drop(log);
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    (t, anchor, bytes)
}

/// Frame boundaries: (start, end) of each frame.
fn frames(log: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < log.len() {
        let len = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, at + 4 + len + 32));
        at += 4 + len + 32;
    }
    out
}

/// The documented frame MAC.
fn mac(key: &[u8; 32], prev: &[u8; 32], index: u64, body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"sandframe audit frame v2");
    h.update(prev);
    h.update(&index.to_le_bytes());
    h.update(&(body.len() as u32).to_le_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

#[test]
fn an_honest_log_verifies_and_reads_back_in_order() {
    let (_t, anchor, bytes) = sample();
    let head = anchor.head();
    assert!(head.frames >= 5, "{head:?}");
    assert_eq!(head.records, 2500);
    let v = audit::verify(&bytes, &KEY, &head).unwrap();
    assert_eq!((v.unanchored_frames, v.torn_tail_bytes), (0, 0));
    let records = audit::read(&bytes, &KEY, &head).unwrap();
    assert_eq!(records.len(), 2500);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert!(r.detail.starts_with(&format!("r {i} ")));
    }
    // The documented MAC chain reproduces every frame's MAC.
    let mut prev = [0u8; 32];
    for (i, (s, e)) in frames(&bytes).into_iter().enumerate() {
        let body = &bytes[s + 4..e - 32];
        prev = mac(&KEY, &prev, i as u64, body);
        assert_eq!(&bytes[e - 32..e], &prev);
    }
    assert_eq!(prev, head.mac);
}

#[test]
fn an_edited_record_is_detected() {
    let (_t, anchor, mut bytes) = sample();
    let (s, _) = frames(&bytes)[1];
    bytes[s + 40] ^= 1;
    assert!(matches!(
        audit::verify(&bytes, &KEY, &anchor.head()),
        Err(Tampering::BadFrame { frame: 1, .. })
    ));
}

#[test]
fn reordered_frames_are_detected() {
    let (_t, anchor, bytes) = sample();
    let f = frames(&bytes);
    let mut swapped = Vec::new();
    swapped.extend_from_slice(&bytes[f[1].0..f[1].1]);
    swapped.extend_from_slice(&bytes[f[0].0..f[0].1]);
    swapped.extend_from_slice(&bytes[f[2].0..]);
    assert!(matches!(
        audit::verify(&swapped, &KEY, &anchor.head()),
        Err(Tampering::BadFrame { frame: 0, .. })
    ));
}

#[test]
fn a_truncated_log_is_detected_whole_frames_or_mid_frame() {
    let (_t, anchor, bytes) = sample();
    let f = frames(&bytes);
    let last = f.last().unwrap().0;
    for cut in [last, last + 10, 0] {
        let r = audit::verify(&bytes[..cut], &KEY, &anchor.head());
        assert!(
            matches!(r, Err(Tampering::Truncated { .. })),
            "cut at {cut}: {r:?}"
        );
    }
    // Dropping a middle frame breaks the chain.
    let mut gap = bytes[..f[1].0].to_vec();
    gap.extend_from_slice(&bytes[f[2].0..]);
    assert!(audit::verify(&gap, &KEY, &anchor.head()).is_err());
}

#[test]
fn a_log_rechained_with_another_key_is_detected() {
    let (_t, anchor, bytes) = sample();
    // The attacker rewrites every MAC, consistently, with a key of their own, and even
    // edits a record first: the chain is perfect, but not under the anchor's key.
    let mut forged = Vec::new();
    let mut prev = [0u8; 32];
    for (i, (s, e)) in frames(&bytes).into_iter().enumerate() {
        let mut body = bytes[s + 4..e - 32].to_vec();
        if i == 0 {
            body[20] ^= 1;
        }
        prev = mac(&[6; 32], &prev, i as u64, &body);
        forged.extend_from_slice(&(body.len() as u32).to_le_bytes());
        forged.extend_from_slice(&body);
        forged.extend_from_slice(&prev);
    }
    assert!(matches!(
        audit::verify(&forged, &KEY, &anchor.head()),
        Err(Tampering::BadFrame { frame: 0, .. })
    ));
    // Nor does a forged head help without the key.
    let fake_head = Head {
        mac: prev,
        ..anchor.head()
    };
    assert!(audit::verify(&forged, &KEY, &fake_head).is_err());
}

#[test]
fn a_replaced_log_is_detected_even_if_its_chain_is_valid() {
    // An older copy of the log (a valid prefix) put back in place: shorter than the anchor.
    let t = tempfile::tempdir().unwrap();
    let anchor = Arc::new(MemoryAnchor::new(KEY));
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    write(&log, 300, "a");
    log.flush().unwrap();
    let old = std::fs::read(t.path().join("audit.log")).unwrap();
    write(&log, 300, "b");
    log.flush().unwrap();
    drop(log);
    assert!(matches!(
        audit::verify(&old, &KEY, &anchor.head()),
        Err(Tampering::Truncated { .. })
    ));
    std::fs::write(t.path().join("audit.log"), &old).unwrap();
    match AuditLog::open(&dir(&t), anchor) {
        Err(GatewayError::Tampered(Tampering::Truncated { .. })) => {}
        other => panic!("a tampered log must not be appended to: {other:?}"),
    }
}

#[test]
fn crash_debris_is_reported_not_mistaken_for_tampering() {
    let t = tempfile::tempdir().unwrap();
    let anchor = Arc::new(MemoryAnchor::new(KEY));
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    write(&log, 100, "anchored");
    log.flush().unwrap();
    // Frames written but never anchored (the process dies before its next flush).
    write(&log, 1200, "unanchored");
    std::mem::forget(log);
    let mut bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    let v = audit::verify(&bytes, &KEY, &anchor.head()).unwrap();
    assert!(v.unanchored_frames >= 1, "{v:?}");
    // And a torn frame at the very end (the crash hit mid-write).
    let valid = bytes.len();
    bytes.extend_from_slice(&1000u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 50]);
    std::fs::write(t.path().join("audit.log"), &bytes).unwrap();
    assert_eq!(
        audit::verify(&bytes, &KEY, &anchor.head())
            .unwrap()
            .torn_tail_bytes,
        54
    );
    // Reopening cuts the torn bytes and continues the chain after the unanchored frames.
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    write(&log, 1, "after");
    log.flush().unwrap();
    drop(log);
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    assert!(bytes.len() > valid);
    let records = audit::read(&bytes, &KEY, &anchor.head()).unwrap();
    assert!(records.last().unwrap().detail.starts_with("after"));
    assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64));
}

#[test]
fn the_file_anchor_keeps_its_key_and_head_private_and_durable() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("outside").join("audit.anchor");
    let a = FileAnchor::open(&path).unwrap();
    let key = a.key();
    assert_ne!(key, [0; 32]);
    let head = Head {
        frames: 3,
        records: 7,
        mac: [1; 32],
    };
    a.advance(&head).unwrap();
    drop(a);
    let b = FileAnchor::open(&path).unwrap();
    assert_eq!((b.key(), b.head()), (key, head));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(&path, b"not an anchor").unwrap();
    assert!(matches!(
        FileAnchor::open(&path),
        Err(GatewayError::Damaged(_))
    ));
}

/// An anchor that remembers every head it was asked to keep.
struct Recording {
    inner: MemoryAnchor,
    history: std::sync::Mutex<Vec<u64>>,
}

impl Anchor for Recording {
    fn key(&self) -> [u8; 32] {
        self.inner.key()
    }
    fn head(&self) -> Head {
        self.inner.head()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        self.history.lock().unwrap().push(head.frames);
        self.inner.advance(head)
    }
    fn home_secret(&self) -> Result<HomeSecret, GatewayError> {
        self.inner.home_secret()
    }
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError> {
        self.inner.set_migration(migration)
    }
    fn state_head(&self) -> Result<sandframe_gateway::StateHead, GatewayError> {
        self.inner.state_head()
    }
    fn advance_state(&self, head: &sandframe_gateway::StateHead) -> Result<(), GatewayError> {
        self.inner.advance_state(head)
    }
}

#[test]
fn racing_flushes_never_move_the_anchor_back() {
    let t = tempfile::tempdir().unwrap();
    let anchor = Arc::new(Recording {
        inner: MemoryAnchor::new(KEY),
        history: std::sync::Mutex::new(Vec::new()),
    });
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    std::thread::scope(|s| {
        for n in 0..4 {
            let log = &log;
            s.spawn(move || {
                for i in 0..40 {
                    write(log, 3, &format!("t{n} {i}"));
                    log.flush().unwrap();
                }
            });
        }
    });
    let history = anchor.history.lock().unwrap().clone();
    assert!(history.len() > 1);
    assert!(history.windows(2).all(|w| w[0] < w[1]), "{history:?}");
    drop(log);
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    let v = audit::verify(&bytes, &KEY, &anchor.head()).unwrap();
    assert_eq!(v.unanchored_frames, 0);
    assert_eq!(v.head.records, 4 * 40 * 3);
}

#[test]
fn a_forged_frame_past_the_anchor_is_cut_off_never_trusted() {
    let (t, anchor, mut bytes) = sample();
    let valid = bytes.len();
    // A whole frame, well formed, under a key the attacker made up.
    let body = [0u8; 64];
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&mac(
        &[6; 32],
        &anchor.head().mac,
        anchor.head().frames,
        &body,
    ));
    let v = audit::verify(&bytes, &KEY, &anchor.head()).unwrap();
    assert_eq!(v.torn_tail_bytes as usize, bytes.len() - valid);
    assert_eq!(v.head, anchor.head());
    std::fs::write(t.path().join("audit.log"), &bytes).unwrap();
    drop(AuditLog::open(&dir(&t), anchor.clone()).unwrap());
    assert_eq!(
        std::fs::read(t.path().join("audit.log")).unwrap().len(),
        valid,
        "opening the log cut the forged frame off"
    );
}

/// A batch writes a repeated call as a short `Repeat` record; reading it back restores
/// every field of every call, and a `Repeat` with nothing before it in its frame is refused
/// even under a valid MAC.
#[test]
fn repeated_calls_are_stored_compactly_and_read_back_exactly() {
    let t = tempfile::tempdir().unwrap();
    let anchor = Arc::new(MemoryAnchor::new(KEY));
    let log = AuditLog::open(&dir(&t), anchor.clone()).unwrap();
    let app = "com.example.audit".parse().unwrap();
    let other = "com.example.other".parse().unwrap();
    let mut batch = log.batch().unwrap();
    let call = |app, subject, detail, i: u64| AuditRecord {
        app: Some(app),
        layer: Layer::Gateway,
        action: "call",
        subject,
        capability: "",
        outcome: AuditOutcome::Allowed,
        detail,
        latency_ns: 100 + i,
        bytes_in: i as u32,
        bytes_out: 2 * i as u32,
        unix_ms: 1_700_000_000_000 + i * 3,
    };
    for i in 0..1000u64 {
        // Runs of one API, broken by another API, another app and another detail.
        let (who, subject, detail) = match i % 100 {
            50 => (&other, "clock.now", ""),
            60 => (&app, "log", ""),
            70 => (&app, "clock.now", "refused"),
            _ => (&app, "clock.now", ""),
        };
        batch.record(&call(who, subject, detail, i)).unwrap();
    }
    batch.commit().unwrap();
    // A record written straight to the log, then a batch whose first record equals it: the
    // batch must start in full (tested by the read below restoring its fields).
    log.record(&call(&app, "clock.now", "", 5000)).unwrap();
    batch.record(&call(&app, "clock.now", "", 5001)).unwrap();
    drop(batch);
    log.flush().unwrap();
    drop(log);
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    assert!(
        bytes.len() < 1002 * 16,
        "repeats should take a few bytes each: {} bytes for 1002 records",
        bytes.len()
    );
    let records = audit::read(&bytes, &KEY, &anchor.head()).unwrap();
    assert_eq!(records.len(), 1002);
    for (i, r) in records.iter().take(1000).enumerate() {
        let i = i as u64;
        let (who, subject, detail) = match i % 100 {
            50 => ("com.example.other", "clock.now", ""),
            60 => ("com.example.audit", "log", ""),
            70 => ("com.example.audit", "clock.now", "refused"),
            _ => ("com.example.audit", "clock.now", ""),
        };
        assert_eq!(
            (r.app.as_str(), r.subject.as_str(), r.detail.as_str()),
            (who, subject, detail),
            "record {i}"
        );
        assert_eq!(r.seq, i);
        assert_eq!(r.latency_ns, 100 + i);
        assert_eq!((r.bytes_in, r.bytes_out), (i as u32, 2 * i as u32));
        assert_eq!(r.unix_ms, 1_700_000_000_000 + i * 3);
        assert_eq!((r.layer.as_str(), r.action.as_str()), ("gateway", "call"));
    }
    assert_eq!(records[1000].latency_ns, 5100);
    assert_eq!(records[1001].latency_ns, 5101);
    assert_eq!(records[1001].unix_ms, 1_700_000_000_000 + 5001 * 3);

    // Forge (with the key) a one-frame log whose only record is a Repeat (variant 1).
    let mut body = 0u64.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 5, 0, 0]);
    let frame_mac = mac(&KEY, &[0; 32], 0, &body);
    let mut forged = (body.len() as u32).to_le_bytes().to_vec();
    forged.extend_from_slice(&body);
    forged.extend_from_slice(&frame_mac);
    let head = Head {
        frames: 1,
        records: 0,
        mac: frame_mac,
    };
    assert!(matches!(
        audit::read(&forged, &KEY, &head),
        Err(Tampering::Malformed { .. })
    ));
}

/// Two logs open on one home at once, as a `sandframe dev` and a `sandframe install` would
/// be: each with its own descriptor (its own `flock`), its own anchor object over the one
/// anchor file, its own cached head. Records from both, interleaved from threads, frames
/// filled and flushed at random moments, all land in one valid chain, in one sequence,
/// anchored, none lost.
#[test]
fn two_logs_open_on_one_home_append_to_one_chain_and_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    let anchor_path = t.path().join("anchor");
    let open = || {
        let anchor: Arc<dyn Anchor> = Arc::new(FileAnchor::open(&anchor_path).unwrap());
        AuditLog::open(&dir(&t), anchor).unwrap()
    };
    let (a, b) = (open(), open());
    std::thread::scope(|s| {
        for (n, log) in [&a, &b, &a, &b].into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..30 {
                    // Sometimes enough to fill a frame (64 KiB) without a flush.
                    write(log, if i % 7 == 0 { 700 } else { 5 }, &format!("t{n} {i}"));
                    if i % 3 == n % 3 {
                        log.flush().unwrap();
                    }
                }
            });
        }
    });
    // A third log opened meanwhile sees the chain so far and extends it.
    a.flush().unwrap();
    let c = open();
    write(&c, 3, "late");
    drop((a, b, c));
    let anchor = FileAnchor::open(&anchor_path).unwrap();
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    let v = audit::verify(&bytes, &anchor.key(), &anchor.head()).unwrap();
    assert_eq!(
        v.unanchored_frames, 0,
        "every frame was anchored at the last flush"
    );
    assert_eq!(v.torn_tail_bytes, 0);
    let per_thread = (0..30)
        .map(|i| if i % 7 == 0 { 700 } else { 5 })
        .sum::<u64>();
    assert_eq!(v.head.records, 4 * per_thread + 3);
    let records = audit::read(&bytes, &anchor.key(), &anchor.head()).unwrap();
    assert!(
        records.iter().enumerate().all(|(i, r)| r.seq == i as u64),
        "one sequence, no gap, no repeat"
    );
    for n in 0..4 {
        let mine = records
            .iter()
            .filter(|r| r.detail.starts_with(&format!("t{n} ")))
            .count() as u64;
        assert_eq!(mine, per_thread, "thread {n}'s records are all there");
    }
}

/// The root secret lives beside the anchor, in `<anchor>.secret` (0600): beside a fresh
/// anchor it is made with its migration done; it is stable across opens and flushes; each
/// purpose gets its own derived key; and starting a new log with a new anchor keeps it.
#[test]
fn the_home_secret_lives_beside_the_anchor_and_outlives_a_new_log() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("home.audit-anchor");
    let secret_path = t.path().join("home.audit-anchor.secret");
    let a = FileAnchor::open(&path).unwrap();
    let secret = a.home_secret().unwrap();
    assert_eq!(
        secret.migration,
        Migration::Done,
        "a fresh home has no old keys"
    );
    let stored = std::fs::read(&secret_path).unwrap();
    assert_eq!((&stored[..8], stored.len()), (&b"SFSECRT1"[..], 48));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&secret_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    a.advance(&Head {
        frames: 1,
        records: 1,
        mac: [3; 32],
    })
    .unwrap();
    assert_eq!(
        std::fs::read(&secret_path).unwrap(),
        stored,
        "a flush never writes it"
    );
    let purpose = |s: &HomeSecret, p: &str| *s.derive(p);
    let again = FileAnchor::open(&path).unwrap().home_secret().unwrap();
    assert_eq!(
        purpose(&again, "sandframe test a"),
        purpose(&secret, "sandframe test a")
    );
    assert_ne!(
        purpose(&again, "sandframe test a"),
        purpose(&again, "sandframe test b")
    );
    assert_ne!(purpose(&again, "sandframe test a"), a.key());

    // A new log: the anchor moved aside, a new one made; the secret, and so every key, stays.
    std::fs::rename(&path, t.path().join("evidence.anchor")).unwrap();
    let fresh = FileAnchor::open(&path).unwrap();
    assert_ne!(fresh.key(), a.key(), "a new log gets a new audit key");
    assert_eq!(
        purpose(&fresh.home_secret().unwrap(), "sandframe test a"),
        purpose(&secret, "sandframe test a")
    );

    // A secret file the format does not know is damaged, never replaced.
    let mut bytes = stored.clone();
    bytes[40] = 9;
    std::fs::write(&secret_path, &bytes).unwrap();
    assert!(matches!(fresh.home_secret(), Err(GatewayError::Damaged(_))));
}

/// An anchor that already vouches for frames but has no secret beside it belongs to a home
/// made before the secret existed: its secret is made with the migration pending (the host
/// moves the keys out of the home, then records it done).
#[test]
fn an_older_homes_anchor_gets_a_secret_with_its_migration_pending() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("home.audit-anchor");
    let a = FileAnchor::open(&path).unwrap();
    a.advance(&Head {
        frames: 2,
        records: 9,
        mac: [7; 32],
    })
    .unwrap();
    let b = FileAnchor::open(&path).unwrap();
    assert_eq!(b.home_secret().unwrap().migration, Migration::Pending);
    b.set_migration(Migration::Done).unwrap();
    assert_eq!(
        FileAnchor::open(&path)
            .unwrap()
            .home_secret()
            .unwrap()
            .migration,
        Migration::Done
    );
}

/// While another process holds the home lock past the log's wait, records gather in the open
/// frame, up to what a frame may hold (1 MiB), and past that are refused: the frame never
/// grows into one no reader accepts. Once the lock is free, a flush writes it, and the log
/// verifies with every record it took.
#[test]
fn a_frame_that_cannot_be_written_is_bounded_and_written_once_the_lock_is_free() {
    use std::time::Duration;
    let t = tempfile::tempdir().unwrap();
    let anchor: Arc<dyn Anchor> = Arc::new(MemoryAnchor::new(KEY));
    let lock = sandframe_durable::HomeLock::open(&dir(&t), "the test home")
        .unwrap()
        .with_wait(Duration::from_millis(20));
    let log = AuditLog::open_locked(&dir(&t), Arc::clone(&anchor), lock).unwrap();
    // "Another process": a descriptor of its own on the same directory.
    let other = sandframe_durable::HomeLock::open(&dir(&t), "the test home").unwrap();
    let held = other.hold().unwrap();
    let detail = "x".repeat(400);
    let (mut taken, mut refused) = (0u64, 0u64);
    for i in 0..6000u64 {
        match record(&log, i, &detail) {
            Ok(()) => taken += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0, "past 1 MiB, records are refused");
    assert!(taken > 2000, "until then they are kept: {taken}");
    assert!(
        log.flush().is_err(),
        "the flush cannot take the lock either"
    );
    drop(held);
    log.flush().unwrap();
    drop(log);
    let bytes = std::fs::read(t.path().join("audit.log")).unwrap();
    let v = audit::verify(&bytes, &KEY, &anchor.head()).unwrap();
    assert_eq!(v.head.records, taken);
    assert_eq!(v.unanchored_frames, 0);
}
