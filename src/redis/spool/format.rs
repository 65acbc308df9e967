//! The spool file format (pure): a header, then records, each framed so
//! that a reader can tell a whole record from a torn or damaged one.
//!
//! ```text
//! header  (32 bytes)  "PRSPOOL" 0x01 | destination u64 | created u64 | acked u64
//! record  (12 + n)    "\x1eRSp" | n u32 | crc32c u32 | body (n bytes)
//! body                key length u32 | key | payload (the JSON object)
//! ```
//!
//! All integers are little-endian.  `destination` names the Redis the
//! events are for (a hash of its address, db and Sentinel master, never
//! of a credential); `created` is the writer's start (seconds since the
//! epoch); `acked` is how far (a byte offset) a drainer has had Redis
//! acknowledge the records, so that a drain that dies resends at most what
//! was in flight.  The CRC covers the length and the body, so a damaged
//! length is caught too.  A record is written with one `write(2)`; a writer
//! killed in the middle leaves a torn tail, which readers detect and skip.
//! Damage in the middle of a file (a bad length, a bad checksum) is skipped
//! up to the next record whose marker, length and checksum agree.

use std::ops::Range;

pub const MAGIC: [u8; 8] = *b"PRSPOOL\x01";
pub const HEADER_LEN: u64 = 32;
const ACKED_AT: u64 = 24;
pub const RECORD_MAGIC: [u8; 4] = *b"\x1eRSp";
const RECORD_HEAD: usize = 12;
/// Larger bodies are damage, not events (an event is a few KB).
pub const BODY_MAX: usize = 16 << 20;

/// A spool file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub destination: u64,
    pub created: u64,
    pub acked: u64,
}

impl Header {
    pub fn new(destination: u64, created: u64) -> Header {
        Header {
            destination,
            created,
            acked: HEADER_LEN,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut h = [0u8; HEADER_LEN as usize];
        h[..8].copy_from_slice(&MAGIC);
        h[8..16].copy_from_slice(&self.destination.to_le_bytes());
        h[16..24].copy_from_slice(&self.created.to_le_bytes());
        h[24..32].copy_from_slice(&self.acked.to_le_bytes());
        h
    }

    /// `None` unless `bytes` starts with a whole header of this version.
    pub fn decode(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < HEADER_LEN as usize || bytes[..8] != MAGIC {
            return None;
        }
        let u = |r: Range<usize>| u64::from_le_bytes(bytes[r].try_into().unwrap());
        Some(Header {
            destination: u(8..16),
            created: u(16..24),
            acked: u(24..32).max(HEADER_LEN),
        })
    }

    /// Where the `acked` field lives in the file, and its bytes for `acked`.
    pub fn acked_field(acked: u64) -> (u64, [u8; 8]) {
        (ACKED_AT, acked.to_le_bytes())
    }
}

/// Append the record of one event (`key`, JSON `payload`) to `out`.
pub fn encode_record(out: &mut Vec<u8>, key: &[u8], payload: &[u8]) {
    let n = 4 + key.len() + payload.len();
    let start = out.len();
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
    let crc = crc32c(crc32c(0, &out[start + 4..start + 8]), &out[start + 12..]);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// The encoded size of a record.
pub fn record_len(key: &[u8], payload: &[u8]) -> usize {
    RECORD_HEAD + 4 + key.len() + payload.len()
}

/// What [`next`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A whole record: its key and payload, and its length in the buffer.
    Record {
        key: &'a [u8],
        payload: &'a [u8],
        len: usize,
    },
    /// `n` bytes that are not a record (damage), up to the next candidate
    /// record marker or the end of the buffer.
    Damaged(usize),
    /// The buffer ends inside what may be a record: read more; at the end
    /// of the file, this is a torn tail.
    Incomplete,
}

/// The first item of `buf` (empty: [`Item::Incomplete`]).
pub fn next(buf: &[u8]) -> Item<'_> {
    if buf.len() < RECORD_HEAD {
        return if buf.is_empty() || RECORD_MAGIC.starts_with(&buf[..buf.len().min(4)]) {
            Item::Incomplete
        } else {
            Item::Damaged(skip_to_marker(buf))
        };
    }
    if buf[..4] != RECORD_MAGIC {
        return Item::Damaged(skip_to_marker(buf));
    }
    let n = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
    if !(4..=BODY_MAX).contains(&n) {
        return Item::Damaged(skip_to_marker(buf));
    }
    let Some(body) = buf.get(RECORD_HEAD..RECORD_HEAD + n) else {
        return Item::Incomplete;
    };
    let crc = u32::from_le_bytes(buf[8..12].try_into().unwrap());
    if crc32c(crc32c(0, &buf[4..8]), body) != crc {
        return Item::Damaged(skip_to_marker(buf));
    }
    let klen = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    if klen > n - 4 {
        return Item::Damaged(skip_to_marker(buf));
    }
    Item::Record {
        key: &body[4..4 + klen],
        payload: &body[4 + klen..],
        len: RECORD_HEAD + n,
    }
}

