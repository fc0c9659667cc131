//! The daemon's event log: a bounded in-memory ring of Docker's event messages that
//! `GET /events` replays (`since`/`until`) and follows. Emitting is one call:
//! `d.events.container(&c, "start", &[])`, `d.events.image("pull", id, name)`,
//! `d.events.network("create", id, name, "bridge", &[])`, `d.events.log("volume", "create", name, attrs)`.

use super::container::Container;
use super::filters::Filters;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Instant, SystemTime};

/// How many recent events a late subscriber can still see (Docker keeps 256).
const RING_SIZE: usize = 256;

/// One event, as Docker's `events.Message`.
#[derive(Debug, Clone)]
pub struct Message {
    /// Position in the log: a subscriber asks for what came after the last it saw.
    pub seq: u64,
    pub kind: String,
    pub action: String,
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    pub time_nano: i128,
}

impl Message {
    /// The JSON line `GET /events` sends; containers and images keep the old `status`, `id`
    /// (and `from`) fields, as Docker's do.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano.div_euclid(1_000_000_000) as i64,
            "timeNano": self.time_nano as i64,
        });
        // Docker's deprecated fields, left out when empty (`omitempty`).
        if self.kind == "container" || self.kind == "image" {
            v["status"] = json!(self.action);
            if !self.actor_id.is_empty() {
                v["id"] = json!(self.actor_id);
            }
            if self.kind == "container" {
                if let Some(image) = self.attributes.get("image").filter(|i| !i.is_empty()) {
                    v["from"] = json!(image);
                }
            }
        }
        v
    }

    /// Docker's event filter: `type`, `event`, `container`, `image`, `label`, and by name or
    /// id for the other object types.
    pub fn matches(&self, f: &Filters) -> bool {
        let exact = |key: &str, value: &str| !f.contains(key) || f.get(key).iter().any(|v| v == value);
        let fuzzy = |key: &str, value: &str| !f.contains(key) || f.get(key).iter().any(|v| value == v || (!value.is_empty() && value.starts_with(v.as_str())));
        let name = self.attributes.get("name").map(String::as_str).unwrap_or("");
        let by_name = |kind: &str| !f.contains(kind) || fuzzy(kind, &self.actor_id) || (!name.is_empty() && fuzzy(kind, name));
        let event = if ["health_status", "exec_create", "exec_start"].iter().any(|e| f.get("event").iter().any(|v| v == e)) {
            fuzzy("event", &self.action)
        } else {
            exact("event", &self.action)
        };
        let image = {
            let image_name = self.attributes.get(if self.kind == "image" { "name" } else { "image" }).map(String::as_str).unwrap_or("");
            !f.contains("image") || [self.actor_id.as_str(), image_name, strip_tag(&self.actor_id), strip_tag(image_name)].iter().any(|s| !s.is_empty() && exact("image", s))
        };
        event
            && exact("type", &self.kind)
            && exact("scope", "local")
            && by_name("container")
            && by_name("network")
            && by_name("volume")
            && by_name("plugin")
            && by_name("daemon")
            && by_name("node")
            && by_name("service")
            && by_name("secret")
            && by_name("config")
            && image
            && f.match_kv_list("label", &self.attributes)
    }
}

