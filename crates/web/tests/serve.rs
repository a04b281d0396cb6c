//! The embedded pages over a real HTTP listener, requested with raw HTTP/1.1
//! so paths reach the server exactly as written (no client-side clean-up of
//! `..` or percent escapes). Needs the Vite build (`npm --prefix web run build`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn serve() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = ironrack_web::router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn require_build() {
    assert!(
        ironrack_web::is_built(),
        "web/dist was not embedded: run `npm --prefix web ci && npm --prefix web run build` before cargo test"
    );
}

/// The asset paths the console page references (`/assets/console-<hash>.js` ...).
fn referenced_assets(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn console_page_is_not_cached_and_its_assets_are() {
    require_build();
    let addr = serve().await;
    let page = get(addr, "/console/?id=1").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("connect-src 'self'")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("id=\"status\""), "{html}");

    let assets = referenced_assets(&html);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "no script in {html}"
    );
    assert!(
        assets.iter().any(|a| a.ends_with(".css")),
        "no stylesheet in {html}"
    );
    for a in &assets {
        let r = get(addr, a).await;
        assert_eq!(r.status, 200, "{a}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{a}"
        );
        let want = if a.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(r.header("content-type"), Some(want), "{a}");
        assert!(!r.body.is_empty());
    }

    let redirect = get(addr, "/console").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/console/"));
}

#[tokio::test]
async fn traversal_and_unknown_paths_are_404() {
    require_build();
    let addr = serve().await;
    for path in [
        "/assets/..%2fconsole%2findex.html",
        "/assets/..%2F..%2FCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%5c..%5cCargo.toml",
        "/assets/.%2fconsole-x.js",
        "/assets/%2fetc%2fpasswd",
        "/assets/a%00b.js",
        "/assets/",
        "/assets/missing-123.js",
        "/console/..%2fassets",
        "/console/index.html/..%2f..%2fCargo.toml",
        "/console.html",
        "/index.html",
    ] {
        let r = get(addr, path).await;
        assert!(
            r.status == 404 || r.status == 400,
            "{path} answered {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("[workspace]"),
            "{path} leaked a file"
        );
    }
}
