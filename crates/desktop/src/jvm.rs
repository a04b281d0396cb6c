//! Which JVM runs a session's JNLP. nojava-ipmi-kvm picks a Docker image
//! per `java_version`; here the template's version picks one of the JVMs
//! installed in the configured directories (`/usr/lib/jvm` by default; a
//! hoster adds e.g. a Java 8 there), and `javaws` runs on it through
//! IcedTea-Web's `deployment.jre.dir`.
//!
//! IcedTea-Web's `javaws` (1.8, Debian's icedtea-netx) is Java 8 bytecode
//! and always starts its JVM with `-Djava.security.manager`, which Java 24
//! and later refuse to start with (JEP 486): only Java 8 to 23 can run it.
//!
//! Old viewers (the template asks for Java 8 or older) get a per-session
//! `java.security` override: today's JVMs refuse TLS 1.0/1.1, 3DES, SHA-1
//! signed jars and small keys, which is what such BMCs offer. Nothing else
//! on the machine changes.
//!
//! `requested_major`, `choose` and the override are pure; `scan` reads the
//! directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest and newest Java major that IcedTea-Web's `javaws` runs on.
pub const JAVAWS_MIN: u32 = 8;
pub const JAVAWS_MAX: u32 = 23;

/// An installed JVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jvm {
    /// Its home (with `bin/java`), symlinks resolved.
    pub home: PathBuf,
    /// As the JVM states it: `1.8.0_242`, `11.0.13`, `17.0.15`.
    pub version: String,
    pub major: u32,
    /// Why a session cannot use it, if it cannot.
    pub unusable: Option<String>,
}

impl std::fmt::Display for Jvm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Java {} ({})", self.version, self.home.display())?;
        if let Some(why) = &self.unusable {
            write!(f, " [{why}]")?;
        }
        Ok(())
    }
}

/// The JVM chosen for one session, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub jvm: Jvm,
    /// For the session's log: what was asked and why this one.
    pub why: String,
    /// Relax the JVM's security settings for this session (see
    /// [`LEGACY_SECURITY`]).
    pub legacy: bool,
}

/// The major version in a template's `java_version`, as nojava writes it:
/// `7u181`, `8u242`, `8u242-oracle`, `11.0.6`, `1.8.0_242`, `17`.
pub fn requested_major(v: &str) -> Option<u32> {
    let v = v.trim();
    let v = v.split_once('-').map_or(v, |(a, _)| a);
    let v = v.strip_prefix("1.").unwrap_or(v);
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let rest = &v[digits.len()..];
    if !(rest.is_empty() || rest.starts_with(['u', '.', '_'])) {
        return None;
    }
    digits.parse().ok().filter(|m| (1..=99).contains(m))
}

