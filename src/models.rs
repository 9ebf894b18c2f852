//! Finding, downloading and listing models in the standard Hugging Face cache.
//!
//! `--model` takes a folder or a hub repo id. A repo id is looked up where `huggingface_hub` and
//! `transformers` keep their downloads (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`; `models--ORG--NAME/snapshots/<commit>/…` with `refs/main` naming
//! the commit), so a model someone already fetched with Python is reused as it is.
//!
//! `de2en models fetch` talks to the hub with a small blocking `ureq` client: one GET per file,
//! redirects followed by hand so the hub's `X-Linked-Size` / `X-Linked-Etag` / `X-Repo-Commit`
//! headers (which sit on the redirect, not on the CDN's answer) can be read. Every file is checked
//! (size, and SHA-256 where the hub gives one), and the whole snapshot is assembled in a temporary
//! folder in the cache and renamed into place only when all of it is there: a broken transfer
//! leaves no half model that a later run would try to load.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::durable::{self, DirSync};
use crate::output::{TEMP_PREFIX, hex};

/// The model de2en uses when neither `--model` nor `DE2EN_MODEL` says otherwise.
pub const DEFAULT_MODEL: &str = "Helsinki-NLP/opus-mt-de-en";
/// The hub, unless `HF_ENDPOINT` names a mirror.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Files the Marian engine reads: (name, required). Weights are handled apart (one of two).
const MODEL_FILES: &[(&str, bool)] = &[
    ("config.json", true),
    ("generation_config.json", false),
    ("source.spm", true),
    ("target.spm", true),
    ("vocab.json", true),
    ("tokenizer_config.json", false),
];
/// Weight files in order of preference: safetensors loads faster and safer.
const WEIGHT_FILES: &[&str] = &["model.safetensors", "pytorch_model.bin"];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model folder {path} does not exist; point --model at a folder with config.json, \
         source.spm, target.spm, vocab.json and the weights, or give a hub repo id"
    )]
    NoSuchFolder { path: PathBuf },
    #[error(
        "model {repo} is not downloaded (looked in {cache}). Fetch it once with \
         `de2en models fetch {repo}`, or point `--model DIR` at a model folder"
    )]
    NotCached { repo: String, cache: PathBuf },
    #[error("`{0}` is not a hub repo id (expected ORG/NAME, e.g. {DEFAULT_MODEL})")]
    BadRepoId(String),
    #[error(
        "cannot find the Hugging Face cache: set HF_HOME or HF_HUB_CACHE (HOME is not set either)"
    )]
    NoCacheDir,
    #[error("could not reach {url}; check the network or HF_ENDPOINT")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error(
        "{url}: the hub refused access (HTTP {status}); for a gated or private model set HF_TOKEN"
    )]
    Denied { url: String, status: u16 },
    #[error("{url}: the hub answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("repository {repo} has no {file}; is it a Marian (opus-mt) model?")]
    MissingFile { repo: String, file: String },
    #[error(
        "download of {file} broke off after {got} of {expected} bytes; nothing was changed in \
         the cache — run the command again"
    )]
    Truncated {
        file: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "download of {file} broke off after {got} bytes; nothing was changed in the cache — run the command again"
    )]
    Interrupted {
        file: String,
        got: u64,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file} is corrupt: SHA-256 {actual}, the hub says {expected}; nothing was changed in the cache — run the command again"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the repository changed while downloading ({first} then {second}); run the command again"
    )]
    RepoChanged { first: String, second: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A path from the environment; unset and empty are the same.
fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The hub cache folder, as `huggingface_hub` computes it.
pub fn hub_cache_dir() -> Result<PathBuf, ModelError> {
    if let Some(dir) = var("HF_HUB_CACHE") {
        return Ok(dir);
    }
    if let Some(home) = var("HF_HOME") {
        return Ok(home.join("hub"));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Ok(cache.join("huggingface").join("hub"));
    }
    let home = var("HOME")
        .or_else(|| var("USERPROFILE"))
        .ok_or(ModelError::NoCacheDir)?;
    Ok(home.join(".cache").join("huggingface").join("hub"))
}

/// de2en's own cache folder (converted checkpoints): `$XDG_CACHE_HOME/de2en`, else
/// `~/.cache/de2en`; `None` when neither variable says where home is.
pub fn de2en_cache_dir() -> Option<PathBuf> {
    var("XDG_CACHE_HOME")
        .map(|cache| cache.join("de2en"))
        .or_else(|| var("HOME").map(|home| home.join(".cache").join("de2en")))
}

/// `Helsinki-NLP/opus-mt-de-en` → `models--Helsinki-NLP--opus-mt-de-en`.
pub fn repo_folder_name(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

fn valid_repo_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// A model to load: its folder, and the repo id it came from (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    pub repo: Option<String>,
}

/// Resolves `--model`: an existing folder is used as it is; otherwise a repo id is looked up in
/// the hub cache.
pub fn resolve(spec: &str) -> Result<ResolvedModel, ModelError> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(ResolvedModel {
            dir: path.to_owned(),
            repo: None,
        });
    }
    let looks_like_path = spec.starts_with(['.', '/', '~'])
        || spec.contains('\\')
        || spec.ends_with('/')
        || spec.matches('/').count() > 1;
    if looks_like_path {
        return Err(ModelError::NoSuchFolder {
            path: path.to_owned(),
        });
    }
    if !valid_repo_id(spec) {
        return Err(ModelError::BadRepoId(spec.to_owned()));
    }
    let cache = hub_cache_dir()?;
    match cached_snapshot(&cache.join(repo_folder_name(spec)), "main") {
        Some(dir) => Ok(ResolvedModel {
            dir,
            repo: Some(spec.to_owned()),
        }),
        None => Err(ModelError::NotCached {
            repo: spec.to_owned(),
            cache,
        }),
    }
}

