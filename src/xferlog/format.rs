//! xferlog lines: one typed [`Record`], a writer for the wu-orig, wu-ext and
//! anon formats (and the syslog message form), and a parser that detects the
//! format of each line (wu-orig, wu-ext, anon, and ProFTPD's own TransferLog,
//! which is wu-orig plus a completion-status field).
//!
//! Pure code: no I/O, no clock; the caller supplies the local time.

use std::fmt;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// wu-ftpd's original xferlog format.
    WuOrig,
    /// The extended wu-ftpd style format (BSDftpd-ssl).
    WuExt,
    /// `!`-separated anonymous-download format.
    Anon,
    /// ProFTPD's TransferLog: wu-orig plus a completion-status field
    /// (parse only).
    Proftpd,
}

impl Format {
    /// The name used in configuration and JSON (`wu-orig`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::WuOrig => "wu-orig",
            Format::WuExt => "wu-ext",
            Format::Anon => "anon",
            Format::Proftpd => "proftpd",
        }
    }

    /// A configurable output format by name (`proftpd` is parse-only).
    pub fn from_config(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "wu-orig" => Some(Format::WuOrig),
            "wu-ext" => Some(Format::WuExt),
            "anon" => Some(Format::Anon),
            _ => None,
        }
    }
}

/// A broken-down local time (what `localtime(3)` gives).
pub use crate::host::sys::LocalTime;

impl LocalTime {
    /// Day of the week, 0 = Sunday (Sakamoto's method; in i64, so that
    /// any i32 year, e.g. one read from a log line, works).
    pub fn weekday(&self) -> usize {
        const T: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
        let m = usize::from(self.month.clamp(1, 12));
        let year = i64::from(self.year);
        let y = if m < 3 { year - 1 } else { year };
        let d = i64::from(self.day);
        (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) + T[m - 1] + d).rem_euclid(7)
            as usize
    }

    fn month_name(&self) -> &'static str {
        MONTHS[usize::from(self.month.clamp(1, 12)) - 1]
    }

    /// `DDD MMM dd hh:mm:ss YYYY` (wu formats).
    pub fn wu(&self) -> String {
        let mut out = String::with_capacity(24);
        self.push_wu(&mut out);
        out
    }

    /// `MMM dd hh:mm:ss YYYY` (anon format).
    pub fn anon(&self) -> String {
        let mut out = String::with_capacity(20);
        self.push_anon(&mut out);
        out
    }

    fn push_wu(&self, out: &mut String) {
        out.push_str(DAYS[self.weekday()]);
        out.push(' ');
        self.push_anon(out);
    }

    fn push_anon(&self, out: &mut String) {
        out.push_str(self.month_name());
        out.push(' ');
        push_2(out, self.day);
        out.push(' ');
        push_2(out, self.hour);
        out.push(':');
        push_2(out, self.minute);
        out.push(':');
        push_2(out, self.second);
        out.push(' ');
        push_num(out, self.year);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Binary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    Anonymous,
    Guest,
    Real,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    Complete,
    Incomplete,
}

/// What the client asked for (the wu-ext syslog keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Get,
    Put,
    Append,
}

impl TransferType {
    pub fn code(self) -> char {
        match self {
            TransferType::Ascii => 'a',
            TransferType::Binary => 'b',
        }
    }
}
impl Direction {
    pub fn code(self) -> char {
        match self {
            Direction::Outgoing => 'o',
            Direction::Incoming => 'i',
        }
    }
}
impl AccessMode {
    pub fn code(self) -> char {
        match self {
            AccessMode::Anonymous => 'a',
            AccessMode::Guest => 'g',
            AccessMode::Real => 'r',
        }
    }
}
impl Completion {
    pub fn code(self) -> char {
        match self {
            Completion::Complete => 'c',
            Completion::Incomplete => 'i',
        }
    }
}

/// The wu-ext fields beyond wu-orig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extended {
    pub restart_point: u64,
    pub file_size: u64,
    pub cwd: String,
    pub filename_arg: String,
    /// RFC 2228 protection level: `C`, `S`, `E` or `P`.
    pub protection: char,
}

/// One transfer.  Fields a format does not carry are `None` after parsing
/// (anon lines carry no transfer type, service or authentication fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The format the line was written in (or is to be written in).
    pub format: Format,
    pub time: LocalTime,
    /// Seconds.
    pub transfer_time: u64,
    pub remote_host: String,
    pub bytes: u64,
    pub filename: String,
    pub transfer_type: Option<TransferType>,
    pub special_action: Option<String>,
    pub direction: Direction,
    pub access_mode: AccessMode,
    /// Login name, or the ident string of an anonymous user.
    pub username: String,
    pub service: Option<String>,
    pub auth_method: Option<u8>,
    pub auth_user_id: Option<String>,
    /// wu-ext and ProFTPD TransferLog only.
    pub completion: Option<Completion>,
    /// wu-ext only.
    pub ext: Option<Extended>,
}

