//! What the options and the environment decide: every [`HubOptions`] field left `None` comes from
//! the variable huggingface_hub reads, checked once, before any file or request.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::url::origin;
use super::{HubOptions, DEFAULT_ENDPOINT, DEFAULT_REVISION};
use crate::error::{Error, Result};

/// huggingface_hub's default `HF_HUB_DOWNLOAD_TIMEOUT`, in seconds.
const DEFAULT_TIMEOUT_SECS: f64 = 10.0;
/// The largest download timeout accepted, in seconds (11.6 days): far larger values overflow the
/// deadlines the HTTP client computes.
const MAX_TIMEOUT_SECS: f64 = 1e6;

/// What the options and the environment decide.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) endpoint: String,
    pub(super) token: Option<String>,
    pub(super) offline: bool,
    pub(super) cache_dir: PathBuf,
    /// What chose `cache_dir` (`cacheDir`, `HF_HUB_CACHE`, `HF_HOME`, …), named when it cannot be written.
    pub(super) cache_option: &'static str,
    pub(super) revision: String,
    pub(super) read_timeout: Duration,
    pub(super) cancel: Option<Arc<AtomicBool>>,
}

fn invalid_var(option: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption { option, reason: reason.into() }
}

impl Settings {
    pub(super) fn new(options: &HubOptions, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Self> {
        // a variable set to nothing (or to blanks) counts as unset, as in huggingface_hub
        let raw = |key: &str| env(key).filter(|v| !v.to_string_lossy().trim().is_empty());
        let text = |key: &'static str| -> Result<Option<String>> {
            raw(key)
                .map(|v| v.into_string().map(|s| s.trim().to_string()))
                .transpose()
                .map_err(|v| invalid_var(key, format!("`{}` is not valid UTF-8", v.to_string_lossy())))
        };
        let home = raw("HOME").or_else(|| raw("USERPROFILE")).map(PathBuf::from);
        // huggingface_hub expands `~` in its path variables (os.path.expanduser)
        let path = |key: &'static str| -> Result<Option<PathBuf>> {
            let Some(value) = raw(key) else { return Ok(None) };
            let Some(s) = value.to_str() else { return Ok(Some(PathBuf::from(value))) };
            let s = s.trim();
            match s.strip_prefix('~') {
                Some(rest) if rest.is_empty() || rest.starts_with(['/', '\\']) => match &home {
                    Some(home) => Ok(Some(home.join(rest.trim_start_matches(['/', '\\'])))),
                    None => Err(invalid_var(key, format!("`{s}` starts with ~ but HOME is not set"))),
                },
                _ => Ok(Some(PathBuf::from(s))),
            }
        };

        let (endpoint, endpoint_option) = match options.endpoint.clone() {
            Some(endpoint) => (endpoint, "endpoint"),
            None => (text("HF_ENDPOINT")?.unwrap_or_else(|| DEFAULT_ENDPOINT.into()), "HF_ENDPOINT"),
        };
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        if origin(&endpoint).is_none() || endpoint.contains(['?', '#']) || !endpoint.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid_var(endpoint_option, format!("`{endpoint}` is not an http:// or https:// URL")));
        }

        // huggingface_hub: HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
        let hf_home = match (path("HF_HOME")?, path("XDG_CACHE_HOME")?) {
            (Some(dir), _) => Some((dir, "HF_HOME")),
            (None, Some(xdg)) => Some((xdg.join("huggingface"), "XDG_CACHE_HOME")),
            (None, None) => home.as_ref().map(|h| (h.join(".cache").join("huggingface"), "HOME")),
        };
        let (cache_dir, cache_option) = match (options.cache_dir.clone(), path("HF_HUB_CACHE")?, &hf_home) {
            (Some(dir), _, _) => (dir, "cacheDir"),
            (None, Some(dir), _) => (dir, "HF_HUB_CACHE"),
            (None, None, Some((home, option))) => (home.join("hub"), *option),
            (None, None, None) => {
                return Err(invalid_var("cacheDir", "no home folder to put the model cache in; set `cacheDir` or HF_HUB_CACHE"))
            }
        };

        let token = match (options.token.clone(), text("HF_TOKEN")?) {
            (Some(token), _) => Some((token, "token")),
            (None, Some(token)) => Some((token, "HF_TOKEN")),
            (None, None) => match path("HF_TOKEN_PATH")? {
                Some(file) => read_token_file(&file).map_err(|reason| invalid_var("HF_TOKEN_PATH", reason))?.map(|t| (t, "HF_TOKEN_PATH")),
                // the token file `huggingface-cli login` writes, when it can be read
                None => hf_home.as_ref().and_then(|(h, _)| read_token_file(&h.join("token")).ok().flatten()).map(|t| (t, "HF_TOKEN_PATH")),
            },
        };
        if let Some((token, option)) = &token {
            // it goes into an Authorization header
            if !token.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid_var(option, "the token holds spaces, control or non-ASCII characters"));
            }
        }

        let offline = match options.offline {
            Some(offline) => offline,
            None => match text("HF_HUB_OFFLINE")?.map(|v| v.to_ascii_lowercase()) {
                None => false,
                Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
                Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
                Some(v) => return Err(invalid_var("HF_HUB_OFFLINE", format!("`{v}` is not one of 1, true, yes, on, 0, false, no, off"))),
            },
        };

        let read_timeout = match text("HF_HUB_DOWNLOAD_TIMEOUT")? {
            None => Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|secs| *secs > 0.0 && *secs <= MAX_TIMEOUT_SECS)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .ok_or_else(|| {
                    invalid_var(
                        "HF_HUB_DOWNLOAD_TIMEOUT",
                        format!("`{s}` is not a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}"),
                    )
                })?,
        };
        let revision = options.revision.clone().unwrap_or_else(|| DEFAULT_REVISION.into());
        Ok(Settings {
            endpoint,
            token: token.map(|(t, _)| t),
            offline,
            cache_dir,
            cache_option,
            revision,
            read_timeout,
            cancel: options.cancel.clone(),
        })
    }

    pub(super) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
    }
}