/// The snapshot `refs/<revision>` points at, or else the newest snapshot with a config.json.
fn cached_snapshot(repo_dir: &Path, revision: &str) -> Option<PathBuf> {
    let snapshots = repo_dir.join("snapshots");
    if let Ok(commit) = std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        let dir = snapshots.join(commit.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&snapshots)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .map(|p| {
            let modified = p
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            (modified, p)
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, p)| p)
}

/// Files the engine needs that `dir` lacks.
pub fn missing_files(dir: &Path) -> Vec<String> {
    let mut missing: Vec<String> = MODEL_FILES
        .iter()
        .filter(|(name, required)| *required && !dir.join(name).is_file())
        .map(|(name, _)| (*name).to_owned())
        .collect();
    if !WEIGHT_FILES.iter().any(|w| dir.join(w).is_file()) {
        missing.push(WEIGHT_FILES.join(" or "));
    }
    missing
}

/// Told about download progress, so the command line can draw bars and tests can stay quiet.
pub trait FetchProgress {
    fn file_started(&mut self, name: &str, size: Option<u64>);
    fn advanced(&mut self, bytes: u64);
    fn file_done(&mut self);
}

/// A progress observer that shows nothing.
pub struct NoProgress;

impl FetchProgress for NoProgress {
    fn file_started(&mut self, _: &str, _: Option<u64>) {}
    fn advanced(&mut self, _: u64) {}
    fn file_done(&mut self) {}
}

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub repo: String,
    pub revision: String,
    pub endpoint: String,
    pub token: Option<String>,
    /// Download even when a complete snapshot is cached already.
    pub force: bool,
}

