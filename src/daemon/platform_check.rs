//! Whether an image is for this machine's CPU, as Docker's create checks it: with no
//! `platform` asked for, an image of another platform is created with a warning (it may still
//! run under binfmt emulation); with `platform` asked for, an image of another platform is
//! "not found", so the client pulls the wanted one.

use crate::registry::{host_platform, Platform};
use serde_json::Value;

/// The platform an image's config names (`os`, `architecture`, `variant`).
pub fn of_image(config: &Value) -> Platform {
    let field = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let variant = field("variant");
    Platform { os: field("os"), architecture: field("architecture"), variant: (!variant.is_empty()).then_some(variant) }
}

/// This machine's platform as Docker formats it (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`).
pub fn host() -> Platform {
    let (arch, variant) = host_platform();
    Platform { os: "linux".into(), architecture: arch.into(), variant: variant.map(str::to_string) }
}

/// The number of an arm variant (`v7` -> 7).
fn arm_level(variant: Option<&str>) -> Option<u32> {
    variant.and_then(|v| v.strip_prefix('v')).and_then(|n| n.parse().ok())
}

/// Whether `host` runs images of `image`'s platform natively: the same os and architecture
/// with a variant the CPU covers (arm64 is v8 whatever it says; arm/v7 runs v7, v6 and v5
/// images), and on arm64 also 32-bit arm images (AArch32), as containerd's matcher.
pub fn runs_on(host: &Platform, image: &Platform) -> bool {
    if !image.os.is_empty() && image.os != host.os {
        return false;
    }
    let image_level = arm_level(image.variant.as_deref());
    match (host.architecture.as_str(), image.architecture.as_str()) {
        ("arm64", "arm64") => image.variant.as_deref().is_none_or(|v| v == "v8"),
        ("arm64", "arm") => image_level.is_none_or(|n| n <= 8),
        ("arm", "arm") => image_level.is_none_or(|n| n <= arm_level(host.variant.as_deref()).unwrap_or(7)),
        (h, i) => h == i,
    }
}

/// Whether `image` is what `--platform wanted` asked for: the same os and architecture, and
/// the same variant when one was asked for (arm64's v8 is the same as none).
pub fn is_wanted(wanted: &Platform, image: &Platform) -> bool {
    let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", Some("v8")) => None,
        (_, v) => v.map(str::to_string),
    };
    let os_ok = image.os.is_empty() || image.os == wanted.os;
    os_ok && image.architecture == wanted.architecture && (wanted.variant.is_none() || norm(wanted) == norm(image))
}

/// Docker's warning for an image of another platform created without `--platform`.
pub fn mismatch_warning(image: &Platform) -> String {
    format!("The requested image's platform ({image}) does not match the detected host platform ({}) and no specific platform was requested", host())
}

/// Docker's "not found" for an image present but of another platform than `--platform`'s.
pub fn not_wanted_error(reference: &str, wanted: &Platform, image: &Platform) -> String {
    format!("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {image}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        let mut parts = s.split('/');
        let os = parts.next().unwrap().to_string();
        let architecture = parts.next().unwrap().to_string();
        Platform { os, architecture, variant: parts.next().map(str::to_string) }
    }

    #[test]
    fn each_cpu_runs_its_own_images_and_arm64_runs_32_bit_arm() {
        for (host, image, runs) in [
            ("linux/amd64", "linux/amd64", true),
            ("linux/amd64", "linux/arm64", false),
            ("linux/amd64", "linux/arm/v7", false),
            ("linux/arm64/v8", "linux/arm64", true),
            ("linux/arm64/v8", "linux/arm64/v8", true),
            ("linux/arm64/v8", "linux/arm/v7", true),
            ("linux/arm64/v8", "linux/amd64", false),
            ("linux/arm/v7", "linux/arm/v7", true),
            ("linux/arm/v7", "linux/arm/v5", true),
            ("linux/arm/v7", "linux/arm", true),
            ("linux/arm/v7", "linux/arm64/v8", false),
            ("linux/arm/v6", "linux/arm/v7", false),
            ("linux/arm/v7", "windows/arm/v7", false),
        ] {
            assert_eq!(runs_on(&p(host), &p(image)), runs, "{host} running {image}");
        }
    }

    #[test]
    fn the_wanted_platform_matches_on_arch_and_asked_variant() {
        assert!(is_wanted(&p("linux/arm64"), &p("linux/arm64/v8")));
        assert!(is_wanted(&p("linux/arm64/v8"), &p("linux/arm64")));
        assert!(is_wanted(&p("linux/arm"), &p("linux/arm/v6")));
        assert!(!is_wanted(&p("linux/arm/v7"), &p("linux/arm/v6")));
        assert!(!is_wanted(&p("linux/amd64"), &p("linux/arm64")));
    }

    #[test]
    fn the_texts_are_dockers() {
        let image = p("linux/arm/v7");
        assert_eq!(not_wanted_error("busybox", &p("linux/arm64"), &image), "image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/arm/v7");
        let w = mismatch_warning(&image);
        assert!(w.starts_with("The requested image's platform (linux/arm/v7) does not match the detected host platform (linux/"), "{w}");
        assert!(w.ends_with(") and no specific platform was requested"), "{w}");
    }
}
