//! The ring of captured log messages: the last `capacity` messages, oldest
//! overwritten first.
//!
//! Capturing happens for every log message the core formats (with
//! `Trace DEFAULT:0` that is dozens per FTP command), so it must be cheap: a
//! slot keeps its byte buffer when overwritten, so after the ring has filled
//! once, capturing a message is one copy and no allocation.  Slots are
//! created on first use, so a large `ForensicLogBufferSize` costs memory only
//! as messages arrive.

/// One captured message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    /// The `PR_LOG_TYPE_*` code.
    pub log_type: u32,
    pub level: i32,
    pub bytes: Vec<u8>,
}

/// A slot's buffer larger than this is not kept for reuse when the slot is
/// overwritten by a smaller message (bounds the memory a few huge messages
/// can pin).
const KEEP_CAPACITY: usize = 4096;

#[derive(Debug)]
pub struct Ring {
    capacity: usize,
    slots: Vec<Msg>,
    /// Where the next message goes (once `slots` is full).
    next: usize,
    /// Messages held (<= capacity).
    len: usize,
}

impl Ring {
    /// A ring holding at most `capacity` (>= 1) messages.
    pub fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring {
            capacity,
            // Room for a session's first messages (a login raises a few
            // dozen) without regrowing; more slots as they arrive.
            slots: Vec::with_capacity(capacity.min(64)),
            next: 0,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add a message, overwriting the oldest when full.
    pub fn push(&mut self, log_type: u32, level: i32, bytes: &[u8]) {
        if self.slots.len() < self.capacity && self.next == self.slots.len() {
            self.slots.push(Msg {
                log_type,
                level,
                bytes: bytes.to_vec(),
            });
        } else {
            let slot = &mut self.slots[self.next];
            slot.log_type = log_type;
            slot.level = level;
            if slot.bytes.capacity() > KEEP_CAPACITY && bytes.len() <= KEEP_CAPACITY {
                slot.bytes = bytes.to_vec();
            } else {
                slot.bytes.clear();
                slot.bytes.extend_from_slice(bytes);
            }
        }
        self.next += 1;
        if self.next == self.capacity {
            self.next = 0;
        }
        if self.len < self.capacity {
            self.len += 1;
        }
    }

    /// The held messages, oldest first (the newest last).
    pub fn iter(&self) -> impl Iterator<Item = &Msg> {
        // The oldest message sits where the next one will go when the ring
        // is full, else at slot 0.
        let start = if self.len == self.capacity {
            self.next
        } else {
            (self.next + self.capacity - self.len) % self.capacity
        };
        (0..self.len).map(move |i| &self.slots[(start + i) % self.capacity])
    }

    /// Forget all messages (the buffers are kept for reuse).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(r: &Ring) -> Vec<String> {
        r.iter()
            .map(|m| String::from_utf8(m.bytes.clone()).unwrap())
            .collect()
    }

    #[test]
    fn empty_ring() {
        let r = Ring::new(3);
        assert!(r.is_empty());
        assert_eq!(r.iter().count(), 0);
    }

    #[test]
    fn partial_fill_keeps_order() {
        let mut r = Ring::new(4);
        r.push(3, 5, b"a");
        r.push(5, 9, b"b");
        assert_eq!(texts(&r), ["a", "b"]);
        let m: Vec<_> = r.iter().map(|m| (m.log_type, m.level)).collect();
        assert_eq!(m, [(3, 5), (5, 9)]);
    }

    #[test]
    fn wrap_around_keeps_last_n_oldest_first() {
        let mut r = Ring::new(3);
        for s in ["1", "2", "3", "4", "5"] {
            r.push(0, 0, s.as_bytes());
        }
        assert_eq!(r.len(), 3);
        assert_eq!(texts(&r), ["3", "4", "5"]);
        // Exactly one full turn more.
        for s in ["6", "7", "8"] {
            r.push(0, 0, s.as_bytes());
        }
        assert_eq!(texts(&r), ["6", "7", "8"]);
    }

