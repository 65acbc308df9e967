//! The logging path: the rules in force for a command (cached per
//! configuration context), each rule's event resolved into a JSON object,
//! and the hand-off to the sink.

use super::LOG;
use super::directives::{EXTRA, Extra, LogRule, ON_COMMAND, ON_EVENT, Rule};
use super::json;
use super::session::{self, debug_after, write_log_line};
use super::sink;
use crate::host::cmd::{Cmd, CmdResult};
use crate::host::conf::{self, Key, Scope};
use crate::host::jot::{self, LogFmt};
use crate::host::state::SessionState;
use serde_json::Value;
use std::sync::Arc;

/// A `RedisLogFormatExtra` member as events get it: the key and, unless
/// it needs resolving per event, the value, both as JSON text.
#[derive(Debug)]
struct ExtraMember {
    key: Vec<u8>,
    value: ExtraValue,
}

#[derive(Debug)]
enum ExtraValue {
    Json(Vec<u8>),
    /// A string with LogFormat variables, resolved per event to text (the
    /// string as written if that fails).
    Format {
        fmt: LogFmt,
        written: Vec<u8>,
    },
}

/// A rule in force, with the extra members of its LogFormat.
#[derive(Debug)]
struct ActiveRule {
    rule: Arc<LogRule>,
    extras: Vec<ExtraMember>,
}

/// The RedisLogOnCommand/RedisLogOnEvent rules in force in a configuration
/// context, found once per context and session, not per command.
type Active = Arc<Vec<ActiveRule>>;

/// The rules of the contexts seen in this session (a few: the server, its
/// `<Directory>` sections as the session moves through them).
static ACTIVE: SessionState<Vec<(conf::Context, Active)>> = SessionState::new();

/// Forget the rules found so far (the server changed: `HOST`).
pub(super) fn forget_rules() {
    let _ = ACTIVE.replace(None);
}

/// Contexts remembered per session; beyond this, the oldest is forgotten.
const CONTEXTS_MAX: usize = 16;

/// The members of the extras (in order) that apply to `fmt_name`.
fn extra_members(extras: &[Extra], fmt_name: &str) -> Vec<ExtraMember> {
    let mut members = Vec::new();
    for extra in extras.iter().filter(|e| e.fmt_name == fmt_name) {
        for (k, v) in &extra.object {
            // Objects and arrays are left out, as in the C module.
            if matches!(v, Value::Object(_) | Value::Array(_)) {
                continue;
            }
            let written = json::to_json(v);
            let value = match v {
                Value::String(s) if s.contains('%') => match jot::compile(s) {
                    Ok(fmt) => ExtraValue::Format { fmt, written },
                    Err(_) => ExtraValue::Json(written),
                },
                _ => ExtraValue::Json(written),
            };
            members.push(ExtraMember {
                key: json::key_json(k),
                value,
            });
        }
    }
    members
}

fn rules_of(key: Key<Rule>) -> Vec<Arc<LogRule>> {
    let rules = key.all(Scope::Current);
    if rules.iter().any(|r| matches!(r, Rule::None)) {
        return Vec::new();
    }
    rules
        .into_iter()
        .filter_map(|r| match r {
            Rule::Log(l) => Some(l),
            Rule::None => None,
        })
        .collect()
}

/// The rules in force for this command: looked up in the configuration
/// the first time the session is in this context, from [`ACTIVE`] after.
fn active_rules() -> Active {
    let ctx = conf::current_context();
    let known = ACTIVE.with(|c| {
        c.as_ref()
            .and_then(|list| list.iter().find(|(k, _)| *k == ctx))
            .map(|(_, a)| a.clone())
    });
    if let Ok(Some(active)) = known {
        return active;
    }
    // Calls into proftpd: with nothing borrowed.
    let mut rules = rules_of(ON_COMMAND);
    rules.extend(rules_of(ON_EVENT));
    let extras = if rules.is_empty() {
        Vec::new()
    } else {
        EXTRA.all(Scope::Current)
    };
    let active: Active = Arc::new(
        rules
            .into_iter()
            .map(|rule| ActiveRule {
                extras: extra_members(&extras, &rule.fmt_name),
                rule,
            })
            .collect(),
    );
    let _ = ACTIVE.with(|c| {
        let list = c.get_or_insert_with(Vec::new);
        if list.len() >= CONTEXTS_MAX {
            list.remove(0);
        }
        list.push((ctx, active.clone()));
    });
    active
}

