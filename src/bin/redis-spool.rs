//! redis-spool: look after the spool directory of mod_redis's
//! `RedisLogSpool` by hand.
//!
//! ```text
//! redis-spool list DIR                 the spool files: destination, events
//!                                      waiting, bytes, age, damage, in use
//! redis-spool export DIR|FILE...       the waiting events as JSON Lines
//! redis-spool drain DIR --redis ADDR [--db N] [--user NAME]
//!                   [--password-file FILE] [--destination HEX]
//!                                      send the waiting events to a Redis
//! ```
//!
//! Run as root (the files are root's).  `drain` locks each file as the
//! sessions do, so it never sends a file a session is writing or
//! draining; ADDR is `host:port` or a unix socket path.  Exit status: 0,
//! 1 when something could not be read or sent, 2 for a usage error.

#![forbid(unsafe_code)]

use proftpd_rs::redis::spool::format::{self, HEADER_LEN, Header};
use proftpd_rs::redis::spool::{self, Spool};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: redis-spool list DIR
       redis-spool export DIR|FILE...
       redis-spool drain DIR --redis HOST:PORT|SOCKET [--db N] [--user NAME]
                         [--password-file FILE] [--destination HEX]
       redis-spool --help";

/// Events a drain sends per round trip.
const BATCH: usize = 512;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            println!("{USAGE}");
            println!(
                "\nlist: one line per spool file: its name, destination, events waiting,\n\
                 bytes, age, damaged and torn bytes, and whether a session has it.\n\
                 export: {{\"file\",\"key\",\"event\"}} per waiting event, in order.\n\
                 drain: RPUSH each waiting event to its key, in order; a file is\n\
                 emptied and removed once Redis acknowledged all of it."
            );
            return ExitCode::SUCCESS;
        }
        Some("list") if args.len() == 2 => list(Path::new(&args[1])),
        Some("export") if args.len() >= 2 => export(&args[1..]),
        Some("drain") if args.len() >= 2 => drain(&args[1], &args[2..]),
        _ => Err(Usage(String::new()).into()),
    };
    match r {
        Ok(code) => code,
        Err(Failure::Usage(Usage(m))) => {
            if !m.is_empty() {
                eprintln!("redis-spool: {m}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Other(m)) => {
            eprintln!("redis-spool: {m}");
            ExitCode::from(1)
        }
    }
}

struct Usage(String);

enum Failure {
    Usage(Usage),
    Other(String),
}

impl From<Usage> for Failure {
    fn from(u: Usage) -> Failure {
        Failure::Usage(u)
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Failure {
        Failure::Other(m)
    }
}

/// A spool file read whole: its header and the events after the part
/// Redis acknowledged.
struct SpoolFile {
    header: Option<Header>,
    events: Vec<(Vec<u8>, Vec<u8>)>,
    scan: format::Scan,
    bytes: u64,
}

fn read_spool(path: &Path) -> Result<SpoolFile, String> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header = Header::decode(&buf);
    let mut events = Vec::new();
    let scan = match header {
        Some(h) => {
            let from = (h.acked as usize).min(buf.len());
            format::scan(&buf[from..], h.acked, |k, p, _| {
                events.push((k.to_vec(), p.to_vec()))
            })
        }
        None => format::Scan::default(),
    };
    Ok(SpoolFile {
        header,
        events,
        scan,
        bytes: buf.len() as u64,
    })
}

fn spool_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(spool::SUFFIX))
        .filter_map(|p| Some((std::fs::symlink_metadata(&p).ok()?.mtime(), p)))
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn list(dir: &Path) -> Result<ExitCode, Failure> {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<48} {:>16} {:>8} {:>10} {:>8} {:>8} {:>6}  state",
        "file", "destination", "events", "bytes", "age(s)", "damaged", "torn"
    );
    let mut failed = false;
    let (mut files, mut events) = (0, 0);
    for path in spool_files(dir)? {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let r = match read_spool(&path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("redis-spool: {e}");
                failed = true;
                continue;
            }
        };
        let in_use = File::open(&path).is_ok_and(|f| f.try_lock().is_err());
        let state = match (&r.header, in_use) {
            (_, true) => "in use",
            (None, _) if r.bytes <= HEADER_LEN => "empty",
            (None, _) => "no header",
            (Some(_), _) if r.events.is_empty() => "empty",
            _ => "waiting",
        };
        let (dest, age) = match r.header {
            Some(h) => (
                format!("{:016x}", h.destination),
                now().saturating_sub(h.created).to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{name:<48} {dest:>16} {:>8} {:>10} {age:>8} {:>8} {:>6}  {state}",
            r.events.len(),
            r.bytes,
            r.scan.damaged,
            r.scan.torn
        );
        files += 1;
        events += r.events.len();
    }
    let _ = writeln!(out, "{files} file(s), {events} event(s) waiting");
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `{"file":...,"key":...,"event":...}`: the event as the JSON object it
/// is (a string if it is not valid JSON).
fn export_line(file: &str, key: &[u8], payload: &[u8]) -> String {
    let event = std::str::from_utf8(payload)
        .ok()
        .filter(|t| serde_json::from_str::<serde_json::Value>(t).is_ok())
        .map(str::to_string)
        .unwrap_or_else(|| {
            serde_json::to_string(&String::from_utf8_lossy(payload)).unwrap_or_default()
        });
    format!(
        "{{\"file\":{},\"key\":{},\"event\":{event}}}",
        serde_json::to_string(file).unwrap_or_default(),
        serde_json::to_string(&String::from_utf8_lossy(key)).unwrap_or_default()
    )
}