/// How many bytes to skip: up to the next record marker after the first
/// byte (or a prefix of one at the very end), else all of `buf`.
fn skip_to_marker(buf: &[u8]) -> usize {
    (1..buf.len())
        .find(|&i| {
            let rest = &buf[i..];
            rest.starts_with(&RECORD_MAGIC) || RECORD_MAGIC.starts_with(rest)
        })
        .unwrap_or(buf.len())
}

/// Where the next whole record marker after the first byte starts (the
/// length of `buf` if none does).
pub fn next_whole_marker(buf: &[u8]) -> usize {
    (1..buf.len())
        .find(|&i| buf[i..].starts_with(&RECORD_MAGIC))
        .unwrap_or(buf.len())
}

/// A whole file's worth of items, as a reader of the file sees them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub records: u64,
    /// Bytes of damage skipped (not counting a torn tail).
    pub damaged: u64,
    /// Bytes of a torn last record (a writer killed mid-write).
    pub torn: u64,
}

/// Walk `buf` (records from a file's start after the header) calling
/// `each(key, payload, end)` for each whole record (`end`: its end, as an
/// offset from `base`).
pub fn scan(buf: &[u8], base: u64, mut each: impl FnMut(&[u8], &[u8], u64)) -> Scan {
    let mut s = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        match next(&buf[at..]) {
            Item::Record { key, payload, len } => {
                at += len;
                s.records += 1;
                each(key, payload, base + at as u64);
            }
            Item::Damaged(n) => {
                at += n;
                s.damaged += n as u64;
            }
            Item::Incomplete => {
                // Is it a torn tail, or damage followed by records?
                let n = next_whole_marker(&buf[at..]);
                if at + n >= buf.len() {
                    s.torn = (buf.len() - at) as u64;
                    break;
                }
                at += n;
                s.damaged += n as u64;
            }
        }
    }
    s
}

