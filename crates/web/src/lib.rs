//! ironrack's browser pages, built by Vite into web/dist and embedded in the
//! binary (include_dir: the files become static byte slices, no runtime
//! disk access, nothing to deploy next to the binary).
//!
//! Routes: `/console/` (the console page; `/console/ws/...` belongs to the
//! gateway) and `/assets/{file}` (Vite's content-hashed JS/CSS, cached for a
//! year). HTML is `no-store`: a new binary must never be paired with a cached
//! page that references assets it no longer has.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};

static DIST: Dir<'static> = include_dir!("$IRONRACK_WEB_DIST");

const CONSOLE_INDEX: &str = "console/index.html";
const NOT_BUILT: &str = "the web UI was not built into this binary: run `npm --prefix web ci && npm --prefix web run build`, then rebuild ironrack\n";

/// Hashed assets never change under the same name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Pages may load scripts and styles from this origin only and connect only
/// back to it (the console WebSocket); xterm.js and noVNC set inline styles.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

/// Whether the Vite build was embedded (false: built without web/dist).
pub fn is_built() -> bool {
    DIST.get_file(CONSOLE_INDEX).is_some()
}

/// The static pages; merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(console_page))
        .route("/assets/{*path}", get(asset))
}

async fn console_page() -> Response {
    let Some(file) = DIST.get_file(CONSOLE_INDEX) else {
        return (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.contents(),
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    // The path is percent-decoded by now; the embedded map has no "..", but
    // refuse anything that is not a plain relative name explicitly.
    if !is_plain_relative(&path) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(file) = DIST.get_file(format!("assets/{path}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.contents(),
    )
        .into_response()
}

/// `a/b.js` yes; `../x`, `./x`, `/x`, `a\b`, `a//b`, NUL: no.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// The types Vite emits; anything else is served as opaque bytes.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_only() {
        assert!(is_plain_relative("console-abc.js"));
        assert!(is_plain_relative("fonts/x.woff2"));
        for bad in [
            "",
            "../x",
            "a/../b",
            "./a",
            "/etc/passwd",
            "a//b",
            "a\\..\\b",
            "a\0b",
            "a/..",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a-1.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a-1.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