impl FetchOptions {
    /// Options from the environment: `HF_ENDPOINT`, `HF_TOKEN`.
    pub fn from_env(repo: &str) -> FetchOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        FetchOptions {
            repo: repo.to_owned(),
            revision: "main".into(),
            endpoint: env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            token: env("HF_TOKEN"),
            force: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FetchReport {
    pub dir: PathBuf,
    pub commit: String,
    /// (file name, bytes)
    pub files: Vec<(String, u64)>,
    /// Nothing was downloaded: a complete snapshot was there already.
    pub already_cached: bool,
}

struct Downloaded {
    name: String,
    bytes: u64,
    commit: Option<String>,
}

/// Downloads the files the engine needs into the hub cache.
pub fn fetch(
    options: &FetchOptions,
    progress: &mut dyn FetchProgress,
) -> Result<FetchReport, ModelError> {
    if !valid_repo_id(&options.repo) {
        return Err(ModelError::BadRepoId(options.repo.clone()));
    }
    let cache = hub_cache_dir()?;
    let repo_dir = cache.join(repo_folder_name(&options.repo));
    if !options.force
        && let Some(dir) = cached_snapshot(&repo_dir, &options.revision)
        && missing_files(&dir).is_empty()
    {
        let files = file_sizes(&dir);
        let commit = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(FetchReport {
            dir,
            commit,
            files,
            already_cached: true,
        });
    }
    durable::create_dir_all(&repo_dir).map_err(io_err(&repo_dir))?;
    remove_stale_temp_dirs(&repo_dir);
    let staging = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(&repo_dir)
        .map_err(io_err(&repo_dir))?;

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("de2en/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    let mut downloaded: Vec<Downloaded> = Vec::new();
    for (name, required) in MODEL_FILES {
        match download(&agent, options, name, staging.path(), progress)? {
            Some(file) => downloaded.push(file),
            None if *required => {
                return Err(ModelError::MissingFile {
                    repo: options.repo.clone(),
                    file: (*name).to_owned(),
                });
            }
            None => {}
        }
    }
    let mut weights = None;
    for name in WEIGHT_FILES {
        if let Some(file) = download(&agent, options, name, staging.path(), progress)? {
            weights = Some(file);
            break;
        }
    }
    let weights = weights.ok_or_else(|| ModelError::MissingFile {
        repo: options.repo.clone(),
        file: WEIGHT_FILES.join(" or "),
    })?;
    downloaded.push(weights);

    // All files must come from one commit, or the snapshot would mix two versions of the model.
    let mut commit: Option<String> = None;
    for file in &downloaded {
        if let Some(c) = &file.commit {
            match &commit {
                None => commit = Some(c.clone()),
                Some(first) if first != c => {
                    return Err(ModelError::RepoChanged {
                        first: first.clone(),
                        second: c.clone(),
                    });
                }
                Some(_) => {}
            }
        }
    }
    // A server that does not say which commit it served (a plain mirror) gets a snapshot named
    // after the revision.
    let commit = commit.unwrap_or_else(|| options.revision.clone());

    let snapshots = repo_dir.join("snapshots");
    durable::create_dir_all(&snapshots).map_err(io_err(&snapshots))?;
    let snapshot = snapshots.join(&commit);
    // Every file was fsynced when it was downloaded; the folders are synced after the renames,
    // so a snapshot that is there after a power loss is complete.
    if snapshot.exists() {
        // The commit is cached in part (transformers fetches only what it needs): every file is
        // complete and verified now, so moving them in one by one never exposes a broken file.
        for file in &downloaded {
            let from = staging.path().join(&file.name);
            let to = snapshot.join(&file.name);
            std::fs::rename(&from, &to).map_err(io_err(&to))?;
        }
        durable::sync_dir(&snapshot).map_err(io_err(&snapshot))?;
    } else {
        // tempfile makes the staging folder 0700; the snapshot is a folder like any other.
        durable::set_new_dir_mode(staging.path()).map_err(io_err(staging.path()))?;
        durable::sync_dir(staging.path()).map_err(io_err(staging.path()))?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &snapshot) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(io_err(&snapshot)(e));
        }
        durable::sync_dir(&snapshots).map_err(io_err(&snapshots))?;
    }
    if options.revision != commit {
        let refs = repo_dir.join("refs");
        crate::output::write_atomic(
            &refs.join(&options.revision),
            commit.as_bytes(),
            TEMP_PREFIX,
        )
        .map_err(|e| ModelError::Io {
            path: refs.join(&options.revision),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    Ok(FetchReport {
        dir: snapshot,
        commit,
        files: downloaded
            .iter()
            .map(|f| (f.name.clone(), f.bytes))
            .collect(),
        already_cached: false,
    })
}

fn file_sizes(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    // metadata() follows the snapshot's symlinks into blobs/.
                    let size = std::fs::metadata(e.path()).ok()?.len();
                    Some((e.file_name().to_string_lossy().into_owned(), size))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Staging folders of a fetch that was killed.
fn remove_stale_temp_dirs(repo_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(repo_dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => &url[..i + 3 + j],
            None => url,
        },
        None => url,
    }
}

fn join_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

/// A quoted ETag as a SHA-256 hex digest, if that is what it is (LFS files).
fn etag_sha256(etag: &str) -> Option<String> {
    let tag = etag
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase();
    (tag.len() == 64 && tag.chars().all(|c| c.is_ascii_hexdigit())).then_some(tag)
}

/// Downloads one file into `dir`; `None` when the repository does not have it.
fn download(
    agent: &ureq::Agent,
    options: &FetchOptions,
    name: &str,
    dir: &Path,
    progress: &mut dyn FetchProgress,
) -> Result<Option<Downloaded>, ModelError> {
    let endpoint = options.endpoint.trim_end_matches('/');
    let mut url = format!(
        "{endpoint}/{}/resolve/{}/{name}",
        options.repo, options.revision
    );
    let mut linked_size: Option<u64> = None;
    let mut linked_etag: Option<String> = None;
    let mut commit: Option<String> = None;
    for _hop in 0..10 {
        let mut request = agent.get(&url);
        // The token goes to the hub only, never to the CDN a redirect points at.
        if let Some(token) = &options.token
            && origin(&url) == origin(endpoint)
        {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|source| ModelError::Http {
            url: url.clone(),
            source: Box::new(source),
        })?;
        let status = response.status().as_u16();
        linked_size = linked_size.or_else(|| header(&response, "x-linked-size")?.parse().ok());
        linked_etag = linked_etag.or_else(|| header(&response, "x-linked-etag"));
        commit = commit.or_else(|| header(&response, "x-repo-commit"));
        match status {
            300..=399 => {
                let Some(location) = header(&response, "location") else {
                    return Err(ModelError::Status { url, status });
                };
                url = join_location(&url, &location);
                continue;
            }
            404 => return Ok(None),
            401 | 403 => return Err(ModelError::Denied { url, status }),
            200 => {}
            _ => return Err(ModelError::Status { url, status }),
        }
        let content_length: Option<u64> =
            header(&response, "content-length").and_then(|v| v.parse().ok());
        let expected_size = linked_size.or(content_length);
        let expected_sha = linked_etag
            .as_deref()
            .and_then(etag_sha256)
            .or_else(|| header(&response, "etag").as_deref().and_then(etag_sha256));

        let path = dir.join(name);
        let mut file = std::fs::File::create(&path).map_err(io_err(&path))?;
        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        let mut buffer = vec![0u8; 1 << 16];
        progress.file_started(name, expected_size);
        let mut reader = response.body_mut().as_reader();
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    progress.file_done();
                    return Err(ModelError::Interrupted {
                        file: name.to_owned(),
                        got,
                        source,
                    });
                }
            };
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n]).map_err(io_err(&path))?;
            got += n as u64;
            progress.advanced(n as u64);
        }
        progress.file_done();
        file.flush().map_err(io_err(&path))?;
        durable::sync_file(&file, &path).map_err(io_err(&path))?;
        if let Some(expected) = expected_size
            && got != expected
        {
            return Err(ModelError::Truncated {
                file: name.to_owned(),
                got,
                expected,
            });
        }
        let actual = hex(&hasher.finalize());
        if let Some(expected) = expected_sha
            && expected != actual
        {
            return Err(ModelError::Checksum {
                file: name.to_owned(),
                expected,
                actual,
            });
        }
        return Ok(Some(Downloaded {
            name: name.to_owned(),
            bytes: got,
            commit,
        }));
    }
    Err(ModelError::Status {
        url,
        status: 310, // too many redirects
    })
}