/// Replace whitespace and control characters by `_` (as ProFTPD's
/// TransferLog does), so that every field stays one word; an empty value
/// becomes `-`.  `extra` lists further characters to replace.
pub fn sanitize_with(s: &str, extra: &[char]) -> String {
    let mut out = String::with_capacity(s.len().max(1));
    push_sanitized(&mut out, s, extra);
    out
}

/// Append [`sanitize_with`]`(s, extra)` to `out`.
fn push_sanitized(out: &mut String, s: &str, extra: &[char]) {
    if s.is_empty() {
        out.push('-');
        return;
    }
    let clean = |c: char| !(c.is_whitespace() || c.is_control() || extra.contains(&c));
    // Usually nothing to replace: copy the text at once.  Printable ASCII
    // (0x21-0x7e) is neither white space nor a control character, so a
    // byte test settles the common case without decoding characters.
    let plain = |b: u8| b.is_ascii_graphic() && !extra.contains(&char::from(b));
    if s.bytes().all(plain) || s.chars().all(clean) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        out.push(if clean(c) { c } else { '_' });
    }
}

/// Append a number in decimal.
fn push_num(out: &mut String, n: impl Into<i64>) {
    let n: i64 = n.into();
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Append an unsigned number in decimal.
fn push_u64(out: &mut String, n: u64) {
    out.push_str(crate::decimal::decimal(n, &mut [0u8; 20]));
}

/// Append a number of two digits or more, zero-padded.
fn push_2(out: &mut String, n: u8) {
    if n < 10 {
        out.push('0');
    }
    push_num(out, n);
}

/// [`sanitize_with`] without extra characters.
pub fn sanitize(s: &str) -> String {
    sanitize_with(s, &[])
}

impl Record {
    /// Append the wu fields after current-time (shared by file lines and
    /// syslog) to `out`.
    fn push_wu_fields(&self, out: &mut String, format: Format) {
        let word = |out: &mut String, s: &str| {
            out.push(' ');
            push_sanitized(out, s, &[]);
        };
        let chr = |out: &mut String, c: char| {
            out.push(' ');
            out.push(c);
        };
        push_u64(out, self.transfer_time);
        word(out, &self.remote_host);
        out.push(' ');
        push_u64(out, self.bytes);
        word(out, &self.filename);
        chr(
            out,
            self.transfer_type.unwrap_or(TransferType::Binary).code(),
        );
        word(out, self.special_action.as_deref().unwrap_or("_"));
        chr(out, self.direction.code());
        chr(out, self.access_mode.code());
        word(out, &self.username);
        word(out, self.service.as_deref().unwrap_or("ftp"));
        out.push(' ');
        push_num(out, self.auth_method.unwrap_or(0));
        word(out, self.auth_user_id.as_deref().unwrap_or("*"));
        let completion = self.completion.unwrap_or(Completion::Complete).code();
        match format {
            Format::WuExt => {
                chr(out, completion);
                out.push(' ');
                match &self.ext {
                    Some(ext) => {
                        push_u64(out, ext.restart_point);
                        out.push(' ');
                        push_u64(out, ext.file_size);
                        word(out, &ext.cwd);
                        word(out, &ext.filename_arg);
                        chr(out, ext.protection);
                    }
                    None => {
                        out.push_str("0 ");
                        push_u64(out, self.bytes);
                        out.push_str(" / - C");
                    }
                }
            }
            Format::Proftpd => chr(out, completion),
            _ => {}
        }
    }

    /// The wu fields after current-time.
    fn wu_fields(&self, format: Format) -> String {
        let mut out = String::with_capacity(160);
        self.push_wu_fields(&mut out, format);
        out
    }

    /// Append the line in `format` (without a newline) to `out`.
    pub fn push_line(&self, out: &mut String, format: Format) {
        match format {
            Format::Anon => {
                let field = |out: &mut String, s: &str| {
                    out.push('!');
                    push_sanitized(out, s, &['!']);
                };
                self.time.push_anon(out);
                field(out, &self.username);
                field(out, &self.remote_host);
                field(out, &self.filename);
                out.push('!');
                push_u64(out, self.bytes);
                out.push('!');
                push_u64(out, self.transfer_time);
            }
            _ => {
                self.time.push_wu(out);
                out.push(' ');
                self.push_wu_fields(out, format);
            }
        }
    }

    /// The line in `format`, without the trailing newline.
    pub fn to_line(&self, format: Format) -> String {
        let mut out = String::with_capacity(192);
        self.push_line(&mut out, format);
        out
    }

    /// The syslog message for `format` (wu-orig or wu-ext): the line without
    /// current-time, introduced by `xferlog (KEYWORD): `, where KEYWORD is
    /// send/recv (wu-orig) or get/put/append (wu-ext).
    pub fn to_syslog(&self, format: Format, op: Operation) -> String {
        let keyword = match format {
            Format::WuExt => match op {
                Operation::Get => "get",
                Operation::Put => "put",
                Operation::Append => "append",
            },
            _ => match self.direction {
                Direction::Outgoing => "send",
                Direction::Incoming => "recv",
            },
        };
        format!("xferlog ({keyword}): {}", self.wu_fields(format))
    }
}

/// Why a line could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0 when parsing a single line without context).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("{what}: '{}' is not a number", s.escape_debug()))
}