/// The JVM for `requested` among `installed`: the same major (the newest
/// such), else the nearest newer major; never one that `javaws` cannot
/// run. The error names what was asked and what is installed.
pub fn choose(requested: &str, installed: &[Jvm]) -> Result<Choice, String> {
    let want = requested_major(requested).ok_or_else(|| {
        format!(
            "the template's java_version `{requested}` names no Java version (e.g. 8u242, 11.0.6)"
        )
    })?;
    let usable = || installed.iter().filter(|j| j.unusable.is_none());
    let newest = |major: u32| {
        usable()
            .filter(|j| j.major == major)
            .max_by(|a, b| version_key(&a.version).cmp(&version_key(&b.version)))
    };
    let (jvm, how) = match newest(want) {
        Some(j) => (j, "the same major version".to_owned()),
        None => {
            let next = usable()
                .map(|j| j.major)
                .filter(|&m| m > want)
                .min()
                .and_then(newest);
            match next {
                Some(j) => (
                    j,
                    format!("no Java {want} is installed, this is the nearest newer one"),
                ),
                None => {
                    let list = if installed.is_empty() {
                        "none".to_owned()
                    } else {
                        installed
                            .iter()
                            .map(Jvm::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(format!(
                        "no JVM for the template's java_version `{requested}` (Java {want} or newer, up to {JAVAWS_MAX}, which javaws runs on); installed: {list} (install one, or add its directory to --desktop-jvm-dirs)"
                    ));
                }
            }
        }
    };
    let legacy = want <= 8;
    let mut why = format!(
        "the template asks for Java {requested}; Java {} at {} is {how}",
        jvm.version,
        jvm.home.display()
    );
    if legacy {
        why.push_str("; legacy TLS versions and algorithms re-enabled for this session");
    }
    Ok(Choice {
        jvm: jvm.clone(),
        why,
        legacy,
    })
}

/// `1.8.0_242` → [8, 0, 242]; `17.0.15` → [17, 0, 15].
fn version_key(v: &str) -> Vec<u32> {
    let v = v.strip_prefix("1.").unwrap_or(v);
    v.split(['.', '_', '+', '-'])
        .map_while(|p| p.parse().ok())
        .collect()
}

/// A per-session `java.security` override (passed with
/// `-Djava.security.properties`, which adds to the JVM's own file): the
/// algorithms today's JVMs disable that old BMCs use: TLS 1.0 and 1.1,
/// 3DES, SHA-1 and 1024-bit RSA in certificate chains and signed jars,
/// DH groups down to 768 bits. SSLv3, RC4, DES, anonymous and NULL suites
/// stay off.
pub const LEGACY_SECURITY: &str = "# ironrack: this session's viewer asked for Java 8 or older.
jdk.tls.disabledAlgorithms=SSLv3, RC4, DES, MD5withRSA, DH keySize < 768, EC keySize < 224, anon, NULL
jdk.certpath.disabledAlgorithms=MD2, MD5, RSA keySize < 1024, DSA keySize < 1024, EC keySize < 224
jdk.jar.disabledAlgorithms=MD2, MD5, RSA keySize < 1024, DSA keySize < 1024
";

/// The version a JVM home states: its `release` file's `JAVA_VERSION`, else
/// what `bin/java -version` prints.
fn version_of(home: &Path) -> Option<String> {
    if let Ok(text) = fs::read_to_string(home.join("release")) {
        for l in text.lines() {
            if let Some(v) = l.strip_prefix("JAVA_VERSION=") {
                return Some(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    let out = Command::new(home.join("bin/java"))
        .arg("-version")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next()?;
    let start = first.find('"')? + 1;
    let end = start + first[start..].find('"')?;
    Some(first[start..end].to_owned())
}

/// Whether a session's uid (neither owner nor group) may run `java` here:
/// every directory above it searchable by others, `java` executable by
/// others.
fn others_may_run(java: &Path) -> bool {
    let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode()).ok();
    mode(java).is_some_and(|m| m & 0o001 != 0)
        && java
            .ancestors()
            .skip(1)
            .all(|a| mode(a).is_some_and(|m| m & 0o001 != 0))
}

/// The JVMs in `dirs`: each directory is a JVM home itself or holds JVM
/// homes (as `/usr/lib/jvm` does). Symlinked duplicates count once.
pub fn scan(dirs: &[PathBuf]) -> Vec<Jvm> {
    let mut homes: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if d.join("bin/java").is_file() {
            homes.push(d.clone());
            continue;
        }
        let Ok(rd) = fs::read_dir(d) else { continue };
        let mut children: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("bin/java").is_file())
            .collect();
        children.sort();
        homes.extend(children);
    }
    let mut out: Vec<Jvm> = Vec::new();
    for h in homes {
        let Ok(home) = h.canonicalize() else { continue };
        if out.iter().any(|j| j.home == home) {
            continue;
        }
        let Some(version) = version_of(&home) else {
            continue;
        };
        let Some(major) = requested_major(&version) else {
            continue;
        };
        let unusable = if !(JAVAWS_MIN..=JAVAWS_MAX).contains(&major) {
            Some(format!(
                "javaws runs only on Java {JAVAWS_MIN} to {JAVAWS_MAX}"
            ))
        } else if !others_may_run(&home.join("bin/java")) {
            Some("not reachable by the session uids".to_owned())
        } else {
            None
        };
        out.push(Jvm {
            home,
            version,
            major,
            unusable,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jvm(version: &str, home: &str) -> Jvm {
        let major = requested_major(version).unwrap();
        Jvm {
            home: home.into(),
            version: version.into(),
            major,
            unusable: (!(JAVAWS_MIN..=JAVAWS_MAX).contains(&major))
                .then(|| "javaws runs only on Java 8 to 23".to_owned()),
        }
    }

    #[test]
    fn versions_as_nojava_and_jvms_write_them() {
        for (v, m) in [
            ("7u181", 7),
            ("8u242", 8),
            ("8u242-oracle", 8),
            ("7u51-openjdk", 7),
            ("11.0.6", 11),
            ("1.8.0_242", 8),
            ("1.7.0_181", 7),
            ("17", 17),
            ("25.0.3", 25),
        ] {
            assert_eq!(requested_major(v), Some(m), "{v}");
        }
        for bad in ["", "java8", "u242", "8x", "0"] {
            assert_eq!(requested_major(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_same_major_first_then_the_nearest_newer() {
        let installed = [
            jvm("17.0.15", "/usr/lib/jvm/java-17"),
            jvm("1.8.0_242", "/opt/jvm/8u242"),
            jvm("1.8.0_402", "/opt/jvm/8u402"),
            jvm("11.0.13", "/opt/jvm/11"),
            jvm("25.0.3", "/usr/lib/jvm/temurin-25"),
        ];
        let c = choose("8u181", &installed).unwrap();
        assert_eq!(c.jvm.version, "1.8.0_402", "the newest Java 8");
        assert!(c.legacy && c.why.contains("same major"), "{}", c.why);
        let c = choose("11.0.6", &installed).unwrap();
        assert_eq!((c.jvm.major, c.legacy), (11, false));
        let c = choose("7u181", &installed).unwrap();
        assert_eq!(c.jvm.major, 8);
        assert!(c.legacy && c.why.contains("no Java 7"), "{}", c.why);
        let c = choose("12", &installed).unwrap();
        assert_eq!(c.jvm.major, 17, "the nearest newer one javaws runs on");
        // Java 25 is installed but cannot run javaws: no fit for 21.
        let e = choose("21", &installed).unwrap_err();
        assert!(e.contains("`21`") && e.contains("Java 25.0.3"), "{e}");
        assert!(e.contains("javaws runs only on Java 8 to 23"), "{e}");
        assert!(
            choose("8u242", &[])
                .unwrap_err()
                .contains("installed: none")
        );
        assert!(choose("latest", &installed).is_err());
    }

    /// The override as a real JVM reads it: TLS 1.0 and 3DES come back,
    /// SSLv3 stays off.
    #[test]
    fn a_real_jvm_takes_the_legacy_override() {
        let java = Path::new("/usr/bin/java");
        if !java.exists() {
            eprintln!("skipped: no /usr/bin/java");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ironrack-jvm-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("java.security"), LEGACY_SECURITY).unwrap();
        fs::write(
            dir.join("Probe.java"),
            "public class Probe { public static void main(String[] a) throws Exception {\n\
             javax.net.ssl.SSLParameters p = javax.net.ssl.SSLContext.getDefault().getDefaultSSLParameters();\n\
             System.out.println(String.join(\",\", p.getProtocols()));\n\
             System.out.println(String.join(\",\", p.getCipherSuites()));\n} }\n",
        )
        .unwrap();
        let run = |extra: &[String]| {
            let out = Command::new(java)
                .args(extra)
                .arg(dir.join("Probe.java"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let stock = run(&[]);
        let legacy = run(&[format!(
            "-Djava.security.properties={}",
            dir.join("java.security").display()
        )]);
        fs::remove_dir_all(&dir).unwrap();
        let protocols = |s: &str| s.lines().next().unwrap_or_default().to_owned();
        assert!(!protocols(&stock).contains("TLSv1,"), "{stock}");
        assert!(protocols(&legacy).contains("TLSv1.1"), "{legacy}");
        assert!(
            protocols(&legacy).split(',').any(|p| p == "TLSv1"),
            "{legacy}"
        );
        assert!(!protocols(&legacy).contains("SSLv3"), "{legacy}");
        assert!(legacy.contains("3DES_EDE_CBC") && !stock.contains("3DES_EDE_CBC"));
    }

    #[test]
    fn scans_this_machines_jvms() {
        // Whatever is installed: each found once, with a parsed version.
        let found = scan(&["/usr/lib/jvm".into(), "/usr/lib/jvm".into()]);
        let mut homes: Vec<_> = found.iter().map(|j| &j.home).collect();
        homes.dedup();
        assert_eq!(homes.len(), found.len());
        for j in &found {
            assert!(j.major >= 1 && !j.version.is_empty(), "{j}");
        }
    }
}