/// Copies a snapshot's `files` (following the cache's symlinks) into `to`, a plain folder that
/// `--model DIR` takes. Each file goes through a temp file and a rename, so an interrupted copy
/// leaves no half file under a real name; files already in `to` are replaced (keeping their
/// mode), new ones get `0666 & ~umask`. Everything is fsynced before this returns.
pub fn export(snapshot: &Path, files: &[(String, u64)], to: &Path) -> Result<(), ModelError> {
    durable::create_dir_all(to).map_err(io_err(to))?;
    for (name, _) in files {
        let source = snapshot.join(name);
        let target = to.join(name);
        let mut reader = std::fs::File::open(&source).map_err(io_err(&source))?;
        durable::replace(&target, TEMP_PREFIX, DirSync::Later, |file| {
            std::io::copy(&mut reader, file).map(drop)
        })
        .map_err(io_err(&target))?;
    }
    durable::sync_dir(to).map_err(io_err(to))
}

/// A model in the cache, for `de2en models list`.
#[derive(Debug, Clone)]
pub struct CachedModel {
    pub repo: String,
    pub dir: PathBuf,
    pub commit: String,
    /// Revisions (refs) that point at this snapshot.
    pub refs: Vec<String>,
    pub bytes: u64,
    /// Files the engine needs that this snapshot lacks.
    pub missing: Vec<String>,
}

