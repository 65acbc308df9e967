//! The sink's side of RedisLogSpool ([`crate::redis::spool`]): while Redis
//! is unreachable, events go to the session's spool file instead of
//! waiting in memory (so that neither the end of the session nor a SIGKILL
//! loses them), and once Redis answers, spooled events of earlier sessions
//! are sent a batch at a time behind the session's own.
//!
//! When the spool cannot be written (a full disk, an I/O error), the sink
//! keeps events in memory as it does without a spool, and says so once.

use super::{Backlog, CHUNK, Event, Sink, crosses_power_of_ten};
use crate::redis::spool::{Appended, Spool};
use std::time::{Duration, Instant};

/// Bytes of spooled events added to one pipeline.
const DRAIN_BYTES: usize = 1 << 20;

/// The session's spool and what RedisLog was told of it.
pub(super) struct Spooling {
    pub(super) spool: Spool,
    /// Whether this outage's "kept in the spool" line was written.
    said_outage: bool,
    /// Events dropped because the spool was full, as last reported.
    reported_drops: u64,
    /// The drained count when the session started draining a file.
    reported_drained: u64,
}

impl Spooling {
    pub(super) fn new(spool: Spool) -> Spooling {
        Spooling {
            spool,
            said_outage: false,
            reported_drops: 0,
            reported_drained: 0,
        }
    }
}

impl Sink {
    /// Give the sink the session's spool.
    pub fn set_spool(&mut self, spool: Spool) {
        self.spool = Some(Spooling::new(spool));
    }

    /// Take the spool back (at the end of the session or on `HOST`, to
    /// remove the drained files with the privileges that needs).
    pub fn take_spool(&mut self) -> Option<Spool> {
        self.spool.take().map(|s| s.spool)
    }

