//! Syslog output with facility LOG_FTP: our own small RFC 3164 client over
//! the local datagram socket, connected in `sess_init` (before any chroot),
//! so that it keeps working inside a chrooted session.
//!
//! Debug builds read `PROFTPD_RS_SYSLOG_SOCKET` (a socket path instead of
//! `/dev/log`) so that the tests can listen without a system syslog daemon.

use super::format::LocalTime;
use std::os::unix::net::UnixDatagram;

/// LOG_FTP (11 << 3) | LOG_INFO (6).
pub const PRI_FTP_INFO: u8 = (11 << 3) | 6;

pub fn socket_path() -> String {
    if cfg!(debug_assertions)
        && let Ok(p) = std::env::var("PROFTPD_RS_SYSLOG_SOCKET")
        && !p.is_empty()
    {
        return p;
    }
    "/dev/log".to_string()
}

/// Connect to the syslog socket at `path`.
pub fn connect(path: &str) -> std::io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    Ok(s)
}

/// The datagram: `<PRI>Mmm dd hh:mm:ss proftpd[PID]: MESSAGE` (the day of
/// the month space-padded, as syslog(3) writes it).
pub fn datagram(t: &LocalTime, pid: u32, msg: &str) -> String {
    let stamp = t.anon();
    // anon() is "MMM dd hh:mm:ss YYYY"; syslog has no year and pads with a space.
    let mut parts = stamp.split(' ');
    let (mon, day, hms) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let day = day.trim_start_matches('0');
    format!("<{PRI_FTP_INFO}>{mon} {day:>2} {hms} proftpd[{pid}]: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_form() {
        let t = LocalTime {
            year: 2026,
            month: 11,
            day: 2,
            hour: 9,
            minute: 5,
            second: 7,
        };
        assert_eq!(
            datagram(&t, 42, "xferlog (send): 1 h"),
            "<94>Nov  2 09:05:07 proftpd[42]: xferlog (send): 1 h"
        );
    }
}

/// Property tests (see docs/fuzzing.md).
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::config;
    use crate::xferlog::format::proptests::local_time;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn datagram_layout(t in local_time(), pid in any::<u32>(), msg in any::<String>()) {
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let want = format!(
                "<94>{} {:>2} {:02}:{:02}:{:02} proftpd[{pid}]: {msg}",
                months[usize::from(t.month) - 1],
                t.day,
                t.hour,
                t.minute,
                t.second
            );
            prop_assert_eq!(datagram(&t, pid, &msg), want);
        }
    }
}
