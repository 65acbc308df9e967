//! The events of a session not yet acknowledged by Redis: a bounded queue,
//! in order, kept across outages.  The oldest events not in flight are
//! dropped (and counted) when it is full.

use super::resp;
use std::collections::VecDeque;
use std::ops::Range;

/// One event, kept as the `RPUSH key payload` command that delivers it.
#[derive(Debug)]
pub struct Event {
    command: Vec<u8>,
    key: Range<usize>,
    payload: Range<usize>,
    /// An event read from a spool file: where its record ends there (what
    /// the spool takes as the acknowledgement, [`crate::redis::spool`]).
    origin: Option<u64>,
}

impl Event {
    /// The event for `key` and its JSON `payload`.
    pub fn new(key: &[u8], payload: &[u8]) -> Event {
        Event::in_buffer(Vec::new(), key, payload)
    }

    /// The same, written into `buf` (a buffer of an earlier event, see
    /// [`super::Sink::recycle`]: no allocation in the steady state).
    pub fn in_buffer(mut buf: Vec<u8>, key: &[u8], payload: &[u8]) -> Event {
        buf.clear();
        let (key, payload) = resp::write_rpush(&mut buf, key, payload);
        Event {
            command: buf,
            key,
            payload,
            origin: None,
        }
    }

    /// An event read from a spool file, whose record ends at `end` there.
    pub fn spooled(buf: Vec<u8>, key: &[u8], payload: &[u8], end: u64) -> Event {
        Event {
            origin: Some(end),
            ..Event::in_buffer(buf, key, payload)
        }
    }

    /// Where the event's record ends in its spool file, for one read from
    /// a spool.
    pub fn origin(&self) -> Option<u64> {
        self.origin
    }

    pub fn key(&self) -> &[u8] {
        &self.command[self.key.clone()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.command[self.payload.clone()]
    }

    /// The RESP command.
    pub fn command(&self) -> &[u8] {
        &self.command
    }

    fn into_buffer(self) -> Vec<u8> {
        self.command
    }
}

/// Buffers of delivered events kept for new ones.
const SPARE_MAX: usize = 16;

pub struct Backlog {
    events: VecDeque<Event>,
    /// The first `inflight` events were sent; replies not read yet.
    inflight: usize,
    /// Events dropped since the last [`Backlog::take_dropped`].
    dropped: u64,
    max: usize,
    /// Buffers of answered events, for new ones.
    spare: Vec<Vec<u8>>,
}

impl Backlog {
    pub fn new(max: usize) -> Backlog {
        Backlog {
            events: VecDeque::new(),
            inflight: 0,
            dropped: 0,
            max,
            spare: Vec::new(),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Queue `ev`; when full, the oldest event that is not in flight goes.
    pub fn push(&mut self, ev: Event) {
        if self.events.len() >= self.max && self.events.len() > self.inflight {
            self.events.remove(self.inflight);
            self.dropped += 1;
        }
        self.events.push_back(ev);
    }

    /// Whether the next [`Backlog::push`] would drop an event.
    pub fn is_full(&self) -> bool {
        self.events.len() >= self.max
    }

    /// Take the events not in flight off the queue (oldest first).
    pub fn take_idle(&mut self) -> Vec<Event> {
        self.events.drain(self.inflight..).collect()
    }

    /// Take the oldest event not in flight off the queue.
    pub fn take_oldest_idle(&mut self) -> Option<Event> {
        self.events.remove(self.inflight)
    }

    /// Forget the events read from spool files (not in flight: their
    /// records stay in their files, to be read again).
    pub fn forget_spooled(&mut self) {
        let inflight = self.inflight;
        let mut i = 0;
        self.events.retain(|e| {
            i += 1;
            i <= inflight || e.origin.is_none()
        });
    }

    /// Keep the buffer of an event that left the queue, for a new one.
    pub fn spare(&mut self, ev: Event) {
        if self.spare.len() < SPARE_MAX {
            self.spare.push(ev.into_buffer());
        }
    }

    /// How many events were dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// The first `n` events (none in flight) and mark them in flight.
    pub fn send_front(&mut self, n: usize) -> impl Iterator<Item = &Event> {
        self.inflight = n;
        self.events.iter().take(n)
    }

    /// The oldest event in flight was answered: it leaves the queue, and
    /// `f` sees it before its buffer is kept for a new event.
    pub fn answered<R>(&mut self, f: impl FnOnce(&Event) -> R) -> Option<R> {
        self.inflight = self.inflight.saturating_sub(1);
        let ev = self.events.pop_front()?;
        let r = f(&ev);
        self.spare(ev);
        Some(r)
    }

    /// The events in flight were not answered (the connection is lost):
    /// they stay queued, to be sent again.
    pub fn unanswered(&mut self) {
        self.inflight = 0;
    }

    /// Move the buffers of answered events to `into` (up to its
    /// [`SPARE_MAX`]).
    pub fn recycle(&mut self, into: &mut Vec<Vec<u8>>) {
        while into.len() < SPARE_MAX {
            match self.spare.pop() {
                Some(b) => into.push(b),
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub fn payloads(&self) -> Vec<&str> {
        self.events
            .iter()
            .map(|e| std::str::from_utf8(e.payload()).unwrap())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_is_its_rpush_command() {
        let ev = Event::new(b"k:\xc3\xa9", b"{\"a\":1}");
        assert_eq!(
            ev.command(),
            b"*3\r\n$5\r\nRPUSH\r\n$4\r\nk:\xc3\xa9\r\n$7\r\n{\"a\":1}\r\n"
        );
        assert_eq!(ev.key(), b"k:\xc3\xa9");
        assert_eq!(ev.payload(), b"{\"a\":1}");
        // A reused buffer holds only the new event.
        let again = Event::in_buffer(ev.into_buffer(), b"x", b"");
        assert_eq!(
            again.command(),
            b"*3\r\n$5\r\nRPUSH\r\n$1\r\nx\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn idle_and_spooled_events() {
        let mut b = Backlog::new(4);
        b.push(Event::new(b"k", b"0"));
        b.push(Event::spooled(Vec::new(), b"k", b"s1", 40));
        b.push(Event::new(b"k", b"2"));
        let _ = b.send_front(1).count();
        assert!(!b.is_full());
        b.push(Event::spooled(Vec::new(), b"k", b"s3", 80));
        assert!(b.is_full());
        b.forget_spooled();
        assert_eq!(b.payloads(), ["0", "2"]);
        assert_eq!(
            b.take_oldest_idle().map(|e| e.payload().to_vec()),
            Some(b"2".to_vec())
        );
        b.push(Event::new(b"k", b"4"));
        let idle: Vec<_> = b.take_idle().iter().map(|e| e.payload().to_vec()).collect();
        assert_eq!(idle, [b"4".to_vec()]);
        assert_eq!(b.payloads(), ["0"], "in flight stays");
        assert_eq!(b.answered(|e| e.origin()), Some(None));
    }

    #[test]
    fn answered_buffers_are_recycled_in_bounds() {
        let mut b = Backlog::new(100);
        for i in 0..40 {
            b.push(Event::new(b"k", format!("{i}").as_bytes()));
        }
        let _ = b.send_front(40).count();
        for i in 0..40 {
            let p = b.answered(|e| e.payload().to_vec());
            assert_eq!(p, Some(format!("{i}").into_bytes()));
        }
        assert_eq!(b.answered(|_| ()), None);
        let mut into = Vec::new();
        b.recycle(&mut into);
        assert_eq!(into.len(), SPARE_MAX);
        assert!(into.iter().all(|v| v.capacity() > 0));
    }
}
