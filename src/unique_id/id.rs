//! The ID itself, as a pure function.
//!
//! Like the C module, an ID is 18 bytes written as 24 characters of the
//! alphabet `A-Z a-z 0-9 + /`.  The C module fills those bytes with time,
//! host IPv4, client IPv4, PID and microseconds/10, which repeats across
//! hosts whose name resolves to the same address and across containers with
//! equal PIDs.  Ours: 4 bytes of seconds and 3 bytes of microseconds
//! (big-endian, so the first 7 bytes — the first 9 characters, the ninth
//! shared with the random part — order IDs by time), then 11 random bytes
//! read from the kernel in each session process.

/// The C module's base64 alphabet.
pub const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Bytes of an ID.
pub const RAW_LEN: usize = 18;
/// Random bytes in an ID.
pub const RANDOM_LEN: usize = 11;
/// Characters of an encoded ID.
pub const ID_LEN: usize = 24;

/// Encode an ID from the time of day and 11 random bytes.
pub fn encode_id(secs: u64, micros: u32, random: &[u8; RANDOM_LEN]) -> String {
    let mut raw = [0u8; RAW_LEN];
    raw[..4].copy_from_slice(&(secs as u32).to_be_bytes());
    raw[4..7].copy_from_slice(&(micros.min(999_999)).to_be_bytes()[1..]);
    raw[7..].copy_from_slice(random);
    let mut out = String::with_capacity(ID_LEN);
    for chunk in raw.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn decode(id: &str) -> Vec<u8> {
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in id.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    #[test]
    fn shape() {
        let id = encode_id(1_700_000_000, 123_456, &[7; RANDOM_LEN]);
        assert_eq!(id.len(), ID_LEN);
        assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        assert!(!id.contains(char::is_whitespace));
    }

    #[test]
    fn round_trip_layout() {
        let r = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let raw = decode(&encode_id(0x0102_0304, 0x0a_0b0c, &r));
        assert_eq!(&raw[..4], &[1, 2, 3, 4]);
        assert_eq!(&raw[4..7], &[0x0a, 0x0b, 0x0c]);
        assert_eq!(&raw[7..], &r);
    }

    #[test]
    fn equal_time_and_host_still_distinct() {
        // Same second, same microsecond (and, in the session, the same host,
        // client and PID): only the kernel's randomness differs.
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let mut r = [0u8; RANDOM_LEN];
            crate::host::sys::random_bytes(&mut r).unwrap();
            assert!(seen.insert(encode_id(1_700_000_000, 5, &r)));
        }
    }

    #[test]
    fn prefix_orders_by_time() {
        let r = [0xff; RANDOM_LEN];
        let r0 = [0; RANDOM_LEN];
        let mut last = decode(&encode_id(1_700_000_000, 0, &r));
        for (s, us) in [
            (1_700_000_000, 1),
            (1_700_000_000, 999_999),
            (1_700_000_001, 0),
        ] {
            let cur = decode(&encode_id(s, us, &r0));
            assert!(cur[..7] > last[..7]);
            last = cur;
        }
    }
}
