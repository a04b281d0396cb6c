//! Picks the directory to embed: web/dist when the Vite build is there, else
//! a placeholder so a fresh clone still compiles (the console page then
//! answers 503 with the command to run). IRONRACK_WEB_REQUIRED=1 turns the
//! missing build into a build error (release builds, CI).

use std::path::PathBuf;

const BUILD_CMD: &str = "npm --prefix web ci && npm --prefix web run build";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../web/dist");
    // A directory: cargo rescans it for changes (a missing path reruns every build).
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-env-changed=IRONRACK_WEB_REQUIRED");
    let embed = if dist.join("console/index.html").is_file() {
        dist.canonicalize().expect("web/dist is readable")
    } else {
        if std::env::var("IRONRACK_WEB_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("web/dist/console/index.html is missing: run `{BUILD_CMD}` first");
        }
        println!(
            "cargo:warning=web/dist is missing: the console page will answer 503; run `{BUILD_CMD}` and rebuild"
        );
        manifest.join("placeholder")
    };
    println!("cargo:rustc-env=IRONRACK_WEB_DIST={}", embed.display());
}
