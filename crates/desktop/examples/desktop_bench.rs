//! `bench/desktop.sh`: how long a desktop session takes from start (BMC
//! login included) to its VNC socket and to the first frame that shows the
//! BMC's page (kiosk Firefox) or Java window (javaws), and how much memory
//! its processes use then (RSS and PSS summed over the session's uid, from
//! /proc). Against the test BMC web server of `ironrack_desktop::testing`.
//!
//! Environment: ROUNDS (3), UID_BASE (61300), DISPLAY_BASE (230).

use std::path::Path;
use std::time::{Duration, Instant};

use ironrack_desktop::testing::{
    self, FrameReader, JAVA_RGB, PAGE_RGB, PASSWORD, RFB_SETUP, TEMPLATES, USER, covers,
    rfb_full_request,
};
use ironrack_desktop::{DesktopConfig, Desktops, StartRequest, Templates, parse_origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSS and PSS (KiB) summed over the processes of `uid`.
fn memory(uid: u32) -> (usize, u64, u64) {
    let pids = ironrack_desktop::processes_of(uid);
    let (mut rss, mut pss) = (0, 0);
    for pid in &pids {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        for l in text.lines() {
            let kib = |p: &str| {
                l.strip_prefix(p)
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(v) = kib("Rss:") {
                rss += v;
            } else if let Some(v) = kib("Pss:") {
                pss += v;
            }
        }
    }
    (pids.len(), rss, pss)
}

async fn read(s: &mut UnixStream, n: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; n];
    s.read_exact(&mut out).await.map_err(|e| e.to_string())?;
    Ok(out)
}

/// RFB 3.8 with x11vnc (security None), then frames until `done`.
async fn first_frame(socket: &Path, done: impl Fn(&[[u8; 3]]) -> bool) -> Result<(), String> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    read(&mut s, 12).await?;
    s.write_all(b"RFB 003.008\n")
        .await
        .map_err(|e| e.to_string())?;
    let n = read(&mut s, 1).await?[0];
    let types = read(&mut s, usize::from(n)).await?;
    if !types.contains(&1) {
        return Err(format!("x11vnc offers security types {types:?}, not None"));
    }
    s.write_all(&[1]).await.map_err(|e| e.to_string())?;
    read(&mut s, 4).await?;
    s.write_all(&[1]).await.map_err(|e| e.to_string())?;
    let init = read(&mut s, 24).await?;
    let w = u16::from_be_bytes([init[0], init[1]]);
    let h = u16::from_be_bytes([init[2], init[3]]);
    let name = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    read(&mut s, name).await?;
    s.write_all(&RFB_SETUP).await.map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        s.write_all(&rfb_full_request(w, h))
            .await
            .map_err(|e| e.to_string())?;
        let mut r = FrameReader::new(w, h);
        loop {
            let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("x11vnc closed the connection".into());
            }
            if r.feed(&buf[..n])? {
                break;
            }
        }
        if done(r.screen()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let px = r.screen();
            let mut seen: Vec<[u8; 3]> = px.iter().step_by(997).copied().collect();
            seen.dedup();
            return Err(format!(
                "no frame with the expected colour in 60 s; some pixels: {seen:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    if let Some(m) = testing::missing_tools() {
        return Err(format!("desktop sessions need {m}"));
    }
    let rounds = env_u32("ROUNDS", 3);
    let work = std::env::temp_dir().join(format!("ironrack-desktop-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let bmc = testing::start_bmc(&work).await?;
    let mut templates = Templates::built_in();
    templates
        .add_text(Path::new("bench"), TEMPLATES, true)
        .map_err(|e| e.to_string())?;
    let mut cfg = DesktopConfig::new(work.join("rt"));
    cfg.uid_base = env_u32("UID_BASE", 61_300);
    cfg.display_base = env_u32("DISPLAY_BASE", 230);
    cfg.slots = 1;
    let desktops = Desktops::new(cfg, templates).map_err(|e| e.to_string())?;
    println!(
        "{:<10} {:>5} {:>9} {:>14} {:>6} {:>8} {:>8} {:>11}",
        "template",
        "round",
        "vnc_ms",
        "first_frame_ms",
        "procs",
        "rss_mib",
        "pss_mib",
        "teardown_ms"
    );
    for template in ["test-html5", "test-java"] {
        for round in 1..=rounds {
            let t0 = Instant::now();
            let d = desktops
                .start(StartRequest {
                    template,
                    origin: parse_origin(&bmc.url)?,
                    user: USER,
                    password: PASSWORD,
                    resolution: None,
                })
                .await
                .map_err(|e| e.to_string())?;
            let vnc = t0.elapsed();
            let java = template == "test-java";
            // The page fills the screen; the 800x600 window most of it.
            first_frame(d.vnc_socket(), |s| {
                if java {
                    covers(s, JAVA_RGB, 25)
                } else {
                    covers(s, PAGE_RGB, 90)
                }
            })
            .await
            .map_err(|e| {
                let log = std::fs::read_to_string(d.home().join("viewer.log")).unwrap_or_default();
                format!("{template}: {e}; viewer log: {log}")
            })?;
            let frame = t0.elapsed();
            let (procs, rss, pss) = memory(d.uid());
            let t1 = Instant::now();
            d.close().await;
            println!(
                "{:<10} {:>5} {:>9} {:>14} {:>6} {:>8.1} {:>8.1} {:>11}",
                template.trim_start_matches("test-"),
                round,
                vnc.as_millis(),
                frame.as_millis(),
                procs,
                rss as f64 / 1024.0,
                pss as f64 / 1024.0,
                t1.elapsed().as_millis()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