/// `busybox:latest` → `busybox`; digests and registry ports are kept.
fn strip_tag(name: &str) -> &str {
    if name.contains('@') {
        return name;
    }
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

#[derive(Default)]
pub struct Events {
    ring: Mutex<Ring>,
    arrived: Condvar,
}

#[derive(Default)]
struct Ring {
    messages: VecDeque<Arc<Message>>,
    next_seq: u64,
}

impl Events {
    /// Records an event and wakes the subscribers.
    pub fn log(&self, kind: &str, action: &str, actor_id: &str, attributes: BTreeMap<String, String>) {
        let time_nano = crate::timestamp::unix_nanos(SystemTime::now());
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.next_seq += 1;
        let m = Message { seq: ring.next_seq, kind: kind.into(), action: action.into(), actor_id: actor_id.into(), attributes, time_nano };
        if ring.messages.len() == RING_SIZE {
            ring.messages.pop_front();
        }
        ring.messages.push_back(Arc::new(m));
        drop(ring);
        self.arrived.notify_all();
    }

    /// A container event: its labels, `image` and `name` (no slash), then `extra`.
    pub fn container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        let mut attributes = super::filters::labels_of(c.config.get("Labels"));
        attributes.insert("image".into(), c.image_name());
        attributes.insert("name".into(), c.name.trim_start_matches('/').to_string());
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.to_string());
        }
        self.log("container", action, &c.id, attributes);
    }

    /// An image event: the actor is the image id or reference, `name` the reference.
    pub fn image(&self, action: &str, id: &str, name: &str) {
        self.log("image", action, id, BTreeMap::from([("name".to_string(), name.to_string())]));
    }

    /// A network event (`create`, `destroy`, `connect`, `disconnect`): the actor is the
    /// network id; `name` and `type` (the driver) as Docker's, then `extra` (`container`).
    pub fn network(&self, action: &str, id: &str, name: &str, driver: &str, extra: &[(&str, &str)]) {
        let mut attributes = BTreeMap::from([("name".to_string(), name.to_string()), ("type".to_string(), driver.to_string())]);
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.to_string());
        }
        self.log("network", action, id, attributes);
    }

    /// A volume event (`create`, `destroy`): the actor is the volume's name, `driver` its
    /// driver, as Docker's.
    pub fn volume(&self, action: &str, name: &str, driver: &str) {
        self.log("volume", action, name, BTreeMap::from([("driver".to_string(), driver.to_string())]));
    }

    /// What the ring holds now, and the position to follow from.
    pub fn snapshot(&self) -> (Vec<Arc<Message>>, u64) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        (ring.messages.iter().cloned().collect(), ring.next_seq)
    }

    /// The events after position `after`, waiting for one until `deadline`; empty when none
    /// came in time. Events a slow reader let fall out of the ring are lost to it.
    pub fn after(&self, after: u64, deadline: Option<Instant>) -> Vec<Arc<Message>> {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if ring.next_seq > after {
                return ring.messages.iter().filter(|m| m.seq > after).cloned().collect();
            }
            ring = match deadline {
                None => self.arrived.wait(ring).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Vec::new();
                    }
                    self.arrived.wait_timeout(ring, d - now).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Message {
        Message { seq: 1, kind: kind.into(), action: action.into(), actor_id: id.into(), attributes: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), time_nano: 1_700_000_000_123_456_789 }
    }

    #[test]
    fn filters_match_as_dockers() {
        let m = message("container", "start", "abcdef0123", &[("name", "web"), ("image", "busybox:latest"), ("tier", "front")]);
        let f = |s: &str| Filters::parse(Some(s)).unwrap();
        assert!(m.matches(&f(r#"{"container":["web"]}"#)));
        assert!(m.matches(&f(r#"{"container":["abcd"]}"#)));
        assert!(!m.matches(&f(r#"{"container":["db"]}"#)));
        assert!(m.matches(&f(r#"{"image":["busybox"],"type":["container"],"event":["start","die"]}"#)));
        assert!(!m.matches(&f(r#"{"type":["image"]}"#)));
        assert!(m.matches(&f(r#"{"label":["tier=front"]}"#)));
        assert!(!m.matches(&f(r#"{"label":["tier=back"]}"#)));
        let exec = message("container", "exec_start: sh -c true", "abcdef0123", &[]);
        assert!(exec.matches(&f(r#"{"event":["exec_start"]}"#)));
        let v = m.to_json();
        assert_eq!((v["status"].as_str(), v["from"].as_str(), v["time"].as_i64()), (Some("start"), Some("busybox:latest"), Some(1_700_000_000)));
    }

    #[test]
    fn the_ring_keeps_the_latest_and_wakes_followers() {
        let e = Arc::new(Events::default());
        for i in 0..RING_SIZE + 10 {
            e.log("image", "tag", &i.to_string(), BTreeMap::new());
        }
        let (all, last) = e.snapshot();
        assert_eq!((all.len(), all[0].actor_id.as_str(), last), (RING_SIZE, "10", (RING_SIZE + 10) as u64));
        let e2 = e.clone();
        let t = std::thread::spawn(move || e2.after(last, None));
        std::thread::sleep(std::time::Duration::from_millis(20));
        e.log("image", "pull", "x", BTreeMap::new());
        assert_eq!(t.join().unwrap()[0].action, "pull");
        assert!(e.after(last + 1, Some(Instant::now())).is_empty());
    }
}