/// CRC-32C (Castagnoli), continuing from `crc` (0 to start).
pub fn crc32c(crc: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !crc;
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(events: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, p) in events {
            encode_record(&mut out, k, p);
        }
        out
    }

    /// A record as the tests see it: key, payload, end offset.
    type Got = (Vec<u8>, Vec<u8>, u64);

    fn all(buf: &[u8]) -> (Vec<Got>, Scan) {
        let mut got = Vec::new();
        let s = scan(buf, 0, |k, p, end| got.push((k.to_vec(), p.to_vec(), end)));
        (got, s)
    }

    #[test]
    fn crc32c_known_value() {
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(crc32c(0, b"1234"), b"56789"), 0xE306_9283);
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            destination: 0x0123_4567_89ab_cdef,
            created: 1_765_000_000,
            acked: 4096,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(Header::decode(&h.encode()[..31]), None);
        let mut bad = h.encode();
        bad[7] = 2;
        assert_eq!(Header::decode(&bad), None);
        let (at, bytes) = Header::acked_field(77);
        let mut e = h.encode();
        e[at as usize..at as usize + 8].copy_from_slice(&bytes);
        assert_eq!(Header::decode(&e).unwrap().acked, HEADER_LEN.max(77));
    }

    #[test]
    fn records_round_trip_with_offsets() {
        let buf = records(&[(b"k1", b"{\"a\":1}"), (b"", b""), (b"key:\xff", b"{}")]);
        let (got, s) = all(&buf);
        assert_eq!(
            s,
            Scan {
                records: 3,
                damaged: 0,
                torn: 0
            }
        );
        assert_eq!(got[0].0, b"k1");
        assert_eq!(got[0].1, b"{\"a\":1}");
        assert_eq!(got[1].0, b"");
        assert_eq!(got[2].0, b"key:\xff");
        assert_eq!(got[2].2, buf.len() as u64);
        assert_eq!(
            got[0].2 as usize,
            record_len(b"k1", b"{\"a\":1}"),
            "end offsets"
        );
    }

    /// A writer killed mid-write: every cut of the last record is a torn
    /// tail, the records before it all arrive, nothing half.
    #[test]
    fn torn_tail_at_every_cut() {
        let buf = records(&[(b"k", b"one"), (b"k", b"two"), (b"k", b"three")]);
        let last = record_len(b"k", b"three");
        for cut in 1..last {
            let (got, s) = all(&buf[..buf.len() - cut]);
            assert_eq!(got.len(), 2, "cut {cut}");
            assert_eq!(s.torn, (last - cut) as u64, "cut {cut}");
            assert_eq!(s.damaged, 0, "cut {cut}");
        }
    }

    /// Any one byte flipped: the damaged record is skipped, every other
    /// one arrives, no wrong payload ever comes out.
    #[test]
    fn a_flipped_byte_loses_one_record_at_most() {
        let events: Vec<(Vec<u8>, Vec<u8>)> = (0..5)
            .map(|i| (b"key".to_vec(), format!("{{\"n\":{i}}}").into_bytes()))
            .collect();
        let refs: Vec<(&[u8], &[u8])> = events
            .iter()
            .map(|(k, p)| (k.as_slice(), p.as_slice()))
            .collect();
        let buf = records(&refs);
        for i in 0..buf.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = buf.clone();
                b[i] ^= bit;
                let (got, s) = all(&b);
                assert!(got.len() >= 4, "byte {i}: {}", got.len());
                for (k, p, _) in &got {
                    assert!(refs.contains(&(k.as_slice(), p.as_slice())), "byte {i}");
                }
                assert!(s.damaged + s.torn > 0, "byte {i}");
            }
        }
    }

    #[test]
    fn garbage_between_records_is_skipped() {
        let mut buf = records(&[(b"a", b"1")]);
        buf.extend_from_slice(b"\x1eRS garbage \x1eR");
        buf.extend_from_slice(&records(&[(b"b", b"2")]));
        let (got, s) = all(&buf);
        assert_eq!(got.len(), 2);
        assert_eq!(s.damaged, 14);
        assert_eq!(s.torn, 0);
    }

    #[test]
    fn a_huge_length_is_damage_not_an_allocation() {
        let mut buf = RECORD_MAGIC.to_vec();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&records(&[(b"b", b"2")]));
        let (got, s) = all(&buf);
        assert_eq!(got.len(), 1);
        assert_eq!(s.damaged, 16);
    }
}

/// Property tests (see docs/fuzzing.md): arbitrary bytes never panic or
/// yield a record that was not written; written records survive cuts.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::config;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn arbitrary_bytes_are_safe(buf in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut total = 0;
            let s = scan(&buf, 0, |k, p, end| {
                total += 1;
                assert!(k.len() + p.len() < buf.len());
                assert!(end as usize <= buf.len());
            });
            prop_assert_eq!(s.records, total);
            prop_assert!(s.damaged + s.torn <= buf.len() as u64);
        }

        #[test]
        fn written_records_come_back(
            events in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..200)),
                0..12),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for (k, p) in &events {
                encode_record(&mut buf, k, p);
                ends.push(buf.len());
            }
            let mut got = Vec::new();
            let s = scan(&buf, 0, |k, p, _| got.push((k.to_vec(), p.to_vec())));
            prop_assert_eq!(&got, &events);
            prop_assert_eq!(s, Scan { records: events.len() as u64, damaged: 0, torn: 0 });
            // Cut anywhere: the whole records before the cut, then a torn tail.
            let at = cut.index(buf.len() + 1);
            let whole = ends.iter().filter(|&&e| e <= at).count();
            let mut got = Vec::new();
            let s = scan(&buf[..at], 0, |k, p, _| got.push((k.to_vec(), p.to_vec())));
            prop_assert_eq!(&got[..], &events[..whole]);
            prop_assert_eq!(s.damaged, 0);
            let whole_end = if whole == 0 { 0 } else { ends[whole - 1] };
            prop_assert_eq!(s.torn, (at - whole_end) as u64);
        }
    }
}
