//! What a session's home holds before anything starts: the X cookie, a
//! Firefox profile already logged in to the BMC (its session cookies in
//! `cookies.sqlite`, the BMC's certificate override when the template
//! allows an unverified one), or the JNLP and IcedTea-Web's settings.

use std::path::Path;

use reqwest::Url;

use crate::login::Cookie;

/// An Xauthority file with one `MIT-MAGIC-COOKIE-1` for display `display`
/// on any host (FamilyWild), the format libXau reads.
pub fn xauthority(display: u32, cookie: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut field = |b: &[u8]| {
        out.extend_from_slice(&u16::try_from(b.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(b);
    };
    field(&[]);
    field(display.to_string().as_bytes());
    field(b"MIT-MAGIC-COOKIE-1");
    field(cookie);
    let mut file = 0xFFFFu16.to_be_bytes().to_vec();
    file.extend_from_slice(&out);
    file
}

/// Preferences of a kiosk that talks only to the BMC: no first-run pages,
/// no telemetry, updates, safe browsing or other calls home, no session
/// restore.
pub const FIREFOX_PREFS: &str = r#"user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "");
user_pref("startup.homepage_welcome_url.additional", "");
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("browser.tabs.warnOnClose", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.region.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("dom.push.enabled", false);
user_pref("services.settings.server", "data:,");
user_pref("browser.translations.enable", false);
user_pref("media.gmp-manager.url", "data:,");
user_pref("signon.rememberSignons", false);
"#;

/// Firefox's cookie table. Firefox opens a database whose `user_version`
/// it knows and migrates older ones; these are the columns of schema 17
/// (Firefox 153) plus `rawSameSite` of earlier ones, so older versions find
/// every column they select.
const COOKIE_SCHEMA: &str = "CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER, isSecure INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, rawSameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER DEFAULT 0, updateTime INTEGER, CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes)); PRAGMA user_version = 17;";

/// Writes the BMC's session cookies into `profile/cookies.sqlite`.
pub fn write_cookies(
    profile: &Path,
    origin: &Url,
    cookies: &[Cookie],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let db = rusqlite::Connection::open(profile.join("cookies.sqlite"))?;
    db.execute_batch(COOKIE_SCHEMA)?;
    let host = origin.host_str().unwrap_or_default();
    let https = origin.scheme() == "https";
    let now_us = now_ms.saturating_mul(1000);
    // A day ahead. In milliseconds, which Firefox 13x+ expects; an older
    // Firefox reading seconds sees a far future, never a past.
    let expiry = now_ms + 86_400_000;
    for c in cookies {
        db.execute(
            "INSERT OR REPLACE INTO moz_cookies (originAttributes, name, value, host, path, expiry, lastAccessed, creationTime, isSecure, isHttpOnly, sameSite, schemeMap, updateTime) VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, 0, ?9, ?6)",
            rusqlite::params![
                c.name,
                c.value,
                host,
                c.path,
                expiry,
                now_us,
                c.secure,
                c.http_only,
                if https { 2 } else { 1 }
            ],
        )?;
    }
    Ok(())
}

/// `cert_override.txt`: accept exactly this certificate for the BMC's
/// host:port (what clicking through the warning would store).
pub fn cert_override(origin: &Url, sha256: &[u8; 32]) -> String {
    let fp: Vec<String> = sha256.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "# PSM Certificate Override Settings file\n# This is a generated file!  Do not edit.\n{}:{}:\tOID.2.16.840.1.101.3.4.2.1\t{}\t\n",
        origin.host_str().unwrap_or_default(),
        origin.port_or_known_default().unwrap_or(443),
        fp.join(":")
    )
}

/// IcedTea-Web's settings for a BMC viewer, as nojava sets them with
/// `itweb-settings`: run unsigned viewers, no host-mismatch or expiry
/// prompts, no manifest attribute checks.
const ICEDTEA_SETTINGS: &str = "deployment.security.level=ALLOW_UNSIGNED
deployment.security.jsse.hostmismatch.warning=false
deployment.manifest.attributes.check=NONE
deployment.security.expired.warning=false
deployment.security.notinca.warning=false
deployment.log=false
";

/// `deployment.properties` of a session: [`ICEDTEA_SETTINGS`] and the JVM
/// that `javaws` is to run on (its launcher reads `deployment.jre.dir`
/// from this file; the session's environment has no `JAVA_HOME` to
/// override it).
pub fn icedtea_settings(jre: &Path) -> String {
    format!("{ICEDTEA_SETTINGS}deployment.jre.dir={}\n", jre.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xauthority_layout() {
        let x = xauthority(220, &[7; 16]);
        assert_eq!(&x[..2], &[0xFF, 0xFF]);
        assert_eq!(&x[2..4], &[0, 0], "empty address");
        assert_eq!(&x[4..9], b"\0\x03220");
        assert_eq!(&x[9..29], b"\0\x12MIT-MAGIC-COOKIE-1");
        assert_eq!(&x[29..31], &[0, 16]);
        assert_eq!(x.len(), 31 + 16);
    }

    #[test]
    fn cookies_land_in_the_table_firefox_reads() {
        let dir = std::env::temp_dir().join(format!("ironrack-ck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let origin = Url::parse("https://10.1.2.3:8443").unwrap();
        let c = Cookie {
            name: "SID".into(),
            value: "v".into(),
            path: "/".into(),
            secure: true,
            http_only: true,
        };
        write_cookies(&dir, &origin, &[c], 1_000).unwrap();
        let db = rusqlite::Connection::open(dir.join("cookies.sqlite")).unwrap();
        let row: (String, String, i64, i64, i64) = db
            .query_row(
                "SELECT name, host, isSecure, schemeMap, expiry FROM moz_cookies",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, ("SID".into(), "10.1.2.3".into(), 1, 2, 86_401_000));
        let v: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 17);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            icedtea_settings(Path::new("/opt/jvm/8"))
                .ends_with("deployment.log=false\ndeployment.jre.dir=/opt/jvm/8\n")
        );
        assert!(
            cert_override(&origin, &[0xAB; 32])
                .contains("10.1.2.3:8443:\tOID.2.16.840.1.101.3.4.2.1\tAB:AB:")
        );
    }
}