/// The token in a token file: `None` when there is no such file (as huggingface_hub reads it);
/// a file that exists but cannot be read is an error.
fn read_token_file(file: &Path) -> std::result::Result<Option<String>, String> {
    match fs::read_to_string(file) {
        Ok(token) => Ok(Some(token.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the token file {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], options: HubOptions) -> Result<Settings> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::new(&options, &move |k| vars.get(k).map(OsString::from))
    }

    #[test]
    fn cache_folder_precedence() {
        let s = |vars: &[(&str, &str)]| settings(vars, HubOptions::default()).unwrap().cache_dir;
        assert_eq!(s(&[("HOME", "/home/u")]), Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]), Path::new("/xdg/huggingface/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("HF_HOME", "/hf")]), Path::new("/hf/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")]), Path::new("/cache"));
        let explicit = settings(&[("HF_HUB_CACHE", "/cache")], HubOptions::default().with_cache_dir(Some("/mine".into()))).unwrap();
        assert_eq!(explicit.cache_dir, Path::new("/mine"));
        assert_eq!(settings(&[], HubOptions::default()).unwrap_err().code(), "ERR_INVALID_OPTION");
    }

    #[test]
    fn endpoint_token_offline_and_revision_from_the_environment() {
        let s = settings(&[("HOME", "/h")], HubOptions::default()).unwrap();
        assert_eq!((s.endpoint.as_str(), s.token.as_deref(), s.offline, s.revision.as_str()), (DEFAULT_ENDPOINT, None, false, "main"));
        let s = settings(
            &[("HOME", "/h"), ("HF_ENDPOINT", "http://127.0.0.1:9/"), ("HF_TOKEN", "hf_x"), ("HF_HUB_OFFLINE", "ON")],
            HubOptions::default().with_revision(Some("v2".into())),
        )
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.token.as_deref(), s.offline, s.revision.as_str()),
            ("http://127.0.0.1:9", Some("hf_x"), true, "v2")
        );
        assert!(!settings(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "0")], HubOptions::default()).unwrap().offline);
        let err = settings(&[("HOME", "/h"), ("HF_ENDPOINT", "ftp://x")], HubOptions::default()).unwrap_err();
        assert!(err.to_string().contains("HF_ENDPOINT"), "{err}");
    }

    #[test]
    fn token_file_when_no_token_variable() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        let home = dir.path().to_str().unwrap();
        assert_eq!(settings(&[("HF_HOME", home)], HubOptions::default()).unwrap().token.as_deref(), Some("hf_file"));
        assert_eq!(settings(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")], HubOptions::default()).unwrap().token.as_deref(), Some("hf_env"));
    }

    #[test]
    fn bad_environment_values_are_invalid_options_naming_the_variable() {
        let home = [("HOME", "/h")];
        for (var, value) in [
            ("HF_HUB_DOWNLOAD_TIMEOUT", "inf"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "1e20"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "NaN"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "0"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "-5"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "ten"),
            ("HF_HUB_OFFLINE", "maybe"),
            ("HF_ENDPOINT", "huggingface.co"),
            ("HF_ENDPOINT", "https://"),
            ("HF_ENDPOINT", "https://hub.example/x?y=1"),
            ("HF_ENDPOINT", "https://hub example"),
            ("HF_TOKEN", "hf_a\nInjected: 1"),
        ] {
            let err = settings(&[home[0], (var, value)], HubOptions::default()).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_OPTION", "{var}={value:?}");
            assert!(matches!(&err, Error::InvalidOption { option, .. } if *option == var), "{var}={value:?}: {err}");
        }
        let timeout = |v: &str| settings(&[home[0], ("HF_HUB_DOWNLOAD_TIMEOUT", v)], HubOptions::default()).unwrap().read_timeout;
        assert_eq!(timeout("2.5"), Duration::from_millis(2500));
        assert_eq!(timeout(" "), Duration::from_secs(10));
        assert!(!settings(&[home[0], ("HF_HUB_OFFLINE", "off")], HubOptions::default()).unwrap().offline);

        // not UTF-8
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let err = Settings::new(&HubOptions::default(), &|k| match k {
                "HOME" => Some("/h".into()),
                "HF_ENDPOINT" => Some(OsString::from_vec(vec![b'h', 0xff])),
                _ => None,
            })
            .unwrap_err();
            assert!(matches!(err, Error::InvalidOption { option: "HF_ENDPOINT", .. }), "{err}");
        }

        // a token file that exists but cannot be read; a missing one is no token, as in huggingface_hub
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_str().unwrap();
        let err = settings(&[home[0], ("HF_TOKEN_PATH", folder)], HubOptions::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_TOKEN_PATH", .. }), "{err}");
        let missing = dir.path().join("no-token");
        assert_eq!(settings(&[home[0], ("HF_TOKEN_PATH", missing.to_str().unwrap())], HubOptions::default()).unwrap().token, None);

        // `~` is the home folder, as huggingface_hub expands it
        let s = settings(&[home[0], ("HF_HOME", "~/hf")], HubOptions::default()).unwrap();
        assert_eq!((s.cache_dir.as_path(), s.cache_option), (Path::new("/h/hf/hub"), "HF_HOME"));
        let err = settings(&[("HF_HUB_CACHE", "~/hub")], HubOptions::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_HUB_CACHE", .. }), "{err}");
    }
}
