//! The Engine API's `filters` query parameter (`{"label":{"a=b":true}}`, or the older
//! `{"label":["a=b"]}`): the one parser and matcher of every route that takes it (container
//! and image lists, the prune routes, events), with Docker's key validation, its errors and
//! its matchers (`Match`, `MatchKVList`, `GetBoolOrDefault`, `label`/`label!`, `until`).

use super::errors::ApiError;
use crate::regexp::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Filter name → the values given for it (each once, in order).
#[derive(Debug, Default, Clone)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the query value; an empty one is no filter, anything but an object of lists
    /// (or of objects, whose keys are the values whatever their booleans, as Docker reads
    /// them) is Docker's "invalid filter".
    pub fn parse(raw: Option<&str>) -> Result<Filters, ApiError> {
        let raw = raw.unwrap_or("").trim();
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let invalid = || ApiError::bad_request("invalid filter");
        let v: Value = serde_json::from_str(raw).map_err(|_| invalid())?;
        let obj = v.as_object().ok_or_else(invalid)?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(invalid)).collect::<Result<_, _>>()?,
                Value::Object(m) => m.keys().cloned().collect(),
                _ => return Err(invalid()),
            };
            let entry: &mut Vec<String> = out.entry(k.clone()).or_default();
            for v in list {
                if !entry.contains(&v) {
                    entry.push(v);
                }
            }
        }
        Ok(Filters(out))
    }

    /// Docker's "invalid filter 'x'" for a name the route does not know.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// The values of `key` (none when it is not given).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` is given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Docker's `Match`: true without values, else when a value is `source` or a regular
    /// expression found in it.
    pub fn match_value(&self, key: &str, source: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|p| p == source) || values.iter().any(|p| Regex::new(p).is_ok_and(|r| r.is_match(source)))
    }

    /// Docker's `ExactMatch`: true without values, else when a value is `source`.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| v == source)
    }

    /// Docker's `GetBoolOrDefault`: `true`/`1` or `false`/`0`; anything else, both, or no
    /// value is "invalid filter 'key=values'".
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let Some(values) = self.0.get(key) else { return Ok(None) };
        let has = |s: &[&str]| values.iter().any(|v| s.iter().any(|x| v.eq_ignore_ascii_case(x)));
        let (t, f) = (has(&["true", "1"]), has(&["false", "0"]));
        if t == f {
            let shown = if values.is_empty() { String::new() } else { format!("={}", values.join(",")) };
            return Err(ApiError::bad_request(format!("invalid filter '{key}{shown}'")));
        }
        Ok(Some(t))
    }

    /// Docker's `MatchKVList`: every `k` or `k=v` of `key` is in `labels` (true without any).
    pub fn match_kv_list(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    /// `label` and `label!` as Docker's prune routes (and its containerd image store's list)
    /// take them: every `label` matches, and not every `label!` does (a `label!` alone:
    /// the label, or the label with that value, is absent).
    pub fn match_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_kv_list("label", labels) && !(self.contains("label!") && self.match_kv_list("label!", labels))
    }

    /// The one `until` of the prune routes (more than one is Docker's error), parsed as
    /// Docker parses filter times (RFC 3339, Unix seconds, or a Go duration before now).
    pub fn until(&self) -> Result<Option<SystemTime>, ApiError> {
        match self.get("until") {
            [] => Ok(None),
            [one] => time_value(one).map(Some),
            _ => Err(ApiError::bad_request("more than one until filter specified")),
        }
    }

    /// The earliest of the times given for `key` (the image list's `until`, where several
    /// are allowed), or none.
    pub fn earliest_time(&self, key: &str) -> Result<Option<SystemTime>, ApiError> {
        self.get(key).iter().map(|v| time_value(v)).try_fold(None, |acc: Option<SystemTime>, t| Ok(Some(match (acc, t?) {
            (Some(a), t) => a.min(t),
            (None, t) => t,
        })))
    }
}

