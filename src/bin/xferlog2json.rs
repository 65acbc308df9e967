//! xferlog2json: read xferlog files (mod_xferlog's wu-orig, wu-ext and anon
//! formats, ProFTPD's TransferLog, wu-ftpd's xferlog) and write one JSON
//! object per transfer (JSON Lines) on stdout.
//!
//! usage: xferlog2json [FILE...]   (no FILE or `-`: standard input)
//!
//! Lines that cannot be parsed are reported on stderr as
//! `FILE:LINE: reason` and skipped; the exit status is then 1 (2 when a
//! file cannot be read).

use proftpd_rs::xferlog::format::{Record, parse_line};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;

fn to_json(r: &Record) -> Value {
    let t = r.time;
    let mut m = Map::new();
    m.insert("format".into(), json!(r.format.name()));
    m.insert(
        "time".into(),
        json!(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )),
    );
    m.insert("transfer_time".into(), json!(r.transfer_time));
    m.insert("remote_host".into(), json!(r.remote_host));
    m.insert("bytes".into(), json!(r.bytes));
    m.insert("filename".into(), json!(r.filename));
    if let Some(tt) = r.transfer_type {
        m.insert("transfer_type".into(), json!(tt.code().to_string()));
    }
    if let Some(s) = &r.special_action {
        m.insert("special_action".into(), json!(s));
    }
    m.insert("direction".into(), json!(r.direction.code().to_string()));
    m.insert(
        "access_mode".into(),
        json!(r.access_mode.code().to_string()),
    );
    m.insert("username".into(), json!(r.username));
    if let Some(s) = &r.service {
        m.insert("service".into(), json!(s));
    }
    if let Some(a) = r.auth_method {
        m.insert("auth_method".into(), json!(a));
    }
    if let Some(s) = &r.auth_user_id {
        m.insert("auth_user_id".into(), json!(s));
    }
    if let Some(c) = r.completion {
        m.insert("completion".into(), json!(c.code().to_string()));
    }
    if let Some(e) = &r.ext {
        m.insert("restart_point".into(), json!(e.restart_point));
        m.insert("file_size".into(), json!(e.file_size));
        m.insert("cwd".into(), json!(e.cwd));
        m.insert("filename_arg".into(), json!(e.filename_arg));
        m.insert("protection".into(), json!(e.protection.to_string()));
    }
    Value::Object(m)
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: xferlog2json [FILE...]  (xferlog lines in, JSON Lines out)");
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
