//! The Engine API's `filters` query parameter (`{"label":["a=b"],"until":["10m"]}`, or the
//! old `{"label":{"a=b":true}}` form): parsing, Docker's key validation and its matchers.

use super::errors::ApiError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Filter name → the values given for it.
#[derive(Debug, Default, Clone)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the query value; an empty one is no filter.
    pub fn parse(raw: Option<&str>) -> Result<Filters, ApiError> {
        let raw = raw.unwrap_or("").trim();
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let v: Value = serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = v.as_object().ok_or_else(|| ApiError::bad_request("invalid filter: not an object"))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                Value::Object(m) => m.iter().filter(|(_, on)| on.as_bool().unwrap_or(false)).map(|(s, _)| s.clone()).collect(),
                Value::String(s) => vec![s.clone()],
                _ => return Err(ApiError::bad_request(format!("invalid filter: values of '{k}' must be a list"))),
            };
            out.insert(k.clone(), list);
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

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Docker's `MatchKVList`: every `k` or `k=v` of `key` is in `labels` (true without any).
    pub fn match_kv_list(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    /// The prune routes' `label` and `label!` filters.
    pub fn match_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_kv_list("label", labels) && !(self.contains("label!") && self.match_kv_list("label!", labels))
    }

    /// The prune routes' `until`: the one time before which things are pruned.
    pub fn until(&self) -> Result<Option<std::time::SystemTime>, ApiError> {
        match self.get("until") {
            [] => Ok(None),
            [one] => crate::timestamp::parse_filter_time(one, std::time::SystemTime::now()).map(Some).map_err(ApiError::bad_request),
            _ => Err(ApiError::bad_request("more than one until filter specified")),
        }
    }
}

/// A JSON object of strings (`Config.Labels`) as a map.
pub fn labels_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters_match_as_dockers() {
        let f = Filters::parse(Some(r#"{"label":["a=1","b"],"label!":{"c":true}}"#)).unwrap();
        let labels = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert!(f.match_labels(&labels(&[("a", "1"), ("b", "x")])));
        assert!(!f.match_labels(&labels(&[("a", "2"), ("b", "x")])));
        assert!(!f.match_labels(&labels(&[("a", "1"), ("b", ""), ("c", "")])));
        assert!(f.validate(&["label", "label!"]).is_ok());
        assert_eq!(f.validate(&["label"]).unwrap_err().message, "invalid filter 'label!'");
        assert!(Filters::parse(Some(r#"{"until":["1h","2h"]}"#)).unwrap().until().is_err());
    }
}