/// The buffers events are written in, reused from command to command
/// (taken out of [`SCRATCH`] while in use, so nothing is borrowed while
/// the core resolves LogFormats).
#[derive(Default)]
struct Scratch {
    object: json::Object,
    text: json::Text,
    payload: Vec<u8>,
    events: Vec<sink::Event>,
    /// Buffers of delivered events (from the sink), for new ones.
    spare: Vec<Vec<u8>>,
}

static SCRATCH: SessionState<Scratch> = SessionState::new();

/// Resolve `fmt` (with its text) into `out`; `false` if that failed.
fn resolve_text(cmd: &Cmd, fmt: &LogFmt, out: &mut json::Text) -> Result<bool, String> {
    out.0.clear();
    jot::resolve_to(cmd, None, fmt, out, true)
}

/// The event of `rule` for `cmd`, added to `sc.events` (unless the rule's
/// filters exclude the command).
fn event_for(cmd: &Cmd, active: &ActiveRule, sc: &mut Scratch, errors: &mut Vec<String>) {
    let rule = &active.rule;
    sc.object.clear();
    match jot::resolve_to(cmd, rule.filters, &rule.fmt, &mut sc.object, false) {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            errors.push(format!("error generating JSON formatted log message: {e}"));
            return;
        }
    }
    if cmd.is_connect() {
        sc.object.mark_first(br#""connecting""#);
    }
    if cmd.is_disconnect() {
        sc.object.mark_first(br#""disconnecting""#);
    }
    for m in &active.extras {
        match &m.value {
            ExtraValue::Json(v) => sc.object.add_if_absent(&m.key, v),
            ExtraValue::Format { fmt, written } => {
                if sc.object.has(&m.key) {
                    continue;
                }
                match resolve_text(cmd, fmt, &mut sc.text) {
                    Ok(true) => sc.object.add_text_if_absent(&m.key, &sc.text.0),
                    _ => sc.object.add_if_absent(&m.key, written),
                }
            }
        }
    }
    let key: &[u8] = match &rule.key {
        Some(k) => match resolve_text(cmd, k, &mut sc.text) {
            Ok(true) => &sc.text.0,
            Ok(false) => rule.fmt_name.as_bytes(),
            Err(e) => {
                errors.push(format!("error resolving Redis key format: {e}"));
                rule.fmt_name.as_bytes()
            }
        },
        None => rule.fmt_name.as_bytes(),
    };
    sc.payload.clear();
    sc.object.write(&mut sc.payload);
    if session::trace_level() >= 8 {
        LOG.trace(
            8,
            &format!(
                "generated JSON payload for {}: {}",
                cmd.name(),
                String::from_utf8_lossy(&sc.payload)
            ),
        );
    }
    let buf = sc.spare.pop().unwrap_or_default();
    sc.events
        .push(sink::Event::in_buffer(buf, key, &sc.payload));
}

/// LOG_CMD / LOG_CMD_ERR for every command.  The rules are looked up and
/// the events resolved first (calls into proftpd); the state is borrowed
/// only to hand them to the sink.
pub(super) fn log_any(cmd: &mut Cmd) -> CmdResult {
    if !session::engine_on() {
        return CmdResult::Declined;
    }
    let active = active_rules();
    if active.is_empty() {
        return CmdResult::Declined;
    }
    let mut sc = SCRATCH.take().ok().flatten().unwrap_or_default();
    sc.events.clear();
    let mut errors = Vec::new();
    for rule in active.iter() {
        event_for(cmd, rule, &mut sc, &mut errors);
    }
    if sc.events.is_empty() && errors.is_empty() {
        let _ = SCRATCH.replace(Some(sc));
        return CmdResult::Declined;
    }
    let mut debug = Vec::new();
    for e in errors {
        write_log_line(e, &mut debug);
    }
    session::submit(&mut sc.events, &mut sc.spare, &mut debug);
    let _ = SCRATCH.replace(Some(sc));
    debug_after(debug);
    CmdResult::Declined
}