/// A filter time (`2024-01-02T03:04:05Z`, `1700000000.5`, `10m`) as a point in time.
fn time_value(v: &str) -> Result<SystemTime, ApiError> {
    crate::timestamp::parse_filter_time(v, SystemTime::now()).map_err(ApiError::bad_request)
}

/// Whether something `created` (RFC 3339) comes before `until`.
pub fn created_before(created: &str, until: SystemTime) -> bool {
    crate::sys::parse_rfc3339(created).is_some_and(|t| t < until)
}

/// A JSON object of strings (`Config.Labels`) as a map.
pub fn labels_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_filters_match_as_dockers() {
        let f = Filters::parse(Some(r#"{"label":["a=1","b"],"label!":{"c":true}}"#)).unwrap();
        assert!(f.match_labels(&labels(&[("a", "1"), ("b", "x")])));
        assert!(!f.match_labels(&labels(&[("a", "2"), ("b", "x")])));
        assert!(!f.match_labels(&labels(&[("a", "1"), ("b", ""), ("c", "")])));
        let not = Filters::parse(Some(r#"{"label!":["c=1"]}"#)).unwrap();
        assert!(not.match_labels(&labels(&[("c", "2")])));
        assert!(not.match_labels(&labels(&[])));
        assert!(!not.match_labels(&labels(&[("c", "1")])));
        assert!(f.validate(&["label", "label!"]).is_ok());
        assert_eq!(f.validate(&["label"]).unwrap_err().message, "invalid filter 'label!'");
        assert!(Filters::parse(Some(r#"{"until":["1h","2h"]}"#)).unwrap().until().is_err());
    }

    #[test]
    fn both_forms_parse_and_garbage_is_an_invalid_filter() {
        let f = Filters::parse(Some(r#"{"status":{"running":true,"exited":false},"name":["web","web"]}"#)).unwrap();
        // Docker keeps an object's keys whatever their booleans.
        assert_eq!(f.get("status"), ["exited", "running"]);
        assert_eq!(f.get("name"), ["web"]);
        for bad in ["nope", "[]", r#"{"a":"b"}"#, r#"{"a":[1]}"#] {
            assert_eq!(Filters::parse(Some(bad)).unwrap_err().message, "invalid filter", "{bad}");
        }
        assert!(Filters::parse(None).unwrap().0.is_empty());
    }

    #[test]
    fn values_match_exactly_or_by_pattern_and_booleans_as_dockers() {
        let f = Filters::parse(Some(r#"{"name":["^we"],"id":["abc"],"dangling":["yes"],"is-task":["1"]}"#)).unwrap();
        assert!(f.match_value("name", "web"));
        assert!(!f.match_value("name", "bew"));
        assert!(f.match_value("other", "x"));
        assert!(f.exact_match("id", "abc") && !f.exact_match("id", "abcd"));
        assert_eq!(f.bool_value("dangling").unwrap_err().message, "invalid filter 'dangling=yes'");
        assert_eq!(f.bool_value("is-task").unwrap(), Some(true));
        assert_eq!(f.bool_value("absent").unwrap(), None);
        let both = Filters::parse(Some(r#"{"dangling":["true","false"]}"#)).unwrap();
        assert_eq!(both.bool_value("dangling").unwrap_err().message, "invalid filter 'dangling=true,false'");
    }

    #[test]
    fn times_are_parsed_once_for_every_route() {
        let f = Filters::parse(Some(r#"{"until":["2000-01-01T00:00:00Z","1990-01-01T00:00:00Z"]}"#)).unwrap();
        let earliest = f.earliest_time("until").unwrap().unwrap();
        assert_eq!(earliest, std::time::UNIX_EPOCH + std::time::Duration::from_secs(631152000));
        assert!(created_before("1989-12-31T23:59:59Z", earliest));
        assert!(!created_before("1990-01-01T00:00:01Z", earliest));
        assert!(Filters::parse(Some(r#"{"until":["soon"]}"#)).unwrap().until().is_err());
        assert_eq!(Filters::default().earliest_time("until").unwrap(), None);
    }
}
