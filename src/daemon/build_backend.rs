//! dockerd's side of the builder ([`crate::build::Backend`]): the few container and image
//! services a build uses, each going through the same path the Engine API does (a RUN step's
//! container is created, started, waited for and removed as `docker run`'s is).

use super::ops::WaitCondition;
use super::streams::Chunk;
use super::Daemon;
use crate::build::{Backend, CommitRequest, ImageInfo};
use crate::stdcopy::StreamType;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct BuildBackend {
    pub d: Arc<Daemon>,
    /// The client's registry credentials (X-Registry-Config: server → auth config), for the
    /// pulls of FROM and COPY --from.
    pub auth_configs: serde_json::Map<String, Value>,
}

fn info(i: crate::image::Image) -> ImageInfo {
    ImageInfo { id: i.id, json: i.config }
}

impl BuildBackend {
    /// The X-Registry-Auth value for `domain` from the client's X-Registry-Config.
    fn auth_for(&self, domain: &str) -> Option<String> {
        let (server, cfg) = self.auth_configs.iter().find(|(k, _)| crate::auth::registry_domain(k) == domain)?;
        let field = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("");
        Some(crate::auth::encode_registry_auth(field("username"), field("password"), server))
    }
}

impl Backend for BuildBackend {
    fn image(&self, name: &str) -> Option<ImageInfo> {
        self.d.images.get(name).map(info)
    }

    fn pull(&self, name: &str, platform: Option<&str>, progress: &mut dyn FnMut(&Value)) -> Result<ImageInfo, String> {
        let reference = crate::reference::Reference::parse_normalized(name).map_err(|e| e.to_string())?.with_default_tag();
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Some(crate::registry::Platform::parse(p)?),
            None => None,
        };
        let settings = self.d.settings();
        let opts = crate::image::PullOptions {
            insecure_registries: settings.insecure_registries.clone(),
            auth: self.auth_for(&reference.domain),
            platform,
            registry_mirrors: settings.registry_mirrors.clone(),
            max_concurrent_downloads: settings.max_concurrent_downloads,
        };
        let image = self.d.images.pull(&reference, &opts, progress).map_err(|e| e.message)?;
        let shown = reference.familiar_string();
        self.d.events.image("pull", &shown, &shown);
        Ok(info(image))
    }

    fn children(&self, id: &str) -> Vec<ImageInfo> {
        // The configs alone (a cache probe needs no sizes or names).
        self.d.images
            .children_of(id)
            .into_iter()
            .filter_map(|c| {
                let json = serde_json::from_slice(&self.d.images.config_bytes(&c).ok()?).ok()?;
                Some(ImageInfo { id: c, json })
            })
            .collect()
    }

    fn parent(&self, id: &str) -> Option<String> {
        self.d.images.parent_of(id)
    }

    fn create_container(&self, image: &str, config: &Value, host_config: &Value) -> Result<String, String> {
        let mut body = config.as_object().cloned().unwrap_or_default();
        body.insert("Image".into(), Value::String(image.to_string()));
        body.insert("HostConfig".into(), host_config.clone());
        let created = self.d.create(&Value::Object(body), None).map_err(|e| e.message)?;
        Ok(created.get("Id").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    fn run_container(&self, id: &str, output: &mut dyn FnMut(bool, &[u8]), cancelled: &AtomicBool) -> Result<i64, String> {
        let entry = self.d.find(id).map_err(|e| e.message)?;
        // Subscribed before the start, so no byte is missed.
        let rx = entry.output.subscribe();
        let wait = self.d.waiter(&entry, WaitCondition::NextExit);
        self.d.start(&entry).map_err(|e| e.message)?;
        let mut killed = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Chunk::Data(stream, data)) => output(stream == StreamType::Stderr, &data),
                Ok(Chunk::End) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if cancelled.load(Ordering::Relaxed) && !killed {
                killed = true;
                let _ = self.d.kill(&entry, libc::SIGKILL);
            }
        }
        Ok(i64::from(wait()))
    }

    fn with_container_root(&self, id: &str, f: &mut dyn FnMut(&Path) -> Result<(), String>) -> Result<(), String> {
        let mount_id = self.d.find(id).map_err(|e| e.message)?.lock().c.mount_id.clone();
        let root = self.d.snapshots.mount(&mount_id).map_err(|e| format!("error mounting the container's filesystem: {e}"))?;
        let r = f(&root);
        let _ = self.d.snapshots.unmount(&mount_id);
        r
    }

    fn commit(&self, req: &CommitRequest) -> Result<String, String> {
        let changes = match req.container {
            Some(id) => {
                let mount_id = self.d.find(id).map_err(|e| e.message)?.lock().c.mount_id.clone();
                Some(self.d.snapshots.upper_dir(&mount_id).map_err(|e| format!("failed to read the container's changes: {e}"))?)
            }
            None => None,
        };
        let layer_dir: Option<&Path> = match &changes {
            Some(c) => Some(c),
            None => req.layer_dir,
        };
        let new = crate::image::NewImage {
            parent: req.parent,
            layer_dir,
            config: req.config.clone(),
            container: Some(req.container_id).filter(|c| !c.is_empty()),
            container_config: Some(req.container_config.clone()),
            author: req.author,
            comment: "",
            created_by: &req.created_by,
        };
        let image = self.d.images.create_child(&new).map_err(|e| format!("failed to commit the build step: {e}"))?;
        Ok(image.id)
    }

    fn remove_container(&self, id: &str) -> Result<(), String> {
        let entry = self.d.find(id).map_err(|e| e.message)?;
        self.d.remove_with_volumes(&entry, true, true).map_err(|e| e.message)
    }

    fn tag(&self, image_id: &str, reference: &str) -> Result<(), String> {
        let r = crate::reference::Reference::parse_normalized(reference).map_err(|e| e.to_string())?.with_default_tag();
        // A rebuild that changed nothing leaves repositories.json as it is (no fsync).
        if self.d.images.resolve_id(&r.familiar_string()).as_deref() != Some(image_id) {
            self.d.images.tag(image_id, &r).map_err(|e| e.to_string())?;
        }
        let shown = r.familiar_string();
        self.d.events.image("tag", image_id, &shown);
        Ok(())
    }

    fn set_parent(&self, id: &str, parent: &str) -> Result<(), String> {
        self.d.images.set_parent(id, parent).map_err(|e| e.to_string())
    }

    fn create_image(&self, config: &Value, parent: Option<&str>) -> Result<String, String> {
        self.d.images.create_from_config(config, parent).map_err(|e| format!("failed to restore a cached image: {e}"))
    }

    fn scratch_dir(&self) -> PathBuf {
        self.d.opts.data_root.join("tmp")
    }
}
