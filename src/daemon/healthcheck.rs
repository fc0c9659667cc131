//! A container's health check as data: `Config.Healthcheck` checked at create and merged with
//! the image's, the probe with Docker's defaults (`Probe`), and the state it leaves
//! (`State.Health`: status, failing streak, the last results) judged as Docker's monitor
//! judges each result. No container or daemon types: the container record holds a `Health`,
//! and the monitor that runs the checks (`daemon::health`) sits above both.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::time::Duration;

/// Docker's defaults for the fields left at zero.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_PERIOD: Duration = Duration::ZERO;
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// The shortest interval, timeout or period the API accepts (Docker's `MinimumDuration`).
const MINIMUM: Duration = Duration::from_millis(1);

/// `State.Health`, as Docker keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    /// Oldest first; `null` before the first result, as Go marshals a nil slice.
    #[serde(default, serialize_with = "null_when_empty", deserialize_with = "list_or_null")]
    pub log: Vec<CheckResult>,
}

/// One run of the check.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

fn null_when_empty<S: Serializer>(log: &[CheckResult], s: S) -> Result<S::Ok, S::Error> {
    if log.is_empty() {
        s.serialize_none()
    } else {
        log.serialize(s)
    }
}

fn list_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<CheckResult>, D::Error> {
    Ok(Option::<Vec<CheckResult>>::deserialize(d)?.unwrap_or_default())
}

impl Health {
    /// The status; `unhealthy` when none was set yet (Docker's `Health.Status()`).
    pub fn status(&self) -> &str {
        if self.status.is_empty() {
            "unhealthy"
        } else {
            &self.status
        }
    }

    /// What `docker ps` shows in parentheses after `Up ...`.
    pub fn describe(&self) -> String {
        match self.status() {
            "starting" => "health: starting".into(),
            other => other.into(),
        }
    }

    /// Records a result and judges the new status as Docker's `handleProbeResult` does.
    /// `since_start`: how long after the container's start the check began.
    pub(super) fn record(&mut self, result: CheckResult, since_start: Duration, probe: &Probe) {
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.drain(..self.log.len() + 1 - MAX_LOG_ENTRIES);
        }
        let passed = result.exit_code == 0;
        self.log.push(result);
        if passed {
            self.failing_streak = 0;
            self.status = "healthy".into();
            return;
        }
        // While starting, failures within the start period do not count.
        if self.status() == "starting" && since_start < probe.start_period {
            return;
        }
        self.failing_streak += 1;
        if self.failing_streak >= probe.retries {
            self.status = "unhealthy".into();
        }
    }
}

/// A container's check, with Docker's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The command run in the container (for `CMD-SHELL`, behind the container's shell).
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn nanos(hc: &Value, key: &str) -> i64 {
    hc.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn or_default(ns: i64, default: Duration) -> Duration {
    if ns <= 0 {
        default
    } else {
        Duration::from_nanos(ns as u64)
    }
}

/// The check a container's Config asks for; `None` without one (no `Healthcheck`, an empty
/// `Test`, or `NONE`).
pub fn probe_of(config: &Value) -> Option<Probe> {
    let hc = config.get("Healthcheck").filter(|h| h.is_object())?;
    let test = strings(hc.get("Test"));
    let cmd = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut shell = strings(config.get("Shell"));
            if shell.is_empty() {
                shell = vec!["/bin/sh".into(), "-c".into()];
            }
            shell.extend(test[1..].iter().cloned());
            shell
        }
        _ => return None,
    };
    let retries = hc.get("Retries").and_then(Value::as_i64).unwrap_or(0);
    Some(Probe {
        cmd,
        interval: or_default(nanos(hc, "Interval"), DEFAULT_INTERVAL),
        timeout: or_default(nanos(hc, "Timeout"), DEFAULT_TIMEOUT),
        start_period: or_default(nanos(hc, "StartPeriod"), DEFAULT_START_PERIOD),
        start_interval: or_default(nanos(hc, "StartInterval"), DEFAULT_START_INTERVAL),
        retries: if retries <= 0 { DEFAULT_RETRIES } else { retries },
    })
}

/// Docker's checks of a create request's `Config.Healthcheck`, with its messages; a `Test`
/// of a kind Docker would not run is refused rather than kept and ignored.
pub fn validate(config: &Map<String, Value>) -> Result<(), String> {
    let Some(hc) = config.get("Healthcheck").filter(|h| !h.is_null()) else { return Ok(()) };
    let Some(obj) = hc.as_object() else { return Err("invalid Config.Healthcheck: it must be an object".into()) };
    match obj.get("Test") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            let kind = a.first().and_then(Value::as_str).unwrap_or("");
            if !a.is_empty() && !matches!(kind, "NONE" | "CMD" | "CMD-SHELL") {
                return Err(format!("invalid Config.Healthcheck.Test: unknown type {kind:?} (expected \"NONE\", \"CMD\" or \"CMD-SHELL\")"));
            }
        }
        Some(_) => return Err("invalid Config.Healthcheck.Test: it must be a list of strings".into()),
    }
    for key in ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] {
        if obj.get(key).is_some_and(|v| !v.is_null() && !v.is_i64()) {
            return Err(format!("invalid Config.Healthcheck.{key}: it must be a whole number{}", if key == "Retries" { "" } else { " of nanoseconds" }));
        }
    }
    let minimum = MINIMUM.as_nanos() as i64;
    for key in ["Interval", "Timeout"] {
        let v = nanos(hc, key);
        if v != 0 && v < minimum {
            return Err(format!("{key} in Healthcheck cannot be less than {}", go_duration(MINIMUM)));
        }
    }
    if nanos(hc, "Retries") < 0 {
        return Err("Retries in Healthcheck cannot be negative".into());
    }
    for key in ["StartPeriod", "StartInterval"] {
        let v = nanos(hc, key);
        if v != 0 && v < minimum {
            return Err(format!("{key} in Healthcheck cannot be less than {}", go_duration(MINIMUM)));
        }
    }
    Ok(())
}

/// Docker's merge of the image's `Healthcheck` into the container's Config at create: the
/// image's whole when the container has none, else each field the container leaves at zero.
pub fn merge_image_healthcheck(config: &mut Map<String, Value>, image: &Value) {
    let Some(from_image) = image.get("Healthcheck").and_then(Value::as_object) else { return };
    let own = config.get_mut("Healthcheck").and_then(Value::as_object_mut);
    let Some(own) = own else {
        config.insert("Healthcheck".into(), Value::Object(from_image.clone()));
        return;
    };
    let zero = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_i64() == Some(0) || v.as_array().is_some_and(|a| a.is_empty()));
    for key in ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] {
        if zero(own.get(key)) {
            if let Some(v) = from_image.get(key).filter(|v| !zero(Some(v))) {
                own.insert(key.into(), v.clone());
            }
        }
    }
}

/// Go's `time.Duration.String()`: `1ms`, `1.5s`, `1m30s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    fn fraction(v: u128, unit: u128, digits: usize) -> String {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{rest:0digits$}").trim_end_matches('0').to_string()
        }
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".into(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{}µs", fraction(ns, 1_000, 3)),
        1_000_000..=999_999_999 => format!("{}ms", fraction(ns, 1_000_000, 6)),
        _ => {
            let (h, m) = (ns / 3_600_000_000_000, ns / 60_000_000_000 % 60);
            let s = fraction(ns % 60_000_000_000, 1_000_000_000, 9);
            if h > 0 {
                format!("{h}h{m}m{s}s")
            } else if m > 0 {
                format!("{m}m{s}s")
            } else {
                format!("{s}s")
            }
        }
    }
}
