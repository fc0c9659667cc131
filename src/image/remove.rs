//! `docker rmi`, `docker image prune` and the image half of `docker system df`, with Docker's
//! rules: a reference is removed first; an image goes once nothing refers to it, unless a
//! container stands on it (running: never; stopped: only with force); its layers go when
//! nothing else holds them (see `refcount`).

use super::{ImageStore, Reference, RemoveError, RemoveErrorKind, Repositories};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A container as `docker rmi` weighs it: which image it was made from, and whether it runs.
#[derive(Debug, Clone)]
pub struct ImageUser {
    pub container_id: String,
    /// `sha256:<hex>`.
    pub image_id: String,
    pub running: bool,
}

/// One entry of repositories.json.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    repo: String,
    /// `name:tag` or `name@digest`, familiar.
    key: String,
}

impl Ref {
    fn is_digest(&self) -> bool {
        self.key.starts_with(&format!("{}@", self.repo))
    }
}

/// Docker's "single reference": at most one tag, and digests of that one repository only.
fn is_single_reference(refs: &[Ref]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut tag: Option<&Ref> = None;
    let mut digest_repos = std::collections::BTreeSet::new();
    for r in refs {
        if r.is_digest() {
            digest_repos.insert(r.repo.as_str());
        } else if tag.is_none() {
            tag = Some(r);
        } else {
            return false;
        }
    }
    let single = tag.unwrap_or(&refs[0]);
    digest_repos.len() == 1 && digest_repos.contains(single.repo.as_str())
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// What keeps an image from being deleted, as Docker words it.
struct Conflict {
    hard: bool,
    /// A container uses the image (as opposed to a reference naming it).
    used: bool,
    message: String,
}

impl Conflict {
    fn error(&self, id: &str) -> RemoveError {
        let how = if self.hard { "cannot be forced" } else { "must be forced" };
        RemoveError { kind: RemoveErrorKind::Conflict, message: format!("conflict: unable to delete {} ({how}) - {}", short(id), self.message) }
    }
}

/// Which conflicts count.
#[derive(Clone, Copy)]
struct Mask {
    running: bool,
    references: bool,
    stopped: bool,
}

impl Mask {
    /// Hard conflicts always; soft ones (references, stopped containers) unless forced.
    fn unless_forced(force: bool) -> Mask {
        Mask { running: true, references: !force, stopped: !force }
    }
}

fn untagged(key: &str) -> Value {
    json!({ "Untagged": key })
}

impl ImageStore {
    fn references_to(repos: &Repositories, id: &str) -> Vec<Ref> {
        repos.iter().flat_map(|(repo, m)| m.iter().filter(|(_, v)| *v == id).map(move |(k, _)| Ref { repo: repo.clone(), key: k.clone() })).collect()
    }

    fn drop_reference(repos: &mut Repositories, r: &Ref) {
        if let Some(m) = repos.get_mut(&r.repo) {
            m.remove(&r.key);
            if m.is_empty() {
                repos.remove(&r.repo);
            }
        }
    }

    fn conflict(&self, repos: &Repositories, id: &str, users: &[ImageUser], mask: Mask) -> Option<Conflict> {
        // Docker's order: child images, running containers, references, stopped containers.
        if mask.running && !self.children_of(id).is_empty() {
            return Some(Conflict { hard: true, used: false, message: "image has dependent child images".into() });
        }
        if mask.running {
            if let Some(u) = users.iter().find(|u| u.image_id == id && u.running) {
                return Some(Conflict { hard: true, used: true, message: format!("image is being used by running container {}", short(&u.container_id)) });
            }
        }
        if mask.references && !Self::references_to(repos, id).is_empty() {
            return Some(Conflict { hard: false, used: false, message: "image is referenced in multiple repositories".into() });
        }
        if mask.stopped {
            if let Some(u) = users.iter().find(|u| u.image_id == id && !u.running) {
                return Some(Conflict { hard: false, used: true, message: format!("image is being used by stopped container {}", short(&u.container_id)) });
            }
        }
        None
    }

    /// `docker rmi NAME_OR_ID` (`force` is `-f`), given the containers there are. Returns
    /// Docker's response entries (`{"Untagged": ..}`, `{"Deleted": ..}`).
    ///
    /// By reference: a container using the image keeps its only reference unless forced;
    /// the reference goes (with its repository's digests when it was the last tag there), and
    /// then the image too if nothing else refers to it and no container stands in the way
    /// (quietly kept otherwise, dangling). By id: every reference goes with the image, which
    /// a running container keeps always, a stopped one or several references unless forced.
    /// A container keeps the layers it stands on even when its image record goes.
    ///
    /// An image deleted takes with it the untagged images it was made from (the builder's
    /// intermediate images) that no other image or container stands on, as Docker prunes them.
    pub fn remove(&self, name_or_id: &str, force: bool, users: &[ImageUser]) -> Result<Vec<Value>, RemoveError> {
        let (mut response, mut parent) = self.remove_one(name_or_id, force, users)?;
        while let Some(p) = parent.take() {
            let holds = self.lock();
            let repos = self.repos();
            let unused = Self::references_to(&repos, &p).is_empty() && self.children_of(&p).is_empty() && !users.iter().any(|u| u.image_id == p);
            drop(repos);
            if !unused {
                break;
            }
            let hex = p.strip_prefix("sha256:").unwrap_or(&p).to_string();
            parent = self.parent_of(&p);
            response.extend(self.delete_image_locked(&holds, &hex)?);
        }
        Ok(response)
    }

    /// [`ImageStore::remove`] of the one image; also returns the parent of the image it
    /// deleted, if it deleted one.
    fn remove_one(&self, name_or_id: &str, force: bool, users: &[ImageUser]) -> Result<(Vec<Value>, Option<String>), RemoveError> {
        let not_found = || RemoveError { kind: RemoveErrorKind::NotFound, message: format!("No such image: {name_or_id}") };
        let holds = self.lock();
        let hex = self.resolve(name_or_id).ok_or_else(not_found)?;
        let id = format!("sha256:{hex}");
        let mut repos = self.repos();
        let refs = Self::references_to(&repos, &id);
        let by_id = id.starts_with(name_or_id) || hex.starts_with(name_or_id);
        let mut response = Vec::new();
        // After removing a reference, a container in the way quietly keeps the image.
        let quiet = !by_id;
        if !by_id {
            if !force && is_single_reference(&refs) {
                if let Some(u) = users.iter().find(|u| u.image_id == id) {
                    return Err(RemoveError {
                        kind: RemoveErrorKind::Conflict,
                        message: format!(
                            "conflict: unable to remove repository reference {name_or_id:?} (must force) - container {} is using its referenced image {}",
                            short(&u.container_id),
                            short(&id)
                        ),
                    });
                }
            }
            let r = Reference::parse_normalized(name_or_id).map_err(|e| RemoveError { kind: RemoveErrorKind::Other, message: e.to_string() })?.with_default_tag();
            let name = r.familiar_name();
            let given = Ref { key: match &r.digest { Some(d) => format!("{name}@{d}"), None => r.familiar_string() }, repo: name };
            Self::drop_reference(&mut repos, &given);
            response.push(untagged(&given.key));
            let mut left = Self::references_to(&repos, &id);
            if !given.is_digest() && !left.iter().any(|l| l.repo == given.repo && !l.is_digest()) {
                // The last tag of a repository takes its digest references with it.
                for d in left.iter().filter(|l| l.repo == given.repo && l.is_digest()) {
                    Self::drop_reference(&mut repos, d);
                    response.push(untagged(&d.key));
                }
                left.retain(|l| l.repo != given.repo);
            }
            self.save_repositories(&repos).map_err(RemoveError::other)?;
            if !left.is_empty() {
                return Ok((response, None));
            }
        } else {
            if is_single_reference(&refs) {
                let mask = Mask { running: true, references: false, stopped: !force };
                if let Some(c) = self.conflict(&repos, &id, users, mask) {
                    return Err(c.error(&id));
                }
                for r in &refs {
                    Self::drop_reference(&mut repos, r);
                    response.push(untagged(&r.key));
                }
                self.save_repositories(&repos).map_err(RemoveError::other)?;
            }
        }
        if let Some(c) = self.conflict(&repos, &id, users, Mask::unless_forced(force)) {
            if quiet && c.used {
                return Ok((response, None));
            }
            return Err(c.error(&id));
        }
        let rest = Self::references_to(&repos, &id);
        if !rest.is_empty() {
            for r in &rest {
                Self::drop_reference(&mut repos, r);
                response.push(untagged(&r.key));
            }
            self.save_repositories(&repos).map_err(RemoveError::other)?;
        }
        drop(repos);
        let parent = self.parent_of(&id);
        response.extend(self.delete_image_locked(&holds, &hex)?);
        Ok((response, parent))
    }

    /// Deletes the image record `hex` and the layers nothing else holds; the caller holds the
    /// store lock (`holds`) and has settled that nothing stands in the way.
    fn delete_image_locked(&self, holds: &super::refcount::Holds, hex: &str) -> Result<Vec<Value>, RemoveError> {
        let mut response = Vec::new();
        let id = format!("sha256:{hex}");
        // The image goes before its layers: a crash in between leaves unheld layers, which
        // prune deletes, never an image without its layers.
        let chains = self.chains_of_image(hex);
        if let Some(top) = chains.last() {
            self.make_records_durable(top).map_err(RemoveError::other)?;
        }
        crate::durable::step_at("unlink", &self.content_dir().join(hex));
        std::fs::remove_file(self.content_dir().join(hex)).map_err(RemoveError::other)?;
        crate::durable::fsync_dir(&self.content_dir()).map_err(RemoveError::other)?;
        self.forget_metadata(hex);
        response.push(json!({ "Deleted": id }));
        let top_first: Vec<String> = chains.into_iter().rev().collect();
        for chain in self.free_layers(holds, &top_first).map_err(RemoveError::other)? {
            response.push(json!({ "Deleted": chain }));
        }
        Ok(response)
    }

    /// `docker image prune`: deletes dangling images (no tag), or with `all` every image, as
    /// `docker rmi` without force would (so images containers use stay), then every layer and
    /// downloaded blob nothing holds. Returns (ImagesDeleted, SpaceReclaimed).
    pub fn prune(&self, all: bool, users: &[ImageUser]) -> (Vec<Value>, u64) {
        self.prune_where(all, users, &|_| true)
    }

    /// [`ImageStore::prune`] of the images `wanted` keeps (the `until` and `label` filters).
    pub fn prune_where(&self, all: bool, users: &[ImageUser], wanted: &dyn Fn(&super::Image) -> bool) -> (Vec<Value>, u64) {
        let sizes = self.layer_sizes();
        let mut deleted = Vec::new();
        for image in self.list().into_iter().filter(|i| wanted(i)) {
            let names: Vec<String> = {
                let repos = self.repos();
                let refs = Self::references_to(&repos, &image.id);
                let has_tag = refs.iter().any(|r| !r.is_digest());
                if refs.is_empty() {
                    vec![image.id.clone()]
                } else if all || !has_tag {
                    refs.into_iter().map(|r| r.key).collect()
                } else {
                    Vec::new()
                }
            };
            for n in names {
                match self.remove(&n, false, users) {
                    Ok(entries) => deleted.extend(entries),
                    Err(e) if e.kind == RemoveErrorKind::Other => crate::log::line(crate::log::Level::Error, "failed to prune image", &[("image", &n.to_string()), ("error", &e.to_string())]),
                    Err(_) => {}
                }
            }
        }
        let mut reclaimed: u64 = deleted.iter().filter_map(|d| d["Deleted"].as_str()).filter_map(|c| sizes.get(c)).sum();
        match self.delete_unheld() {
            Ok((layers, bytes)) => {
                deleted.extend(layers.iter().map(|c| json!({ "Deleted": c })));
                reclaimed += bytes;
            }
            Err(e) => crate::log::error(&format!("pruning unused layers: {e}")),
        }
        (deleted, reclaimed)
    }

    /// `docker system df`'s LayersSize and each image's SharedSize (bytes of its layers other
    /// images list too). LayersSize is Docker's (the layers images list) plus what only
    /// prune reclaims (layers nothing holds, abandoned downloads), so `df` shows it as
    /// reclaimable.
    pub fn disk_usage(&self) -> (u64, HashMap<String, u64>) {
        let sizes = self.layer_sizes();
        let counts = self.image_layer_counts();
        let listed: u64 = counts.keys().filter_map(|c| sizes.get(c)).sum();
        let shared = self
            .image_ids()
            .into_iter()
            .map(|hex| {
                let bytes = self.chains_of_image(&hex).iter().filter(|c| counts.get(*c).is_some_and(|n| *n > 1)).filter_map(|c| sizes.get(c)).sum();
                (format!("sha256:{hex}"), bytes)
            })
            .collect();
        (listed + self.unheld_bytes(), shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(repo: &str, key: &str) -> Ref {
        Ref { repo: repo.into(), key: key.into() }
    }

    #[test]
    fn single_reference_as_docker_counts_it() {
        assert!(!is_single_reference(&[]));
        assert!(is_single_reference(&[r("a", "a:1")]));
        assert!(is_single_reference(&[r("a", "a@sha256:x")]));
        assert!(is_single_reference(&[r("a", "a:1"), r("a", "a@sha256:x")]));
        assert!(!is_single_reference(&[r("a", "a:1"), r("a", "a:2")]));
        assert!(!is_single_reference(&[r("a", "a:1"), r("b", "b@sha256:x")]));
        assert!(!is_single_reference(&[r("a", "a@sha256:x"), r("b", "b@sha256:y")]));
        // Two tags of nothing but digests elsewhere: Docker's rule is about one tag only.
        assert!(!is_single_reference(&[r("a", "a:1"), r("a", "a@sha256:x"), r("b", "b@sha256:y")]));
    }
}