    #[test]
    fn capacity_one() {
        let mut r = Ring::new(1);
        r.push(0, 0, b"x");
        r.push(0, 0, b"y");
        assert_eq!(texts(&r), ["y"]);
        assert_eq!(Ring::new(0).capacity(), 1);
    }

    #[test]
    fn clear_then_refill_after_wrap() {
        let mut r = Ring::new(3);
        for s in ["1", "2", "3", "4"] {
            r.push(0, 0, s.as_bytes());
        }
        r.clear();
        assert!(r.is_empty());
        r.push(0, 0, b"5");
        r.push(0, 0, b"6");
        assert_eq!(texts(&r), ["5", "6"]);
        for s in ["7", "8", "9"] {
            r.push(0, 0, s.as_bytes());
        }
        assert_eq!(texts(&r), ["7", "8", "9"]);
    }

    #[test]
    fn clear_before_full_then_wrap() {
        let mut r = Ring::new(4);
        r.push(0, 0, b"1");
        r.clear();
        for s in ["2", "3", "4", "5", "6"] {
            r.push(0, 0, s.as_bytes());
        }
        assert_eq!(texts(&r), ["3", "4", "5", "6"]);
    }

    #[test]
    fn overwritten_slot_reuses_its_buffer() {
        let mut r = Ring::new(2);
        r.push(0, 0, &[b'a'; 100]);
        r.push(0, 0, b"b");
        let cap_before = r.slots[0].bytes.capacity();
        r.push(0, 0, b"c");
        assert_eq!(r.slots[0].bytes, b"c");
        assert_eq!(r.slots[0].bytes.capacity(), cap_before);
        // A huge buffer is not pinned by a small message.
        r.push(0, 0, &[b'z'; 10_000]);
        r.push(0, 0, b"d");
        r.push(0, 0, b"e");
        assert!(r.slots.iter().all(|m| m.bytes.capacity() <= KEEP_CAPACITY));
        assert_eq!(texts(&r), ["d", "e"]);
    }
}

/// Property tests (see docs/fuzzing.md): the ring against a plain model,
/// for any capacity and any sequence of pushes and clears.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::config;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32, i32, Vec<u8>),
        Clear,
    }

    /// Message bytes: mostly short, some around and above `KEEP_CAPACITY`.
    pub(crate) fn message() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::collection::vec(any::<u8>(), 0..64),
            1 => (KEEP_CAPACITY - 2..KEEP_CAPACITY + 2).prop_map(|n| vec![b'k'; n]),
            1 => (0..3 * KEEP_CAPACITY).prop_map(|n| vec![0u8; n]),
        ]
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                20 => (any::<u32>(), any::<i32>(), message()).prop_map(|(t, l, b)| Op::Push(t, l, b)),
                1 => Just(Op::Clear),
            ],
            0..80,
        )
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn ring_keeps_the_last_n_in_order(
            capacity in prop_oneof![0usize..6, 0usize..40, Just(1024)],
            ops in ops(),
        ) {
            let mut ring = Ring::new(capacity);
            let cap = capacity.max(1);
            prop_assert_eq!(ring.capacity(), cap);
            let mut model: VecDeque<Msg> = VecDeque::new();
            let mut pushes = 0;
            for op in ops {
                match op {
                    Op::Push(log_type, level, bytes) => {
                        ring.push(log_type, level, &bytes);
                        pushes += 1;
                        if model.len() == cap {
                            model.pop_front();
                        }
                        model.push_back(Msg { log_type, level, bytes });
                    }
                    Op::Clear => {
                        ring.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.is_empty(), model.is_empty());
                prop_assert!(ring.iter().eq(model.iter()));
                // Slots are made on first use, never more than capacity.
                prop_assert!(ring.slots.len() <= cap.min(pushes));
                // A slot keeps a large buffer only while it holds a large
                // message (growth may double a small one's).
                for s in &ring.slots {
                    let (cap, len) = (s.bytes.capacity(), s.bytes.len());
                    prop_assert!(len > KEEP_CAPACITY || cap <= 2 * KEEP_CAPACITY, "{len} in {cap}");
                }
            }
        }
    }
}
