//! Parsing of the directive values (pure code).

use crate::host::logevent::LogType;

/// Default `ForensicLogBufferSize`.
pub const DEFAULT_BUFFER_SIZE: u32 = 1024;

/// The log types to capture (`ForensicLogCapture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capture(u8);

impl Capture {
    pub const ALL: Capture = Capture(0b11_1111);
    pub const NONE: Capture = Capture(0);

    fn bit(t: LogType) -> u8 {
        1 << LogType::ALL.iter().position(|x| *x == t).unwrap_or(0)
    }

    pub fn with(self, t: LogType) -> Capture {
        Capture(self.0 | Self::bit(t))
    }

    pub fn contains(self, t: LogType) -> bool {
        self.0 & Self::bit(t) != 0
    }

    /// The selected types, in `LogType::ALL` order.
    pub fn types(self) -> impl Iterator<Item = LogType> {
        LogType::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

/// The criteria for writing a block (`ForensicLogCriteria`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Criteria {
    pub failed_login: bool,
    pub module_config: bool,
    pub untimely_death: bool,
}

impl Criteria {
    pub const DEFAULT: Criteria = Criteria {
        failed_login: true,
        module_config: false,
        untimely_death: true,
    };
}

/// `ForensicLogBufferSize count`: a positive decimal number.
pub fn parse_buffer_size(word: &str) -> Result<u32, String> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("badly formatted number: {word}"));
    }
    match word.parse::<u32>() {
        Ok(0) => Err(format!("size must be greater than zero: {word}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("number too large: {word}")),
    }
}

/// `ForensicLogCapture type ...` (case-insensitive).
pub fn parse_capture(words: &[String]) -> Result<Capture, String> {
    if words.is_empty() {
        return Err("wrong number of parameters".into());
    }
    let mut c = Capture::NONE;
    for w in words {
        let t = match w.to_ascii_lowercase().as_str() {
            "unspec" | "unknown" => LogType::Unspec,
            "transferlog" => LogType::TransferLog,
            "syslog" => LogType::Syslog,
            "systemlog" => LogType::SystemLog,
            "extendedlog" => LogType::ExtendedLog,
            "tracelog" => LogType::TraceLog,
            _ => return Err(format!("unknown log type: {w}")),
        };
        c = c.with(t);
    }
    Ok(c)
}

/// `ForensicLogCriteria criterion ...` (case-insensitive).
pub fn parse_criteria(words: &[String]) -> Result<Criteria, String> {
    if words.is_empty() {
        return Err("wrong number of parameters".into());
    }
    let mut c = Criteria {
        failed_login: false,
        module_config: false,
        untimely_death: false,
    };
    for w in words {
        match w.to_ascii_lowercase().as_str() {
            "failedlogin" => c.failed_login = true,
            "moduleconfig" => c.module_config = true,
            "untimelydeath" => c.untimely_death = true,
            _ => return Err(format!("unknown criterion: {w}")),
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn buffer_sizes() {
        assert_eq!(parse_buffer_size("1"), Ok(1));
        assert_eq!(parse_buffer_size("1024"), Ok(1024));
        for bad in ["0", "-5", "abc", "12k", "", " 5", "+5"] {
            let e = parse_buffer_size(bad).unwrap_err();
            assert!(e.ends_with(bad), "{bad}: {e}");
        }
        assert!(parse_buffer_size("99999999999").is_err());
    }

    #[test]
    fn capture_types() {
        let c = parse_capture(&words(
            "Unspec TransferLog syslog SystemLog ExtendedLog TraceLog",
        ))
        .unwrap();
        assert_eq!(c, Capture::ALL);
        let c = parse_capture(&words("systemlog")).unwrap();
        assert_eq!(c.types().collect::<Vec<_>>(), [LogType::SystemLog]);
        let c = parse_capture(&words("Unknown tracelog")).unwrap();
        assert_eq!(
            c.types().collect::<Vec<_>>(),
            [LogType::Unspec, LogType::TraceLog]
        );
        assert_eq!(
            parse_capture(&words("SystemLog Bogus")).unwrap_err(),
            "unknown log type: Bogus"
        );
        // Prefixes are not enough (the C module compares whole words).
        assert!(parse_capture(&words("System")).is_err());
        assert!(parse_capture(&[]).is_err());
    }

    #[test]
    fn criteria() {
        let c = parse_criteria(&words("failedlogin ModuleConfig UntimelyDeath")).unwrap();
        assert!(c.failed_login && c.module_config && c.untimely_death);
        let c = parse_criteria(&words("ModuleConfig")).unwrap();
        assert!(!c.failed_login && c.module_config && !c.untimely_death);
        assert_eq!(
            parse_criteria(&words("FailedLogin Sometimes")).unwrap_err(),
            "unknown criterion: Sometimes"
        );
        assert!(parse_criteria(&[]).is_err());
        assert_eq!(
            Criteria::DEFAULT,
            parse_criteria(&words("FailedLogin UntimelyDeath")).unwrap()
        );
    }
}