/// Every snapshot in the hub cache, sorted by repo.
pub fn list_cached() -> Result<(PathBuf, Vec<CachedModel>), ModelError> {
    let cache = hub_cache_dir()?;
    let mut models = Vec::new();
    let entries = match std::fs::read_dir(&cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((cache, models)),
        Err(source) => {
            return Err(ModelError::Io {
                path: cache,
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let folder = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = folder.strip_prefix("models--") else {
            continue;
        };
        let repo = rest.split("--").collect::<Vec<_>>().join("/");
        let repo_dir = entry.path();
        let mut refs: Vec<(String, String)> = Vec::new();
        if let Ok(ref_entries) = std::fs::read_dir(repo_dir.join("refs")) {
            for r in ref_entries.flatten() {
                if let Ok(commit) = std::fs::read_to_string(r.path()) {
                    refs.push((
                        r.file_name().to_string_lossy().into_owned(),
                        commit.trim().to_owned(),
                    ));
                }
            }
        }
        let Ok(snapshots) = std::fs::read_dir(repo_dir.join("snapshots")) else {
            continue;
        };
        for snapshot in snapshots.flatten() {
            let dir = snapshot.path();
            if !dir.is_dir() {
                continue;
            }
            let commit = snapshot.file_name().to_string_lossy().into_owned();
            let bytes = file_sizes(&dir).iter().map(|(_, b)| b).sum();
            models.push(CachedModel {
                repo: repo.clone(),
                refs: refs
                    .iter()
                    .filter(|(_, c)| *c == commit)
                    .map(|(r, _)| r.clone())
                    .collect(),
                missing: missing_files(&dir),
                dir,
                commit,
                bytes,
            });
        }
    }
    models.sort_by(|a, b| (&a.repo, &a.commit).cmp(&(&b.repo, &b.commit)));
    Ok((cache, models))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(valid_repo_id("Helsinki-NLP/opus-mt-de-en"));
        assert!(valid_repo_id("gpt2"));
        assert!(!valid_repo_id("a/b/c"));
        assert!(!valid_repo_id("../x"));
        assert_eq!(
            repo_folder_name("Helsinki-NLP/opus-mt-de-en"),
            "models--Helsinki-NLP--opus-mt-de-en"
        );
    }

    #[test]
    fn locations() {
        assert_eq!(
            join_location("http://h:1/a/resolve/main/x", "/api/y"),
            "http://h:1/api/y"
        );
        assert_eq!(
            join_location("http://h/a/b", "https://cdn/z"),
            "https://cdn/z"
        );
        assert_eq!(join_location("http://h/a/b", "c"), "http://h/a/c");
    }

    #[test]
    fn etags() {
        let sha = "a".repeat(64);
        assert_eq!(etag_sha256(&format!("\"{sha}\"")), Some(sha.clone()));
        assert_eq!(etag_sha256(&format!("W/\"{sha}\"")), Some(sha));
        assert_eq!(etag_sha256("\"abc\""), None);
    }
}