fn one_char(s: &str, what: &str, allowed: &str) -> Result<char, String> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) if allowed.contains(c) => Ok(c),
        _ => Err(format!(
            "{what}: '{}' is not one of {}",
            s.escape_debug(),
            allowed
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join("|")
        )),
    }
}

fn parse_month(s: &str) -> Result<u8, String> {
    MONTHS
        .iter()
        .position(|m| *m == s)
        .map(|i| i as u8 + 1)
        .ok_or_else(|| format!("'{}' is not a month name", s.escape_debug()))
}

/// `MMM dd hh:mm:ss YYYY` as four tokens.
fn parse_time(mon: &str, day: &str, hms: &str, year: &str) -> Result<LocalTime, String> {
    let month = parse_month(mon)?;
    let day: u8 = num(day, "day of month")?;
    if !(1..=31).contains(&day) {
        return Err(format!("day of month {day} out of range"));
    }
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.len() != 2) {
        return Err(format!("time '{}' is not hh:mm:ss", hms.escape_debug()));
    }
    let hour: u8 = num(parts[0], "hour")?;
    let minute: u8 = num(parts[1], "minute")?;
    let second: u8 = num(parts[2], "second")?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!("time '{}' out of range", hms.escape_debug()));
    }
    let year: i32 = num(year, "year")?;
    Ok(LocalTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

fn parse_wu(tokens: &[&str]) -> Result<Record, String> {
    let format = match tokens.len() {
        17 => Format::WuOrig,
        18 => Format::Proftpd,
        23 => Format::WuExt,
        n => {
            return Err(format!(
                "{n} fields; expected 17 (wu-orig), 18 (ProFTPD TransferLog) or 23 (wu-ext)"
            ));
        }
    };
    if !DAYS.contains(&tokens[0]) {
        return Err(format!(
            "'{}' is not a day of the week",
            tokens[0].escape_debug()
        ));
    }
    let time = parse_time(tokens[1], tokens[2], tokens[3], tokens[4])?;
    if DAYS[time.weekday()] != tokens[0] {
        return Err(format!(
            "day of the week '{}' does not match the date",
            tokens[0]
        ));
    }
    let t = &tokens[5..];
    let transfer_type = match one_char(t[4], "transfer-type", "ab")? {
        'a' => TransferType::Ascii,
        _ => TransferType::Binary,
    };
    if t[5].is_empty() || !t[5].chars().all(|c| "_CUT".contains(c)) {
        return Err(format!(
            "special-action-flag: '{}' is not made of _, C, U, T",
            t[5].escape_debug()
        ));
    }
    let direction = match one_char(t[6], "direction", "oi")? {
        'o' => Direction::Outgoing,
        _ => Direction::Incoming,
    };
    let access_mode = match one_char(t[7], "access-mode", "agr")? {
        'a' => AccessMode::Anonymous,
        'g' => AccessMode::Guest,
        _ => AccessMode::Real,
    };
    let auth_method = one_char(t[10], "authentication-method", "01")? as u8 - b'0';
    let completion = |s: &str| -> Result<Completion, String> {
        Ok(match one_char(s, "completion-status", "ci")? {
            'c' => Completion::Complete,
            _ => Completion::Incomplete,
        })
    };
    let mut rec = Record {
        format,
        time,
        transfer_time: num(t[0], "transfer-time")?,
        remote_host: t[1].to_string(),
        bytes: num(t[2], "byte-count")?,
        filename: t[3].to_string(),
        transfer_type: Some(transfer_type),
        special_action: Some(t[5].to_string()),
        direction,
        access_mode,
        username: t[8].to_string(),
        service: Some(t[9].to_string()),
        auth_method: Some(auth_method),
        auth_user_id: Some(t[11].to_string()),
        completion: None,
        ext: None,
    };
    if t.len() > 12 {
        rec.completion = Some(completion(t[12])?);
    }
    if format == Format::WuExt {
        rec.ext = Some(Extended {
            restart_point: num(t[13], "restart-point")?,
            file_size: num(t[14], "file-size")?,
            cwd: t[15].to_string(),
            filename_arg: t[16].to_string(),
            protection: one_char(t[17], "protection-level", "CSEP")?,
        });
    }
    Ok(rec)
}

fn parse_anon(line: &str) -> Result<Record, String> {
    let f: Vec<&str> = line.split('!').collect();
    if f.len() != 6 {
        return Err(format!(
            "{} '!'-separated fields; expected 6 (anon)",
            f.len()
        ));
    }
    let tt: Vec<&str> = f[0].split_whitespace().collect();
    if tt.len() != 4 {
        return Err(format!(
            "anon time '{}' is not 'MMM dd hh:mm:ss YYYY'",
            f[0].escape_debug()
        ));
    }
    let time = parse_time(tt[0], tt[1], tt[2], tt[3])?;
    for (v, what) in [(f[1], "ident"), (f[2], "remote-host"), (f[3], "filename")] {
        if v.is_empty() {
            return Err(format!("empty {what}"));
        }
    }
    Ok(Record {
        format: Format::Anon,
        time,
        transfer_time: num(f[5], "transfer-time")?,
        remote_host: f[2].to_string(),
        bytes: num(f[4], "byte-count")?,
        filename: f[3].to_string(),
        transfer_type: None,
        special_action: None,
        direction: Direction::Outgoing,
        access_mode: AccessMode::Anonymous,
        username: f[1].to_string(),
        service: None,
        auth_method: None,
        auth_user_id: None,
        completion: None,
        ext: None,
    })
}

/// Parse one line (trailing `\n`/`\r\n` allowed), detecting its format.
/// `lineno` goes into the error.
pub fn parse_line(line: &str, lineno: usize) -> Result<Record, ParseError> {
    let line = line.trim_end_matches(['\n', '\r']);
    let err = |message: String| ParseError {
        line: lineno,
        message,
    };
    let first = line.split_whitespace().next().unwrap_or("");
    if first.is_empty() {
        return Err(err("empty line".into()));
    }
    if MONTHS.contains(&first) {
        parse_anon(line).map_err(err)
    } else if DAYS.contains(&first) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        parse_wu(&tokens).map_err(err)
    } else {
        Err(err(format!(
            "does not start with a day of the week (wu-orig, wu-ext, ProFTPD) or a month (anon): '{}'",
            first.escape_debug()
        )))
    }
}

