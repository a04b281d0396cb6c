//! Vendor templates in nojava-ipmi-kvm's configuration format, read as it
//! is: a YAML file with `templates` (name → keys), `hosts` (a template named
//! by `based_on` plus overrides; `full_hostname` is ignored, the server's
//! BMC record says where to go) and `general` (`x_resolution` is this
//! file's default resolution; the Docker keys are accepted and unused).
//!
//! Keys and defaults are nojava's: Supermicro-style login
//! (`cgi/login.cgi`, fields `name`/`pwd`), Java unless `html5_endpoint` is
//! set. Unknown keys are refused, naming the file and the key.
//!
//! ironrack's own additions (nojava's format has no logout; its container
//! simply ends, leaving the BMC's web session to time out): `logout_endpoint`
//! (a path on the BMC, requested with the login's cookies when the session
//! closes) and `logout_method` (`GET`, the default, `POST` or `DELETE`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A display size and depth, from a RES-style value: `1600x900x24` or
/// `1600x900` (depth 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
    pub depth: u32,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution {
            width: 1024,
            height: 768,
            depth: 24,
        }
    }
}

impl std::str::FromStr for Resolution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{s}` is not a resolution: use WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH (e.g. 1600x900x24), 640x480 to 3840x2160, depth 16 or 24"
            )
        };
        let parts: Vec<&str> = s.trim().split('x').collect();
        let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
        let (width, height, depth) = match parts.as_slice() {
            [w, h] => (num(w)?, num(h)?, 24),
            [w, h, d] => (num(w)?, num(h)?, num(d)?),
            _ => return Err(bad()),
        };
        if !(640..=3840).contains(&width)
            || !(480..=2160).contains(&height)
            || !matches!(depth, 16 | 24)
        {
            return Err(bad());
        }
        Ok(Resolution {
            width,
            height,
            depth,
        })
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.width, self.height, self.depth)
    }
}

/// What the desktop shows once logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Download a JNLP and run it with `javaws`.
    Java {
        download_endpoint: String,
        /// nojava picks a JRE image by it; here it picks an installed JVM
        /// (`jvm::choose`).
        java_version: String,
        /// Replace `{base_url}` and `{session_key}` in the JNLP.
        format_jnlp: bool,
    },
    /// Open this page of the BMC in a kiosk browser.
    Html5 { endpoint: String },
}

/// One resolved template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub skip_login: bool,
    /// Used when the BMC record has no user name.
    pub login_user: String,
    pub login_endpoint: String,
    pub allow_insecure_ssl: bool,
    pub user_field: String,
    pub password_field: String,
    pub send_post_data_as_json: bool,
    pub extra_login_fields: Vec<(String, String)>,
    pub session_cookie_key: Option<String>,
    /// ironrack's addition: where to log out when the session closes.
    pub logout: Option<LogoutSpec>,
    pub viewer: Viewer,
    /// The file's `general.x_resolution`, if any.
    pub resolution: Option<Resolution>,
}

/// How to end the BMC web session (ironrack's template keys
/// `logout_endpoint` and `logout_method`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutSpec {
    pub endpoint: String,
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
}

/// One entry of `templates` or `hosts`, every key optional so that a host
/// can override its template's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    based_on: Option<String>,
    full_hostname: Option<String>,
    skip_login: Option<bool>,
    login_user: Option<String>,
    login_endpoint: Option<String>,
    allow_insecure_ssl: Option<bool>,
    user_login_attribute_name: Option<String>,
    password_login_attribute_name: Option<String>,
    send_post_data_as_json: Option<bool>,
    extra_login_form_fields: Option<String>,
    session_cookie_key: Option<String>,
    download_endpoint: Option<String>,
    java_version: Option<String>,
    format_jnlp: Option<bool>,
    html5_endpoint: Option<String>,
    logout_endpoint: Option<String>,
    logout_method: Option<String>,
    /// nojava's HTML5 proxy patches the console's code to live under its
    /// path; a browser talking to the BMC directly needs no patching.
    #[allow(dead_code)]
    rewrites: Option<Vec<Rewrite>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Rewrite {
    search: String,
    replace: String,
    path_match: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct General {
    x_resolution: Option<String>,
    run_docker_with_sudo: Option<bool>,
    java_docker_image: Option<String>,
    html5_docker_image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    templates: BTreeMap<String, Entry>,
    #[serde(default)]
    hosts: BTreeMap<String, Entry>,
    #[serde(default)]
    general: General,
}

impl Entry {
    /// `self` over `base`.
    fn over(self, base: &Entry) -> Entry {
        let b = base.clone();
        Entry {
            based_on: self.based_on,
            full_hostname: self.full_hostname,
            skip_login: self.skip_login.or(b.skip_login),
            login_user: self.login_user.or(b.login_user),
            login_endpoint: self.login_endpoint.or(b.login_endpoint),
            allow_insecure_ssl: self.allow_insecure_ssl.or(b.allow_insecure_ssl),
            user_login_attribute_name: self
                .user_login_attribute_name
                .or(b.user_login_attribute_name),
            password_login_attribute_name: self
                .password_login_attribute_name
                .or(b.password_login_attribute_name),
            send_post_data_as_json: self.send_post_data_as_json.or(b.send_post_data_as_json),
            extra_login_form_fields: self.extra_login_form_fields.or(b.extra_login_form_fields),
            session_cookie_key: self.session_cookie_key.or(b.session_cookie_key),
            download_endpoint: self.download_endpoint.or(b.download_endpoint),
            java_version: self.java_version.or(b.java_version),
            format_jnlp: self.format_jnlp.or(b.format_jnlp),
            html5_endpoint: self.html5_endpoint.or(b.html5_endpoint),
            logout_endpoint: self.logout_endpoint.or(b.logout_endpoint),
            logout_method: self.logout_method.or(b.logout_method),
            rewrites: self.rewrites.or(b.rewrites),
        }
    }

    fn resolve(self, name: &str, resolution: Option<Resolution>) -> Result<Template, String> {
        let endpoint = |key: &str, v: Option<String>, default: &str| -> Result<String, String> {
            let v = v.unwrap_or_else(|| default.to_owned());
            check_endpoint(&v).map_err(|e| format!("`{key}`: {e}"))?;
            Ok(v)
        };
        let viewer = match self.html5_endpoint {
            Some(h) => Viewer::Html5 {
                endpoint: endpoint("html5_endpoint", Some(h), "")?,
            },
            None => Viewer::Java {
                download_endpoint: endpoint(
                    "download_endpoint",
                    self.download_endpoint,
                    "cgi/url_redirect.cgi?url_name=ikvm&url_type=jwsk",
                )?,
                java_version: self.java_version.unwrap_or_else(|| "7u181".into()),
                format_jnlp: self.format_jnlp.unwrap_or(false),
            },
        };
        if matches!(
            viewer,
            Viewer::Java {
                format_jnlp: true,
                ..
            }
        ) && self.session_cookie_key.is_none()
        {
            return Err("`format_jnlp` needs `session_cookie_key` (the cookie whose value replaces {session_key})".into());
        }
        let logout = match (self.logout_endpoint, self.logout_method) {
            (None, None) => None,
            (None, Some(_)) => return Err("`logout_method` needs `logout_endpoint`".into()),
            (Some(e), m) => {
                let method = m.unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
                if !matches!(method.as_str(), "GET" | "POST" | "DELETE") {
                    return Err(format!(
                        "`logout_method`: `{method}` is not GET, POST or DELETE"
                    ));
                }
                Some(LogoutSpec {
                    endpoint: endpoint("logout_endpoint", Some(e), "")?,
                    method,
                })
            }
        };
        if let Viewer::Java { java_version, .. } = &viewer
            && crate::jvm::requested_major(java_version).is_none()
        {
            return Err(format!(
                "`java_version`: `{java_version}` names no Java version (e.g. 8u242, 11.0.6)"
            ));
        }
        let extra_login_fields = match &self.extra_login_form_fields {
            None => Vec::new(),
            Some(s) => parse_extra_fields(s)?,
        };
        Ok(Template {
            name: name.to_owned(),
            skip_login: self.skip_login.unwrap_or(false),
            login_user: self.login_user.unwrap_or_else(|| "ADMIN".into()),
            login_endpoint: endpoint("login_endpoint", self.login_endpoint, "cgi/login.cgi")?,
            allow_insecure_ssl: self.allow_insecure_ssl.unwrap_or(false),
            user_field: self
                .user_login_attribute_name
                .unwrap_or_else(|| "name".into()),
            password_field: self
                .password_login_attribute_name
                .unwrap_or_else(|| "pwd".into()),
            send_post_data_as_json: self.send_post_data_as_json.unwrap_or(false),
            extra_login_fields,
            session_cookie_key: self.session_cookie_key,
            logout,
            viewer,
            resolution,
        })
    }
}

/// Endpoints are paths on the BMC: credentials and cookies never go to
/// another host.
fn check_endpoint(e: &str) -> Result<(), String> {
    if e.contains("://") || e.starts_with("//") {
        return Err(format!(
            "`{e}` is not a path on the BMC (endpoints are relative, e.g. cgi/login.cgi)"
        ));
    }
    if e.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!("`{e}` has spaces or control characters"));
    }
    Ok(())
}

/// `method:login,foo:bar`, nojava's comma-separated key:value list.
fn parse_extra_fields(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| {
                    format!("`extra_login_form_fields`: `{p}` is not key:value (e.g. method:login)")
                })
        })
        .collect()
}

/// A few templates from nojava's documented defaults, so that common BMCs
/// work without a file. A file's template of the same name wins. The
/// logouts are the vendors' web UIs' own (`GET` with the session cookie).
const BUILT_IN: &str = r#"
templates:
  supermicro-java:
    login_endpoint: cgi/login.cgi
    user_login_attribute_name: name
    password_login_attribute_name: pwd
    download_endpoint: cgi/url_redirect.cgi?url_name=ikvm&url_type=jwsk
    allow_insecure_ssl: True
    logout_endpoint: cgi/logout.cgi
  supermicro-html5:
    login_endpoint: cgi/login.cgi
    user_login_attribute_name: name
    password_login_attribute_name: pwd
    html5_endpoint: cgi/url_redirect.cgi?url_name=man_ikvm_html5_bootstrap
    allow_insecure_ssl: True
    logout_endpoint: cgi/logout.cgi
  ami-java:
    login_endpoint: rpc/WEBSES/create.asp
    user_login_attribute_name: WEBVAR_USERNAME
    password_login_attribute_name: WEBVAR_PASSWORD
    session_cookie_key: SessionCookie
    download_endpoint: Java/jviewer.jnlp
    allow_insecure_ssl: True
    logout_endpoint: rpc/WEBSES/logout.asp
"#;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading desktop templates from {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("desktop template file {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// Every template the agent knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    by_name: BTreeMap<String, Template>,
}

impl Templates {
    /// The built-in templates.
    pub fn built_in() -> Templates {
        let mut t = Templates::default();
        t.add_text(Path::new("<built-in>"), BUILT_IN, true)
            .unwrap_or_else(|e| unreachable!("built-in templates parse: {e}"));
        t
    }

    /// The built-ins, then every `*.yaml`/`*.yml` file in `dir` (or the one
    /// file `dir` names). Two files may not define the same name.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let io = |source| TemplateError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        if dir.is_file() {
            files.push(dir.to_owned());
        } else {
            for e in std::fs::read_dir(dir).map_err(io)? {
                let p = e.map_err(io)?.path();
                if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        let mut t = Templates::built_in();
        let mut from_files = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| TemplateError::Io {
                path: f.clone(),
                source,
            })?;
            let mut one = Templates::default();
            one.add_text(&f, &text, false)?;
            for (name, tpl) in one.by_name {
                if let Some(other) = from_files.insert(name.clone(), f.clone()) {
                    return Err(TemplateError::Invalid {
                        path: f,
                        detail: format!("template `{name}` is also defined in {}", other.display()),
                    });
                }
                t.by_name.insert(name, tpl);
            }
        }
        Ok(t)
    }

    /// Parses one nojava configuration file into this set.
    pub fn add_text(
        &mut self,
        path: &Path,
        text: &str,
        replace: bool,
    ) -> Result<(), TemplateError> {
        let invalid = |detail: String| TemplateError::Invalid {
            path: path.to_owned(),
            detail,
        };
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        let resolution = match &file.general.x_resolution {
            None => None,
            Some(r) => Some(
                r.parse::<Resolution>()
                    .map_err(|e| invalid(format!("general.x_resolution: {e}")))?,
            ),
        };
        let mut out = BTreeMap::new();
        for (name, e) in &file.templates {
            if e.based_on.is_some() || e.full_hostname.is_some() {
                return Err(invalid(format!(
                    "template `{name}`: `based_on` and `full_hostname` belong in `hosts`"
                )));
            }
            let t = e
                .clone()
                .resolve(name, resolution)
                .map_err(|d| invalid(format!("template `{name}`: {d}")))?;
            out.insert(name.clone(), t);
        }
        for (name, e) in &file.hosts {
            let base = match &e.based_on {
                None => Entry::default(),
                Some(b) => file.templates.get(b).cloned().ok_or_else(|| {
                    invalid(format!(
                        "host `{name}`: based_on `{b}` is not a template of this file"
                    ))
                })?,
            };
            if file.templates.contains_key(name) {
                return Err(invalid(format!("`{name}` is both a template and a host")));
            }
            let t = e
                .clone()
                .over(&base)
                .resolve(name, resolution)
                .map_err(|d| invalid(format!("host `{name}`: {d}")))?;
            out.insert(name.clone(), t);
        }
        for (name, t) in out {
            if !replace && self.by_name.contains_key(&name) {
                return Err(invalid(format!("template `{name}` is defined twice")));
            }
            self.by_name.insert(name, t);
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Template> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_EXAMPLE: &str = r#"
templates:
  kvm-openjdk-7u51:
    skip_login: False
    login_user: ADMIN
    login_endpoint: rpc/WEBSES/create.asp
    allow_insecure_ssl: False
    user_login_attribute_name: WEBVAR_USERNAME
    password_login_attribute_name: WEBVAR_PASSWORD
    send_post_data_as_json: False
    session_cookie_key: SessionCookie
    download_endpoint: Java/jviewer.jnlp
    java_version: 7u51
    format_jnlp: False
  html5-kvm:
    login_endpoint: api/login
    send_post_data_as_json: True
    extra_login_form_fields: "method:login, lang:en"
    html5_endpoint: cgi/url_redirect.cgi?url_name=man_ikvm_html5_bootstrap
    rewrites:
    - search: 'var path=""'
      replace: 'var path="{subdirectory}"'
      path_match: "/novnc/include/nav_ui\\.js$"
hosts:
  mykvmhost:
    based_on: kvm-openjdk-7u51
    full_hostname: mykvmhost.org
    allow_insecure_ssl: True
general:
  run_docker_with_sudo: False
  x_resolution: 1600x1200
"#;

    fn parse(text: &str) -> Result<Templates, TemplateError> {
        let mut t = Templates::default();
        t.add_text(Path::new("t.yaml"), text, false).map(|()| t)
    }

    #[test]
    fn reads_nojavas_own_example_as_it_is() {
        let t = parse(README_EXAMPLE).unwrap();
        let j = t.get("kvm-openjdk-7u51").unwrap();
        assert_eq!(j.login_endpoint, "rpc/WEBSES/create.asp");
        assert_eq!(j.user_field, "WEBVAR_USERNAME");
        assert_eq!(j.password_field, "WEBVAR_PASSWORD");
        assert_eq!(j.session_cookie_key.as_deref(), Some("SessionCookie"));
        assert!(!j.allow_insecure_ssl && !j.skip_login && !j.send_post_data_as_json);
        assert_eq!(
            j.viewer,
            Viewer::Java {
                download_endpoint: "Java/jviewer.jnlp".into(),
                java_version: "7u51".into(),
                format_jnlp: false
            }
        );
        assert_eq!(j.resolution, Some("1600x1200".parse().unwrap()));
        let h = t.get("html5-kvm").unwrap();
        assert!(h.send_post_data_as_json);
        assert_eq!(
            h.extra_login_fields,
            vec![
                ("method".into(), "login".into()),
                ("lang".into(), "en".into())
            ]
        );
        assert!(matches!(h.viewer, Viewer::Html5 { .. }));
        // nojava's code defaults where the file says nothing.
        assert_eq!(h.user_field, "name");
        assert_eq!(h.login_user, "ADMIN");
        // A host is its template plus overrides.
        let host = t.get("mykvmhost").unwrap();
        assert!(host.allow_insecure_ssl);
        assert_eq!(host.login_endpoint, "rpc/WEBSES/create.asp");
    }

    #[test]
    fn refuses_what_nojava_would_not_run_or_we_should_not() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert!(err("templates:\n  a:\n    login_endpont: x\n").contains("login_endpont"));
        assert!(
            err("templates:\n  a:\n    download_endpoint: Java/x.jnlp\n    format_jnlp: True\n")
                .contains("session_cookie_key")
        );
        assert!(
            err("templates:\n  a:\n    login_endpoint: https://evil.example/login\n")
                .contains("not a path on the BMC")
        );
        assert!(err("hosts:\n  h:\n    based_on: nope\n").contains("based_on `nope`"));
        assert!(
            err("templates:\n  a:\n    extra_login_form_fields: novalue\n").contains("key:value")
        );
        assert!(err("general:\n  x_resolution: 10x10\n").contains("resolution"));
        assert!(err("templates:\n  a:\n    java_version: latest\n").contains("java_version"));
        assert!(err("templates:\n  a:\n    logout_method: GET\n").contains("logout_endpoint"));
        assert!(
            err("templates:\n  a:\n    logout_endpoint: x\n    logout_method: PUT\n")
                .contains("PUT")
        );
        assert!(
            err("templates:\n  a:\n    logout_endpoint: https://evil.example/out\n")
                .contains("not a path on the BMC")
        );
    }

    #[test]
    fn logout_is_ironracks_optional_addition() {
        let t = parse(README_EXAMPLE).unwrap();
        assert_eq!(t.get("kvm-openjdk-7u51").unwrap().logout, None);
        let t = parse(
            "templates:\n  a:\n    logout_endpoint: cgi/logout.cgi\n  b:\n    logout_endpoint: api/session\n    logout_method: delete\nhosts:\n  h:\n    based_on: a\n",
        )
        .unwrap();
        let a = t.get("a").unwrap().logout.clone().unwrap();
        assert_eq!(
            (a.endpoint.as_str(), a.method.as_str()),
            ("cgi/logout.cgi", "GET")
        );
        assert_eq!(
            t.get("b").unwrap().logout.as_ref().unwrap().method,
            "DELETE"
        );
        assert_eq!(t.get("h").unwrap().logout, Some(a), "a host inherits it");
        let b = Templates::built_in();
        assert!(b.names().all(|n| b.get(n).unwrap().logout.is_some()));
    }

    #[test]
    fn built_ins_parse_and_files_must_not_clash() {
        let b = Templates::built_in();
        assert!(b.get("supermicro-java").is_some() && b.get("ami-java").is_some());
        let dir = std::env::temp_dir().join(format!("ironrack-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "templates:\n  x:\n    login_endpoint: a\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.yml"),
            "templates:\n  ami-java:\n    login_endpoint: b\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let t = Templates::load(&dir).unwrap();
        assert_eq!(t.get("x").unwrap().login_endpoint, "a");
        assert_eq!(
            t.get("ami-java").unwrap().login_endpoint,
            "b",
            "a file wins over a built-in"
        );
        std::fs::write(
            dir.join("c.yaml"),
            "templates:\n  x:\n    login_endpoint: c\n",
        )
        .unwrap();
        assert!(
            Templates::load(&dir)
                .unwrap_err()
                .to_string()
                .contains("also defined")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolutions() {
        let r: Resolution = "1600x900x24".parse().unwrap();
        assert_eq!((r.width, r.height, r.depth), (1600, 900, 24));
        assert_eq!("1024x768".parse::<Resolution>().unwrap().depth, 24);
        assert_eq!(r.to_string(), "1600x900x24");
        for bad in [
            "",
            "1600",
            "1600x900x8",
            "99999x900",
            "axb",
            "1600x900x24x1",
        ] {
            assert!(bad.parse::<Resolution>().is_err(), "{bad}");
        }
    }
}
