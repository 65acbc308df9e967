//! xferlog2json: read xferlog files (mod_xferlog's wu-orig, wu-ext and anon
//! formats, ProFTPD's TransferLog, wu-ftpd's xferlog) and write one JSON
//! object per transfer (JSON Lines) on stdout.
//!
//! usage: xferlog2json [FILE...]   (no FILE or `-`: standard input)
//!
//! Lines that cannot be parsed are reported on stderr as
//! `FILE:LINE: reason` and skipped; the exit status is then 1 (2 when a
//! file cannot be read).

#![forbid(unsafe_code)]

use proftpd_rs::xferlog::format::{Record, parse_line};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;

/// One JSON object, keys in a fixed order (strings escaped by serde_json).
fn to_json(r: &Record) -> String {
    struct Obj(String);
    impl Obj {
        fn key(&mut self, k: &str) {
            self.0.push(if self.0.is_empty() { '{' } else { ',' });
            self.0.push('"');
            self.0.push_str(k);
            self.0.push_str("\":");
        }
        fn str(&mut self, k: &str, v: &str) {
            self.key(k);
            self.0
                .push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
        }
        fn num(&mut self, k: &str, v: u64) {
            self.key(k);
            self.0.push_str(&v.to_string());
        }
        fn chr(&mut self, k: &str, c: char) {
            self.str(k, c.encode_utf8(&mut [0u8; 4]));
        }
    }
    let mut o = Obj(String::with_capacity(512));
    let t = r.time;
    o.str("format", r.format.name());
    o.str(
        "time",
        &format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
    );
    o.num("transfer_time", r.transfer_time);
    o.str("remote_host", &r.remote_host);
    o.num("bytes", r.bytes);
    o.str("filename", &r.filename);
    if let Some(tt) = r.transfer_type {
        o.chr("transfer_type", tt.code());
    }
    if let Some(s) = &r.special_action {
        o.str("special_action", s);
    }
    o.chr("direction", r.direction.code());
    o.chr("access_mode", r.access_mode.code());
    o.str("username", &r.username);
    if let Some(s) = &r.service {
        o.str("service", s);
    }
    if let Some(a) = r.auth_method {
        o.num("auth_method", u64::from(a));
    }
    if let Some(s) = &r.auth_user_id {
        o.str("auth_user_id", s);
    }
    if let Some(c) = r.completion {
        o.chr("completion", c.code());
    }
    if let Some(e) = &r.ext {
        o.num("restart_point", e.restart_point);
        o.num("file_size", e.file_size);
        o.str("cwd", &e.cwd);
        o.str("filename_arg", &e.filename_arg);
        o.chr("protection", e.protection);
    }
    o.0.push('}');
    o.0
}

/// Convert one input; returns the number of bad lines.
fn convert(name: &str, input: impl Read, out: &mut impl Write) -> std::io::Result<usize> {
    let mut bad = 0;
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    let mut lineno = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        lineno += 1;
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line, lineno) {
            Ok(rec) => writeln!(out, "{}", to_json(&rec))?,
            Err(e) => {
                bad += 1;
                eprintln!("{name}:{}: {}", e.line, e.message);
            }
        }
    }
    Ok(bad)
}

/// `--help`: the manual page's synopsis, description, options and exit
/// statuses (man/xferlog2json.1; tests/xferlog2json.rs checks they agree).
const HELP: &str = "\
usage: xferlog2json [FILE...]

Reads xferlog files (mod_xferlog's wu-orig, wu-ext and anon formats,
ProFTPD's TransferLog, wu-ftpd's xferlog), detecting the format of each
line, and writes one JSON object per transfer (JSON Lines) on standard
output. No FILE, or -, reads standard input.

Options:
  -h, --help  Print a summary of this page and exit.

Exit status:
  0  all lines converted
  1  some lines could not be parsed (each reported on standard error as
     FILE:LINE: reason, and skipped)
  2  a file could not be read or the output not written

The JSON members: man xferlog2json.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let inputs = if args.is_empty() {
        vec!["-".to_string()]
    } else {
        args
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut bad = 0;
    let mut unreadable = false;
    for name in &inputs {
        let result = if name == "-" {
            convert("<stdin>", std::io::stdin().lock(), &mut out)
        } else {
            match std::fs::File::open(name) {
                Ok(f) => convert(name, f, &mut out),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(n) => bad += n,
            Err(e) => {
                eprintln!("xferlog2json: {name}: {e}");
                unreadable = true;
            }
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    if unreadable {
        ExitCode::from(2)
    } else if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