    /// Whether events go to the spool now: it can be written, and Redis is
    /// unreachable (no connection, waiting for the next attempt).
    ///
    /// When the next attempt is due, events take the usual way (the
    /// backlog, then a connection): the attempt carries them, and they go
    /// to the spool if it fails too.
    pub(super) fn spooling(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| s.spool.writable())
            && self.conn.is_none()
            && (self.given_up
                || self.outage.is_some() && self.retry_at.is_some_and(|t| Instant::now() < t))
    }

    /// Whether spooled events wait to be sent and Redis answers.
    pub(super) fn drain_pending(&self) -> bool {
        self.outage.is_none() && self.spool.as_ref().is_some_and(|s| s.spool.has_work())
    }

    /// Write `events` to the spool file; those it cannot take (the spool
    /// cannot be written) go back to the backlog.
    pub(super) fn write_spool(&mut self, events: Vec<Event>, log: &mut dyn FnMut(String)) {
        if events.is_empty() {
            return;
        }
        let Some(sp) = self.spool.as_mut() else {
            return requeue(&mut self.backlog, events);
        };
        match sp
            .spool
            .append(events.iter().map(|e| (e.key(), e.payload())))
        {
            Appended::Done { written, dropped } => {
                if written > 0 && !sp.said_outage {
                    sp.said_outage = true;
                    log(format!(
                        "Redis unreachable: events are kept in the spool file {} until a \
                         session can deliver them",
                        sp.spool.file_name().unwrap_or("?")
                    ));
                }
                if dropped > 0 {
                    let total = sp.spool.stats.dropped;
                    if sp.reported_drops == 0 || crosses_power_of_ten(sp.reported_drops, total) {
                        log(format!(
                            "RedisLogSpool full: {total} event(s) dropped so far in this session"
                        ));
                        sp.reported_drops = total.max(1);
                    }
                }
                for e in events {
                    self.backlog.spare(e);
                }
            }
            Appended::Failed(msg) => {
                if let Some(m) = msg {
                    log(m);
                }
                requeue(&mut self.backlog, events);
            }
        }
    }

    /// Redis is unreachable: the events waiting in memory go to the spool
    /// (those read from spool files stay where they are, in their files).
    pub(super) fn spool_backlog(&mut self, log: &mut dyn FnMut(String)) {
        if !self.spooling() {
            return;
        }
        self.forget_drained();
        let idle = self.backlog.take_idle();
        self.write_spool(idle, log);
    }

    /// The backlog is full: its oldest waiting event goes to the spool
    /// instead of being dropped.  `false` if there is no spool to take it.
    pub(super) fn spool_oldest(&mut self, log: &mut dyn FnMut(String)) -> bool {
        if !self.spool.as_ref().is_some_and(|s| s.spool.writable()) {
            return false;
        }
        match self.backlog.take_oldest_idle() {
            Some(ev) if ev.origin().is_some() => {
                // Still in its file: read again later.
                self.backlog.spare(ev);
                if let Some(sp) = self.spool.as_mut() {
                    sp.spool.unanswered();
                }
                true
            }
            Some(ev) => {
                self.write_spool(vec![ev], log);
                true
            }
            None => false,
        }
    }

    /// The spooled events handed out and not acknowledged are forgotten:
    /// they are read from their file again.
    pub(super) fn forget_drained(&mut self) {
        if let Some(sp) = self.spool.as_mut()
            && sp.spool.in_flight()
        {
            self.backlog.forget_spooled();
            sp.spool.unanswered();
        }
    }

    /// Add a batch of spooled events behind the session's own, up to one
    /// pipeline's worth.
    pub(super) fn add_drained(&mut self) {
        if !self.drain_pending() || self.backlog.inflight() > 0 {
            return;
        }
        let room = CHUNK.saturating_sub(self.backlog.len());
        let Some(sp) = self.spool.as_mut() else {
            return;
        };
        if room == 0 || sp.spool.in_flight() {
            return;
        }
        let backlog = &mut self.backlog;
        let mut spare = Vec::new();
        backlog.recycle(&mut spare);
        sp.spool.next_batch(room, DRAIN_BYTES, |key, payload, end| {
            let buf = spare.pop().unwrap_or_default();
            backlog.push(Event::spooled(buf, key, payload, end));
        });
    }

    /// The session ends (or switches servers): what Redis did not take
    /// goes to the spool file, which is then synced; with `budget` and a
    /// working connection, spooled events (this session's first) are sent
    /// until none is left or the time is up.  RedisLog gets the figures.
    pub(super) fn finish_spool(&mut self, budget: Duration, log: &mut dyn FnMut(String)) {
        let start = Instant::now();
        let Some(sp) = self.spool.as_ref() else {
            return;
        };
        if !self.backlog.is_empty() && sp.spool.writable() {
            self.forget_drained();
            let idle = self.backlog.take_idle();
            self.write_spool(idle, log);
        }
        if let Some(sp) = self.spool.as_mut() {
            sp.spool.finish_writing();
        }
        if !budget.is_zero()
            && self.conn.is_none()
            && !self.given_up
            && self.spool.as_ref().is_some_and(|s| s.spool.has_work())
        {
            // Is Redis back?  One attempt, acknowledged by a PING.
            self.probe(log);
        }
        while start.elapsed() < budget && self.drain_pending() && self.backlog.is_empty() {
            let before = self.spool.as_ref().map(|s| s.spool.stats.drained);
            self.flush(true, log);
            if self.spool.as_ref().map(|s| s.spool.stats.drained) == before {
                // Nothing acknowledged: no connection, or nothing left.
                if self.conn.is_none() || !self.drain_pending() {
                    break;
                }
            }
        }
        self.forget_drained();
        self.report_spool(log);
    }

    /// RedisLog: what this session spooled, dropped and drained.
    fn report_spool(&mut self, log: &mut dyn FnMut(String)) {
        let Some(sp) = self.spool.as_mut() else {
            return;
        };
        let s = sp.spool.stats;
        if s.spooled > 0 || s.dropped > 0 {
            log(format!(
                "session ending: {} event(s) kept in the spool file {}{}",
                s.spooled,
                sp.spool.own_name(),
                if s.dropped > 0 {
                    format!(", {} dropped (RedisLogSpool full)", s.dropped)
                } else {
                    String::new()
                }
            ));
        }
        if s.drained > sp.reported_drained {
            log(format!(
                "{} spooled event(s) delivered to Redis ({} spool file(s) done)",
                s.drained - sp.reported_drained,
                s.files_done
            ));
            sp.reported_drained = s.drained;
        }
        if s.damaged + s.torn > 0 {
            log(format!(
                "spool files: {} damaged and {} torn byte(s) skipped (whole records only are sent)",
                s.damaged, s.torn
            ));
        }
    }
}

/// Put events the spool could not take back at the end of the backlog
/// (the oldest of them go first if it is full).
fn requeue(backlog: &mut Backlog, events: Vec<Event>) {
    for e in events {
        backlog.push(e);
    }
}