fn export(paths: &[String]) -> Result<ExitCode, Failure> {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for p in paths {
        let p = Path::new(p);
        let files = if p.is_dir() {
            spool_files(p)?
        } else {
            vec![p.to_path_buf()]
        };
        for f in files {
            match read_spool(&f) {
                Ok(r) => {
                    let name = f.file_name().unwrap_or_default().to_string_lossy();
                    for (k, v) in &r.events {
                        if writeln!(out, "{}", export_line(&name, k, v)).is_err() {
                            return Ok(ExitCode::from(1));
                        }
                    }
                    if r.scan.damaged + r.scan.torn > 0 {
                        eprintln!(
                            "redis-spool: {}: {} damaged and {} torn byte(s) skipped",
                            f.display(),
                            r.scan.damaged,
                            r.scan.torn
                        );
                    }
                }
                Err(e) => {
                    eprintln!("redis-spool: {e}");
                    failed = true;
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

struct Target {
    addr: Option<redis::ConnectionAddr>,
    db: i64,
    user: Option<String>,
    password: Option<String>,
    destination: Option<u64>,
}

fn parse_drain_args(args: &[String]) -> Result<Target, Usage> {
    let mut t = Target {
        addr: None,
        db: 0,
        user: None,
        password: None,
        destination: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Usage(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--redis" => {
                let v = value()?;
                t.addr = Some(if v.starts_with('/') {
                    redis::ConnectionAddr::Unix(v.into())
                } else {
                    let (h, p) = v
                        .rsplit_once(':')
                        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                        .ok_or_else(|| {
                            Usage(format!(
                                "--redis '{v}': expected HOST:PORT or a socket path"
                            ))
                        })?;
                    redis::ConnectionAddr::Tcp(h.trim_matches(['[', ']']).to_string(), p)
                });
            }
            "--db" => {
                let v = value()?;
                t.db = v
                    .parse()
                    .map_err(|_| Usage(format!("--db '{v}': expected a number")))?;
            }
            "--user" => t.user = Some(value()?),
            "--password-file" => {
                let v = value()?;
                let text = std::fs::read_to_string(&v)
                    .map_err(|e| Usage(format!("--password-file '{v}': {e}")))?;
                t.password = Some(text.trim_end_matches(['\r', '\n']).to_string());
            }
            "--destination" => {
                let v = value()?;
                t.destination =
                    Some(u64::from_str_radix(&v, 16).map_err(|_| {
                        Usage(format!("--destination '{v}': expected 16 hex digits"))
                    })?);
            }
            other => return Err(Usage(format!("unknown option '{other}'"))),
        }
    }
    if t.addr.is_none() {
        return Err(Usage("drain needs --redis".into()));
    }
    Ok(t)
}

fn connect(t: &Target) -> Result<redis::Connection, String> {
    use redis::IntoConnectionInfo;
    let mut settings = redis::RedisConnectionInfo::default().set_db(t.db);
    if let Some(u) = &t.user {
        settings = settings.set_username(u);
    }
    if let Some(p) = &t.password {
        settings = settings.set_password(p);
    }
    let info = t
        .addr
        .clone()
        .unwrap()
        .into_connection_info()
        .map_err(|e| e.to_string())?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|e| e.to_string())?;
    let con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| format!("error connecting to Redis: {}", e.category()))?;
    let _ = con.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = con.set_write_timeout(Some(Duration::from_secs(30)));
    Ok(con)
}

fn drain(dir: &str, args: &[String]) -> Result<ExitCode, Failure> {
    let target = parse_drain_args(args)?;
    let mut spool = Spool::open_to_drain(dir, target.destination)?;
    let mut con = connect(&target)?;
    let mut failed = None;
    loop {
        let mut pipe = redis::pipe();
        let mut ends = Vec::new();
        let n = spool.next_batch(BATCH, 1 << 20, |k, p, end| {
            pipe.cmd("RPUSH").arg(k).arg(p);
            ends.push(end);
        });
        if n == 0 {
            if spool.has_work() {
                continue;
            }
            break;
        }
        match pipe.query::<Vec<i64>>(&mut con) {
            Ok(_) => {
                for e in ends {
                    spool.acked(e);
                }
            }
            Err(e) => {
                spool.unanswered();
                failed = Some(format!(
                    "Redis refused the events ({}); they stay in the spool",
                    e.code().unwrap_or(e.category())
                ));
                break;
            }
        }
    }
    spool.remove_done();
    let s = spool.stats;
    println!(
        "drained {} event(s), {} file(s) done; {} damaged and {} torn byte(s) skipped",
        s.drained, s.files_done, s.damaged, s.torn
    );
    match failed {
        Some(m) => Err(m.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lines_keep_the_object() {
        assert_eq!(
            export_line("f.spool", b"k", br#"{"a":1}"#),
            r#"{"file":"f.spool","key":"k","event":{"a":1}}"#
        );
        assert_eq!(
            export_line("f", b"k\xff", b"not json"),
            "{\"file\":\"f\",\"key\":\"k\u{fffd}\",\"event\":\"not json\"}"
        );
    }

    #[test]
    fn drain_arguments() {
        let a = |v: &[&str]| parse_drain_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(a(&[]).is_err());
        let t = a(&[
            "--redis",
            "127.0.0.1:6380",
            "--db",
            "3",
            "--destination",
            "00000000000000ff",
        ])
        .ok()
        .unwrap();
        assert_eq!(t.db, 3);
        assert_eq!(t.destination, Some(255));
        assert!(matches!(t.addr, Some(redis::ConnectionAddr::Tcp(h, 6380)) if h == "127.0.0.1"));
        assert!(matches!(
            a(&["--redis", "/run/redis.sock"]).ok().unwrap().addr,
            Some(redis::ConnectionAddr::Unix(_))
        ));
        assert!(a(&["--redis", "nohostport"]).is_err());
        assert!(a(&["--redis", "h:1", "--db"]).is_err());
        assert!(a(&["--redis", "h:1", "--bogus"]).is_err());
    }
}