/// Parse a whole log: every line's result, numbered from 1.  Blank lines
/// are skipped.
pub fn parse_all(text: &str) -> Vec<Result<Record, ParseError>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse_line(l, i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> LocalTime {
        LocalTime {
            year: 2026,
            month: 11,
            day: 2,
            hour: 9,
            minute: 5,
            second: 7,
        }
    }

    fn sample(format: Format) -> Record {
        let wu = format != Format::Anon;
        Record {
            format,
            time: t(),
            transfer_time: 3,
            remote_host: "127.0.0.1".into(),
            bytes: 12345,
            filename: "/home/alice/a.txt".into(),
            transfer_type: wu.then_some(TransferType::Ascii),
            special_action: wu.then(|| "_".into()),
            direction: if wu {
                Direction::Incoming
            } else {
                Direction::Outgoing
            },
            access_mode: if wu {
                AccessMode::Real
            } else {
                AccessMode::Anonymous
            },
            username: if wu {
                "alice".into()
            } else {
                "me@x.org".into()
            },
            service: wu.then(|| "ftp".into()),
            auth_method: wu.then_some(0),
            auth_user_id: wu.then(|| "*".into()),
            completion: matches!(format, Format::WuExt | Format::Proftpd)
                .then_some(Completion::Incomplete),
            ext: (format == Format::WuExt).then(|| Extended {
                restart_point: 100,
                file_size: 12445,
                cwd: "/home/alice".into(),
                filename_arg: "a.txt".into(),
                protection: 'P',
            }),
        }
    }

    #[test]
    fn weekday_and_time_forms() {
        assert_eq!(t().wu(), "Mon Nov 02 09:05:07 2026");
        assert_eq!(t().anon(), "Nov 02 09:05:07 2026");
        let leap = LocalTime {
            year: 2024,
            month: 2,
            day: 29,
            ..t()
        };
        assert_eq!(DAYS[leap.weekday()], "Thu");
        let old = LocalTime {
            year: 2000,
            month: 1,
            day: 1,
            ..t()
        };
        assert_eq!(DAYS[old.weekday()], "Sat");
    }

    #[test]
    fn wu_orig_line() {
        assert_eq!(
            sample(Format::WuOrig).to_line(Format::WuOrig),
            "Mon Nov 02 09:05:07 2026 3 127.0.0.1 12345 /home/alice/a.txt a _ i r alice ftp 0 *"
        );
    }

    #[test]
    fn wu_ext_and_anon_lines() {
        assert_eq!(
            sample(Format::WuExt).to_line(Format::WuExt),
            "Mon Nov 02 09:05:07 2026 3 127.0.0.1 12345 /home/alice/a.txt a _ i r alice ftp 0 * i 100 12445 /home/alice a.txt P"
        );
        assert_eq!(
            sample(Format::Anon).to_line(Format::Anon),
            "Nov 02 09:05:07 2026!me@x.org!127.0.0.1!/home/alice/a.txt!12345!3"
        );
    }

    #[test]
    fn round_trips() {
        for f in [Format::WuOrig, Format::WuExt, Format::Anon, Format::Proftpd] {
            let rec = sample(f);
            let line = rec.to_line(f);
            let back = parse_line(&line, 1).unwrap_or_else(|e| panic!("{f:?}: {e}: {line}"));
            assert_eq!(back, rec, "{f:?}");
            assert_eq!(back.to_line(f), line);
        }
    }

    #[test]
    fn syslog_messages() {
        let r = sample(Format::WuOrig);
        assert_eq!(
            r.to_syslog(Format::WuOrig, Operation::Put),
            "xferlog (recv): 3 127.0.0.1 12345 /home/alice/a.txt a _ i r alice ftp 0 *"
        );
        let r = sample(Format::WuExt);
        assert!(
            r.to_syslog(Format::WuExt, Operation::Append)
                .starts_with("xferlog (append): 3 127.0.0.1 12345 ")
        );
        let mut o = sample(Format::WuOrig);
        o.direction = Direction::Outgoing;
        assert!(
            o.to_syslog(Format::WuOrig, Operation::Get)
                .starts_with("xferlog (send): ")
        );
    }

    #[test]
    fn filenames_are_sanitised() {
        let mut r = sample(Format::WuExt);
        r.filename = "/home/alice/my file\t\x07.txt".into();
        if let Some(e) = r.ext.as_mut() {
            e.filename_arg = "my file\t\x07.txt".into();
            e.cwd = "/home/a b".into();
        }
        let line = r.to_line(Format::WuExt);
        assert!(line.contains(" /home/alice/my_file__.txt "), "{line}");
        assert!(line.ends_with(" /home/a_b my_file__.txt P"), "{line}");
        let back = parse_line(&line, 7).unwrap();
        assert_eq!(back.filename, "/home/alice/my_file__.txt");
        let mut a = sample(Format::Anon);
        a.filename = "/pub/a b!c".into();
        assert!(a.to_line(Format::Anon).contains("!/pub/a_b_c!"));
        assert_eq!(sanitize(""), "-");
    }

    #[test]
    fn proftpd_transferlog_line() {
        let line = "Sun Nov 22 13:59:02 2026 0 127.0.0.1 5 /tmp/x/a.txt b _ o r alice ftp 0 * c";
        let r = parse_line(line, 1).unwrap();
        assert_eq!(r.format, Format::Proftpd);
        assert_eq!(r.completion, Some(Completion::Complete));
        assert_eq!(r.direction, Direction::Outgoing);
        assert_eq!(r.to_line(Format::Proftpd), line);
        // wu-ftpd writes the day of month space-padded.
        let wu = "Mon Nov  2 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 *";
        assert_eq!(parse_line(wu, 1).unwrap().time.day, 2);
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let good = sample(Format::WuOrig).to_line(Format::WuOrig);
        let bad = [
            "",
            "garbage",
            "Mon Nov 02 09:05:07 2026",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0",
            "Tue Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 *",
            "Mon Foo 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 *",
            "Mon Nov 02 9:05 2026 3 h 1 /f b _ o r u ftp 0 *",
            "Mon Nov 02 25:05:07 2026 3 h 1 /f b _ o r u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 x h 1 /f b _ o r u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 3 h -1 /f b _ o r u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f z _ o r u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ x r u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o q u ftp 0 *",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 7 *",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 * x",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 * c 0 1 / f X",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 * c z 1 / f C",
            "Nov 02 09:05:07 2026!a!h!/f!12",
            "Nov 02 09:05:07 2026!a!h!/f!x!1",
            "Nov 02 09:05:07!a!h!/f!1!1",
            "Nov 02 09:05:07 2026!!h!/f!1!1",
            "Mon Nov 02 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 * \u{e9}",
            "Mon Nov 99 09:05:07 2026 3 h 1 /f b _ o r u ftp 0 *",
        ];
        let mut text = String::new();
        text.push_str(&good);
        text.push('\n');
        for b in bad {
            text.push_str(b);
            text.push('\n');
        }
        let results = parse_all(&text);
        // The empty line is skipped; every other bad one is an error.
        assert_eq!(results.len(), bad.len());
        assert!(results[0].is_ok());
        for r in &results[1..] {
            let e = r.as_ref().expect_err("should fail");
            assert!(e.line >= 3, "{e}");
            assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
        }
        assert_eq!(
            parse_line("", 9).unwrap_err(),
            ParseError {
                line: 9,
                message: "empty line".into()
            }
        );
    }

    /// Found by the property tests: a year near i32::MAX or i32::MIN made
    /// the weekday computation overflow (a panic in debug builds, a wrong
    /// weekday in release builds).
    #[test]
    fn extreme_years() {
        for (year, day) in [(i32::MAX, 1), (i32::MIN, 1), (i32::MIN, 3), (-1, 1)] {
            let t = LocalTime {
                year,
                month: day,
                day: 1,
                ..t()
            };
            let wd = t.weekday();
            assert!(wd < 7);
            let line = format!("{} 0 h 1 /f b _ o r u ftp 0 *", t.wu());
            assert_eq!(parse_line(&line, 1).unwrap().time, t, "{line}");
        }
        // The Gregorian calendar repeats every 400 years (146097 days, a
        // whole number of weeks): 1 January 2147483647 is a Tuesday, like
        // 1 January 2047.
        let max = LocalTime {
            year: i32::MAX,
            month: 1,
            day: 1,
            ..t()
        };
        assert_eq!(DAYS[max.weekday()], "Tue");
        let line = "Tue Jan 01 09:05:07 2147483647 0 h 1 /f b _ o r u ftp 0 *";
        assert_eq!(parse_line(line, 1).unwrap().time, max);
        let line = "Mon Jan 01 09:05:07 2147483647 0 h 1 /f b _ o r u ftp 0 *";
        assert!(parse_line(line, 1).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutate a valid line byte by byte.
        let base = sample(Format::WuExt).to_line(Format::WuExt);
        let anon = sample(Format::Anon).to_line(Format::Anon);
        for src in [base, anon] {
            let bytes = src.as_bytes();
            for i in 0..bytes.len() {
                for c in [b' ', b'!', b'x', b'9', b':', 0u8, 0xff] {
                    let mut b = bytes.to_vec();
                    b[i] = c;
                    let s = String::from_utf8_lossy(&b);
                    let _ = parse_line(&s, 1);
                    if let Some(prefix) = s.get(..i) {
                        let _ = parse_line(prefix, 1);
                    }
                }
            }
        }
    }
}

/// Property tests (see docs/fuzzing.md): the parser takes any text and
/// mutated lines without panicking; what the writer writes for any record
/// parses back to the record with its fields sanitised.
#[cfg(test)]
pub(crate) mod proptests {
    use super::*;
    use crate::proptest_support::{NASTY, config, made_of, text_or};
    use proptest::prelude::*;

    pub(crate) fn local_time() -> impl Strategy<Value = LocalTime> {
        (
            prop_oneof![4 => 1970i32..2100, 1 => any::<i32>()],
            1u8..=12,
            1u8..=31,
            0u8..24,
            0u8..60,
            0u8..=60,
        )
            .prop_map(|(year, month, day, hour, minute, second)| LocalTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
            })
    }

    /// A field's text: anything (every char, whitespace and controls
    /// included) or made of awkward pieces.
    fn field() -> impl Strategy<Value = String> {
        text_or(NASTY, 8)
    }

    fn wu_record(format: Format) -> impl Strategy<Value = Record> {
        let ext = (
            any::<u64>(),
            any::<u64>(),
            field(),
            field(),
            prop::sample::select(vec!['C', 'S', 'E', 'P']),
        )
            .prop_map(
                |(restart_point, file_size, cwd, filename_arg, protection)| Extended {
                    restart_point,
                    file_size,
                    cwd,
                    filename_arg,
                    protection,
                },
            );
        (
            (local_time(), any::<u64>(), field(), any::<u64>(), field()),
            (
                prop::sample::select(vec![TransferType::Ascii, TransferType::Binary]),
                "[_CUT]{1,4}",
                prop::sample::select(vec![Direction::Outgoing, Direction::Incoming]),
                prop::sample::select(vec![
                    AccessMode::Anonymous,
                    AccessMode::Guest,
                    AccessMode::Real,
                ]),
            ),
            (field(), field(), 0u8..=1, field()),
            (
                prop::sample::select(vec![Completion::Complete, Completion::Incomplete]),
                ext,
            ),
        )
            .prop_map(move |(a, b, c, (completion, ext))| Record {
                format,
                time: a.0,
                transfer_time: a.1,
                remote_host: a.2,
                bytes: a.3,
                filename: a.4,
                transfer_type: Some(b.0),
                special_action: Some(b.1),
                direction: b.2,
                access_mode: b.3,
                username: c.0,
                service: Some(c.1),
                auth_method: Some(c.2),
                auth_user_id: Some(c.3),
                completion: (format != Format::WuOrig).then_some(completion),
                ext: (format == Format::WuExt).then_some(ext),
            })
    }

    fn anon_record() -> impl Strategy<Value = Record> {
        (
            local_time(),
            any::<u64>(),
            field(),
            any::<u64>(),
            field(),
            field(),
        )
            .prop_map(
                |(time, transfer_time, remote_host, bytes, filename, username)| Record {
                    format: Format::Anon,
                    time,
                    transfer_time,
                    remote_host,
                    bytes,
                    filename,
                    transfer_type: None,
                    special_action: None,
                    direction: Direction::Outgoing,
                    access_mode: AccessMode::Anonymous,
                    username,
                    service: None,
                    auth_method: None,
                    auth_user_id: None,
                    completion: None,
                    ext: None,
                },
            )
    }

    pub(crate) fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            wu_record(Format::WuOrig),
            wu_record(Format::WuExt),
            wu_record(Format::Proftpd),
            anon_record(),
        ]
    }

    /// The record as the writer writes its text fields.
    fn sanitized(r: &Record) -> Record {
        let extra: &[char] = if r.format == Format::Anon {
            &['!']
        } else {
            &[]
        };
        let s = |v: &str| sanitize_with(v, extra);
        let o = |v: &Option<String>| v.as_deref().map(|v| sanitize_with(v, extra));
        Record {
            remote_host: s(&r.remote_host),
            filename: s(&r.filename),
            username: s(&r.username),
            special_action: o(&r.special_action),
            service: o(&r.service),
            auth_user_id: o(&r.auth_user_id),
            ext: r.ext.as_ref().map(|e| Extended {
                cwd: s(&e.cwd),
                filename_arg: s(&e.filename_arg),
                ..e.clone()
            }),
            ..r.clone()
        }
    }

    /// Tokens to put into lines: valid ones of other fields, edge numbers,
    /// separators and junk.
    const TOKENS: &[&str] = &[
        "",
        " ",
        "!",
        "-",
        "_",
        "*",
        "a",
        "b",
        "c",
        "i",
        "o",
        "r",
        "g",
        "C",
        "P",
        "0",
        "1",
        "7",
        "-1",
        "+1",
        "00",
        "31",
        "32",
        "99",
        "18446744073709551615",
        "18446744073709551616",
        "2147483647",
        "-2147483648",
        "2147483648",
        "Sun",
        "Mon",
        "Sat",
        "Jan",
        "Feb",
        "Dec",
        "00:00:00",
        "23:59:60",
        "24:00:00",
        "1:2:3",
        "::",
        "é",
        "\u{fffd}",
        "\u{85}",
        "\u{a0}",
        "\0",
        "\t",
        "\r",
        "\n",
        "ftp",
    ];

    #[derive(Clone, Debug)]
    enum Mutation {
        Drop(prop::sample::Index),
        Duplicate(prop::sample::Index),
        Replace(prop::sample::Index, String),
        Insert(prop::sample::Index, String),
        /// Raw bytes at a byte offset (the result read back lossily).
        Bytes(prop::sample::Index, Vec<u8>),
        Truncate(prop::sample::Index),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let idx = any::<prop::sample::Index>;
        let token = || {
            prop_oneof![
                prop::sample::select(TOKENS).prop_map(String::from),
                made_of(TOKENS, 3)
            ]
        };
        prop_oneof![
            idx().prop_map(Mutation::Drop),
            idx().prop_map(Mutation::Duplicate),
            (idx(), token()).prop_map(|(i, t)| Mutation::Replace(i, t)),
            (idx(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
            (idx(), prop::collection::vec(any::<u8>(), 1..4))
                .prop_map(|(i, b)| Mutation::Bytes(i, b)),
            idx().prop_map(Mutation::Truncate),
        ]
    }

    /// Apply `m` to `line`, whose tokens are separated by `sep`.
    fn mutate(line: &str, sep: char, m: &Mutation) -> String {
        let mut t: Vec<String> = line.split(sep).map(String::from).collect();
        match m {
            Mutation::Drop(i) => {
                t.remove(i.index(t.len()));
            }
            Mutation::Duplicate(i) => {
                let i = i.index(t.len());
                t.insert(i, t[i].clone());
            }
            Mutation::Replace(i, s) => {
                let i = i.index(t.len());
                t[i] = s.clone();
            }
            Mutation::Insert(i, s) => t.insert(i.index(t.len() + 1), s.clone()),
            Mutation::Bytes(i, b) => {
                let mut bytes = line.as_bytes().to_vec();
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            Mutation::Truncate(i) => {
                let bytes = line.as_bytes();
                return String::from_utf8_lossy(&bytes[..i.index(bytes.len() + 1)]).into_owned();
            }
        }
        t.join(&sep.to_string())
    }

    /// A parsed record written again parses back to itself, sanitised.
    fn rewrite_is_stable(r: &Record) -> Result<(), TestCaseError> {
        let line = r.to_line(r.format);
        prop_assert_eq!(parse_line(&line, 1), Ok(sanitized(r)), "{:?}", line);
        Ok(())
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn writer_parser_round_trip(rec in record()) {
            let line = rec.to_line(rec.format);
            prop_assert!(!line.contains(['\n', '\r']), "{:?}", line);
            let want = sanitized(&rec);
            prop_assert_eq!(parse_line(&line, 1), Ok(want.clone()), "{:?}", line);
            prop_assert_eq!(parse_line(&format!("{line}\r\n"), 1), Ok(want.clone()));
            // Writing what was parsed gives the same line.
            prop_assert_eq!(want.to_line(want.format), line);
        }

        #[test]
        fn syslog_message_is_the_line_without_time(
            rec in prop_oneof![wu_record(Format::WuOrig), wu_record(Format::WuExt)],
            op in prop::sample::select(vec![Operation::Get, Operation::Put, Operation::Append]),
        ) {
            let line = rec.to_line(rec.format);
            let fields = line.splitn(6, ' ').nth(5).unwrap_or_default();
            let kw = match (rec.format, op, rec.direction) {
                (Format::WuExt, Operation::Get, _) => "get",
                (Format::WuExt, Operation::Put, _) => "put",
                (Format::WuExt, Operation::Append, _) => "append",
                (_, _, Direction::Outgoing) => "send",
                (_, _, Direction::Incoming) => "recv",
            };
            prop_assert_eq!(rec.to_syslog(rec.format, op), format!("xferlog ({kw}): {fields}"));
        }

        #[test]
        fn parser_takes_any_text(s in text_or(TOKENS, 30)) {
            if let Ok(r) = parse_line(&s, 3) {
                rewrite_is_stable(&r)?;
            }
        }

        #[test]
        fn parser_takes_mutated_lines(rec in record(), ms in prop::collection::vec(mutation(), 1..4)) {
            let sep = if rec.format == Format::Anon { '!' } else { ' ' };
            let mut line = rec.to_line(rec.format);
            for m in &ms {
                line = mutate(&line, sep, m);
            }
            match parse_line(&line, 5) {
                Ok(r) => rewrite_is_stable(&r)?,
                Err(e) => prop_assert_eq!(e.line, 5),
            }
        }

        #[test]
        fn parse_all_numbers_every_non_blank_line(
            lines in prop::collection::vec(
                prop_oneof![
                    record().prop_map(|r| r.to_line(r.format)),
                    text_or(TOKENS, 10),
                    Just(String::new()),
                    Just(" \t".to_string()),
                ],
                0..12,
            ),
            crlf in any::<bool>(),
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            let results = parse_all(&text);
            let want: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, _)| i + 1)
                .collect();
            prop_assert_eq!(results.len(), want.len());
            for (r, (n, l)) in results.iter().zip(want.iter().map(|n| (n, text.lines().nth(n - 1).unwrap()))) {
                match r {
                    Ok(rec) => prop_assert_eq!(Ok(rec.clone()), parse_line(l, 0).map_err(|e| e.message)),
                    Err(e) => prop_assert_eq!(e.line, *n),
                }
            }
        }

        #[test]
        fn sanitize_leaves_one_clean_word(
            s in field(),
            // The writer's only extra is '!'; '_' and '-' are what it writes.
            extra in prop::collection::vec(any::<char>().prop_filter("replacement", |c| !"_-".contains(*c)), 0..2),
        ) {
            let out = sanitize_with(&s, &extra);
            let bad = |c: char| c.is_whitespace() || c.is_control() || extra.contains(&c);
            prop_assert!(!out.is_empty());
            prop_assert!(!out.chars().any(bad), "{:?}", out);
            if s.is_empty() {
                prop_assert_eq!(&out, "-");
            } else {
                prop_assert_eq!(out.chars().count(), s.chars().count());
                if !s.chars().any(bad) {
                    prop_assert_eq!(&out, &s);
                }
            }
            prop_assert_eq!(sanitize_with(&out, &extra), out);
        }

        #[test]
        fn times_never_panic(year in any::<i32>(), month in any::<u8>(), day in any::<u8>(), h in any::<u8>(), m in any::<u8>(), s in any::<u8>()) {
            let t = LocalTime { year, month, day, hour: h, minute: m, second: s };
            prop_assert!(t.weekday() < 7);
            prop_assert!(t.wu().ends_with(&t.anon()));
        }
    }
}
