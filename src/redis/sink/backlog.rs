//! The events of a session not yet acknowledged by Redis: a bounded queue,
//! in order, kept across outages.  The oldest events not in flight are
//! dropped (and counted) when it is full.

use std::collections::VecDeque;

/// One event: the Redis key and the JSON payload.
pub type Event = (String, String);

pub struct Backlog {
    events: VecDeque<Event>,
    /// The first `inflight` events were sent; replies not read yet.
    inflight: usize,
    /// Events dropped since the last [`Backlog::take_dropped`].
    dropped: u64,
    max: usize,
}

impl Backlog {
    pub fn new(max: usize) -> Backlog {
        Backlog {
            events: VecDeque::new(),
            inflight: 0,
            dropped: 0,
            max,
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

    /// The oldest event in flight was answered: it leaves the queue.
    pub fn answered(&mut self) -> Option<Event> {
        self.inflight = self.inflight.saturating_sub(1);
        self.events.pop_front()
    }

    /// The events in flight were not answered (the connection is lost):
    /// they stay queued, to be sent again.
    pub fn unanswered(&mut self) {
        self.inflight = 0;
    }

    #[cfg(test)]
    pub fn payloads(&self) -> Vec<&str> {
        self.events.iter().map(|(_, v)| v.as_str()).collect()
    }
}
