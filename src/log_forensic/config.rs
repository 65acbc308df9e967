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

/// `ForensicLogBufferSize count`: a positive decimal number, read as the
/// C module's `strtoul` reads it (leading white space and a `+` are
/// fine).  Refused where the C module wraps around: a negative number
/// (`-5` is 4294967291 messages there) or one above 4294967295 (`4294967297`
/// is 1 there).
pub fn parse_buffer_size(word: &str) -> Result<u32, String> {
    let t = word.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("badly formatted number: {word}"));
    }
    match digits.parse::<u32>() {
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
        assert_eq!(parse_buffer_size("+5"), Ok(5));
        assert_eq!(parse_buffer_size(" 5"), Ok(5));
        assert_eq!(parse_buffer_size("\t+7"), Ok(7));
        for bad in ["0", "-5", "abc", "12k", "", "5 ", "+", "++5", "+-5"] {
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

/// Property tests (see docs/fuzzing.md).
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::{config, text_or};
    use proptest::prelude::*;

    const TYPES: [(&str, LogType); 7] = [
        ("unspec", LogType::Unspec),
        ("unknown", LogType::Unspec),
        ("transferlog", LogType::TransferLog),
        ("syslog", LogType::Syslog),
        ("systemlog", LogType::SystemLog),
        ("extendedlog", LogType::ExtendedLog),
        ("tracelog", LogType::TraceLog),
    ];
    const CRITERIA: [&str; 3] = ["failedlogin", "moduleconfig", "untimelydeath"];

    /// `word` in a random mix of upper and lower case.
    fn any_case(word: &'static str) -> impl Strategy<Value = String> {
        prop::collection::vec(any::<bool>(), word.len()).prop_map(move |up| {
            word.chars()
                .zip(up)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect()
        })
    }

    /// Known words in any case, near misses and anything.
    fn words(known: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
        let word = prop_oneof![
            3 => prop::sample::select(known).prop_flat_map(any_case),
            1 => prop::sample::select(known).prop_map(|w| w[1..].to_string()),
            1 => text_or(&["log", "Log", "system", "trace", "failed", "login", " ", "\u{130}", "\u{212a}"], 3),
        ];
        prop::collection::vec(word, 0..6)
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn buffer_size_words(word in text_or(&["0", "1", "9", "-", "+", " ", "k", "4294967295", "4294967296"], 4)) {
            let r = parse_buffer_size(&word);
            // strtoul's reading: white space, then `+` and the digits.
            let t = word.trim_start_matches(' ');
            let digits = t.strip_prefix('+').unwrap_or(t);
            let decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            match digits.parse::<u32>() {
                Ok(n) if decimal && n > 0 => prop_assert_eq!(r, Ok(n)),
                _ => {
                    let e = r.unwrap_err();
                    prop_assert!(e.ends_with(&word), "{e}");
                }
            }
        }

        #[test]
        fn buffer_size_round_trip(n in 1u32..) {
            prop_assert_eq!(parse_buffer_size(&n.to_string()), Ok(n));
            prop_assert_eq!(parse_buffer_size(&format!("000{n}")), Ok(n));
        }

        #[test]
        fn capture_words(
            w in words(&["unspec", "unknown", "transferlog", "syslog", "systemlog", "extendedlog", "tracelog"]),
        ) {
            let named: Option<Vec<LogType>> = w
                .iter()
                .map(|w| TYPES.iter().find(|(n, _)| w.eq_ignore_ascii_case(n)).map(|(_, t)| *t))
                .collect();
            match (parse_capture(&w), named) {
                (Ok(c), Some(types)) if !w.is_empty() => {
                    for t in LogType::ALL {
                        prop_assert_eq!(c.contains(t), types.contains(&t), "{:?}", t);
                    }
                }
                (Err(e), _) if w.is_empty() => prop_assert_eq!(e, "wrong number of parameters"),
                (Err(e), None) => {
                    let bad = w.iter().find(|w| !TYPES.iter().any(|(n, _)| w.eq_ignore_ascii_case(n)));
                    prop_assert_eq!(Some(e), bad.map(|b| format!("unknown log type: {b}")));
                }
                (r, named) => prop_assert!(false, "{w:?}: {r:?} but {named:?}"),
            }
        }

        #[test]
        fn criteria_words(w in words(&CRITERIA)) {
            let known = w.iter().all(|w| CRITERIA.iter().any(|c| w.eq_ignore_ascii_case(c)));
            let has = |c: &str| w.iter().any(|w| w.eq_ignore_ascii_case(c));
            match parse_criteria(&w) {
                Ok(c) => {
                    prop_assert!(known && !w.is_empty());
                    prop_assert_eq!(
                        (c.failed_login, c.module_config, c.untimely_death),
                        (has("failedlogin"), has("moduleconfig"), has("untimelydeath"))
                    );
                }
                Err(e) if w.is_empty() => prop_assert_eq!(e, "wrong number of parameters"),
                Err(e) => {
                    prop_assert!(!known);
                    let bad = w.iter().find(|w| !CRITERIA.iter().any(|c| w.eq_ignore_ascii_case(c)));
                    prop_assert_eq!(Some(e), bad.map(|b| format!("unknown criterion: {b}")));
                }
            }
        }
    }
}
