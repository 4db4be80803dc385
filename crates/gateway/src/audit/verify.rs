//! Reading a log back: [`verify`] and [`read`] walk its frames against the anchor's key and
//! head, and say exactly what is wrong ([`Tampering`]).

use super::MAX_FRAME_BYTES;
use super::anchor::Head;
use super::wire::{StoredRecord, frame_mac, take_record};

/// What [`verify`] found in a log that checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The head of every valid frame (anchored or not).
    pub head: Head,
    /// Valid frames past the anchored head (written, not yet anchored when the host stopped).
    pub unanchored_frames: u64,
    /// Bytes of a torn last frame (a crash mid-write), to be cut off.
    pub torn_tail_bytes: u64,
    /// Bytes of valid frames.
    pub valid_bytes: u64,
}

/// Why a log failed verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Tampering {
    /// A frame's MAC is wrong: it was edited, reordered, or chained with another key.
    #[error(
        "audit frame {frame} (at byte {offset}) fails its MAC: the log was edited, reordered or written with another key"
    )]
    BadFrame {
        /// The frame's index.
        frame: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// A frame declares an impossible length.
    #[error("audit frame {frame} (at byte {offset}) is malformed")]
    Malformed {
        /// The frame's index.
        frame: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// The log is shorter than its anchor says, or its anchored frame is not the one there.
    #[error(
        "the audit log was cut short or replaced: the anchor holds {anchored} frames, the log {found} valid ones"
    )]
    Truncated {
        /// Frames the anchor vouches for.
        anchored: u64,
        /// Valid frames found.
        found: u64,
    },
}

/// Verifies a whole log against `key` and the anchored `head`.
///
/// # Errors
/// The first [`Tampering`] found.
pub fn verify(log: &[u8], key: &[u8; 32], head: &Head) -> Result<Verified, Tampering> {
    walk(log, key, head, |_| Ok(()))
}

/// Verifies a log (as [`verify`]) and decodes its records, anchored and unanchored.
///
/// # Errors
/// The first [`Tampering`] found, or [`Tampering::Malformed`] for a frame whose MAC checks
/// out but whose records do not decode (a bug, never an attack).
pub fn read(log: &[u8], key: &[u8; 32], head: &Head) -> Result<Vec<StoredRecord>, Tampering> {
    let mut out = Vec::new();
    let mut frame = 0u64;
    walk(log, key, head, |body| {
        let bad = Tampering::Malformed { frame, offset: 0 };
        let first_seq = body
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or(bad.clone())?;
        let mut rest = body.get(8..).ok_or(bad.clone())?;
        let in_frame = out.len();
        let mut seq = first_seq;
        while !rest.is_empty() {
            let prev = out.get(in_frame..).and_then(<[StoredRecord]>::last);
            let (mut r, tail) = take_record(rest, prev).ok_or(bad.clone())?;
            r.seq = seq;
            seq += 1;
            out.push(r);
            rest = tail;
        }
        frame += 1;
        Ok(())
    })?;
    Ok(out)
}

fn walk(
    log: &[u8],
    key: &[u8; 32],
    head: &Head,
    each: impl FnMut(&[u8]) -> Result<(), Tampering>,
) -> Result<Verified, Tampering> {
    walk_from(log, &Head::default(), key, head, each)
}

/// Verifies `tail`, the bytes a log holds past the frames whose head is `start` (written by
/// another process since this one last looked), against `key` and the anchored `head`. The
/// returned head and counts are the whole log's; `valid_bytes` and `torn_tail_bytes` count
/// within `tail`.
///
/// # Errors
/// The first [`Tampering`] found.
pub(crate) fn continue_from(
    tail: &[u8],
    start: &Head,
    key: &[u8; 32],
    head: &Head,
) -> Result<Verified, Tampering> {
    walk_from(tail, start, key, head, |_| Ok(()))
}

fn walk_from(
    log: &[u8],
    start: &Head,
    key: &[u8; 32],
    head: &Head,
    mut each: impl FnMut(&[u8]) -> Result<(), Tampering>,
) -> Result<Verified, Tampering> {
    let mut at = 0usize;
    let mut found = *start;
    if head.frames == start.frames && head.mac != start.mac {
        return Err(Tampering::Truncated {
            anchored: head.frames,
            found: start.frames,
        });
    }
    // An anchored frame before `start` was checked when `start` was reached.
    let mut anchored_seen = head.frames <= start.frames;
    let mut torn = 0u64;
    while at < log.len() {
        let offset = at as u64;
        let malformed = Tampering::Malformed {
            frame: found.frames,
            offset,
        };
        let Some(len) = log
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
        else {
            torn = (log.len() - at) as u64;
            break;
        };
        let past_anchor = found.frames >= head.frames;
        if !(8..=MAX_FRAME_BYTES).contains(&len) {
            if past_anchor {
                // Unanchored bytes that do not parse: crash debris (e.g. a zero-filled tail).
                torn = (log.len() - at) as u64;
                break;
            }
            return Err(malformed);
        }
        let end = at + 4 + len as usize + 32;
        let (Some(body), Some(mac)) = (
            log.get(at + 4..at + 4 + len as usize),
            log.get(end - 32..end),
        ) else {
            torn = (log.len() - at) as u64;
            break;
        };
        let expected = frame_mac(key, &found.mac, found.frames, body);
        // Constant-time comparison.
        if blake3::Hash::from(expected) != blake3::Hash::from_slice(mac).map_err(|_| malformed)? {
            if past_anchor {
                // Past the anchor nothing is vouched for: a frame that does not check out
                // there is treated like a torn write and cut off, never trusted.
                torn = (log.len() - at) as u64;
                break;
            }
            return Err(Tampering::BadFrame {
                frame: found.frames,
                offset,
            });
        }

        each(body)?;
        let first_seq = body
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or_default();
        if first_seq != found.records {
            // MAC'd, so ours: records were lost between frames only if a write failed midway.
            return Err(Tampering::Malformed {
                frame: found.frames,
                offset,
            });
        }
        found.frames += 1;
        found.records = first_seq + count_records(body);
        found.mac = expected;
        if found.frames == head.frames {
            if found.mac != head.mac {
                return Err(Tampering::Truncated {
                    anchored: head.frames,
                    found: found.frames,
                });
            }
            anchored_seen = true;
        }
        at = end;
    }
    if !anchored_seen || found.frames < head.frames {
        return Err(Tampering::Truncated {
            anchored: head.frames,
            found: found.frames,
        });
    }
    Ok(Verified {
        head: found,
        unanchored_frames: found.frames - head.frames,
        torn_tail_bytes: torn,
        valid_bytes: at as u64,
    })
}

/// Records in a MAC-checked body (counted by decoding; 0 if they do not decode).
fn count_records(body: &[u8]) -> u64 {
    let mut rest = body.get(8..).unwrap_or_default();
    let mut n = 0;
    let mut prev = None;
    while !rest.is_empty() {
        match take_record(rest, prev.as_ref()) {
            Some((r, tail)) => {
                rest = tail;
                prev = Some(r);
                n += 1;
            }
            None => break,
        }
    }
    n
}
