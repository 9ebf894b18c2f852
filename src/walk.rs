//! Turning the command line's inputs into translation jobs: which file goes where.
//!
//! A run translates one file to stdout or `-o FILE`, or whole trees into `-o DIR`, mirrored. The
//! rules that keep a large run safe live here, in one place: hidden files are not walked, an output
//! folder that lies inside an input is not walked (a second run must not translate the first run's
//! translations), no output may land on an input, and `--shard K/N` picks a stable subset so that N
//! machines can share a corpus without talking to each other. One unreadable directory entry is
//! reported and the walk goes on.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a job's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

/// Where a job's translation goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// One input file and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub source: Source,
    /// The input's path relative to the input root, `/`-separated: the shard key and the
    /// manifest key, the same on every machine.
    pub key: String,
    pub destination: Destination,
    /// The input's size when the run was planned (0 for standard input): the progress bar's
    /// measure of the work, known before anything is read.
    pub source_bytes: u64,
}

impl Job {
    /// A path to show the user for this job's input.
    pub fn display_source(&self) -> String {
        match &self.source {
            Source::Stdin => "<stdin>".to_owned(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// `--shard K/N`: this worker takes the files whose key hashes to `K` modulo `N` (0-based, like
/// `JOB_COMPLETION_INDEX` and `SLURM_ARRAY_TASK_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the file with this key belongs to this shard.
    pub fn contains(&self, key: &str) -> bool {
        fnv1a64(key.as_bytes()) % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{text}` is not a shard: write K/N with 0 <= K < N, e.g. 0/4");
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = k.trim().parse().map_err(|_| usage())?;
        let count: u64 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a, 64 bit, written out: the shard assignment must never change between machines,
/// Rust versions or de2en versions, which `DefaultHasher` does not promise.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Problems with the inputs or the output as a whole (usage errors), or with one entry.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("`-` (standard input) cannot be combined with other inputs")]
    StdinMixed,
    #[error("{path}: no such file or directory")]
    Missing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} needs an output folder: add `-o DIR` (the input tree is mirrored there)")]
    NeedOutputDir { what: String },
    #[error("output {path} is a file, but {what} needs an output folder")]
    OutputIsFile { path: PathBuf, what: String },
    #[error(
        "output folder {path} is the input folder itself; choose another folder (it may lie inside the input)"
    )]
    OutputIsInput { path: PathBuf },
    #[error("output {path} is an input; de2en never overwrites its inputs — choose another -o")]
    OutputOverwritesInput { path: PathBuf },
    #[error("could not create output folder {path}")]
    CreateOutput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{first} and {second} would both be written to {output}; translate them in separate runs"
    )]
    Collision {
        first: String,
        second: String,
        output: PathBuf,
    },
    #[error("--shard needs files or folders as inputs, not standard input")]
    ShardOfStdin,
    #[error("while walking {path}")]
    Entry {
        path: PathBuf,
        #[source]
        source: ignore::Error,
    },
}

impl WalkError {
    /// Whether this error is about the command as given (exit code 2) rather than one entry.
    pub fn is_usage(&self) -> bool {
        !matches!(self, WalkError::Entry { .. })
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Inputs as given; empty means standard input.
    pub inputs: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    /// What output names get appended in folder mode (`.json` for `--format json`).
    pub output_suffix: Option<&'static str>,
    pub shard: Option<Shard>,
}

/// The jobs of a run.
#[derive(Debug, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// The output folder in folder mode (manifest and temp-file cleanup live there);
    /// `None` when one input goes to stdout or to `-o FILE`.
    pub output_root: Option<PathBuf>,
    /// Entries that could not be walked; the rest of the plan stands.
    pub entry_errors: Vec<WalkError>,
    /// Files that another shard takes.
    pub other_shards: usize,
    /// Entries of the walked trees that are not regular files (nor links to them), in walk
    /// order: skipped, counted in the summary, named with `--verbose`.
    pub not_regular: Vec<NotRegular>,
}

/// An entry a folder walk skips because there is no article to read in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRegular {
    /// As the user wrote the input folder, not canonicalised.
    pub path: PathBuf,
    pub kind: NotRegularKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRegularKind {
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
    /// A link whose target does not exist.
    DanglingLink,
    /// A link that resolves to itself, or to a folder it lies in.
    SymlinkLoop,
    /// A link to another folder: not followed (trees outside the input, and loops).
    LinkToFolder,
    /// A link whose target cannot be looked at (permissions).
    UnreadableLink,
}

impl std::fmt::Display for NotRegularKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotRegularKind::Fifo => "FIFO",
            NotRegularKind::Socket => "socket",
            NotRegularKind::BlockDevice => "block device",
            NotRegularKind::CharDevice => "character device",
            NotRegularKind::DanglingLink => "dangling link",
            NotRegularKind::SymlinkLoop => "symlink loop",
            NotRegularKind::LinkToFolder => "link to a folder (not followed)",
            NotRegularKind::UnreadableLink => "link to something unreadable",
        })
    }
}

/// Maps `artikel.de.md` to `artikel.en.md`: a `de` tag between dots becomes `en`; other names
/// are kept (the output lives in its own folder, so it cannot clash with its input).
pub fn english_name(file_name: &str) -> String {
    let parts: Vec<&str> = file_name.split('.').collect();
    if parts.len() < 3 {
        return file_name.to_owned();
    }
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i > 0 && i < last && part.eq_ignore_ascii_case("de") {
                if *part == "DE" { "EN" } else { "en" }
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A file the folder walk found: (key, input path as given by the walk, relative output path,
/// size).
type Found = (String, PathBuf, PathBuf, u64);

/// Builds the job list for a run: standard input, one file, or folder mode (a folder or several
/// inputs), each in its own function.
pub fn plan(options: &PlanOptions) -> Result<Plan, WalkError> {
    let stdin_only = options.inputs.is_empty()
        || (options.inputs.len() == 1 && options.inputs[0] == Path::new("-"));
    if stdin_only {
        return plan_stdin(options);
    }
    if options.inputs.iter().any(|p| p == Path::new("-")) {
        return Err(WalkError::StdinMixed);
    }
    let mut inputs = Vec::with_capacity(options.inputs.len());
    for path in &options.inputs {
        let meta = std::fs::metadata(path).map_err(|source| WalkError::Missing {
            path: path.clone(),
            source,
        })?;
        inputs.push((path.clone(), meta.is_dir(), meta.len()));
    }

    let single_file = inputs.len() == 1 && !inputs[0].1;
    let output_is_dir = options.output.as_deref().is_some_and(Path::is_dir);
    if single_file && !output_is_dir {
        let (path, _, size) = inputs.swap_remove(0);
        return plan_file(options, path, size);
    }
    plan_folder(options, &inputs)
}

/// Standard input: one job, to standard output, the `--output` file, or `stdin.txt` (or
/// `stdin<suffix>`) in the `--output` folder.
fn plan_stdin(options: &PlanOptions) -> Result<Plan, WalkError> {
    if options.shard.is_some() {
        return Err(WalkError::ShardOfStdin);
    }
    let destination = match &options.output {
        None => Destination::Stdout,
        Some(path) if path == Path::new("-") => Destination::Stdout,
        Some(path) if path.is_dir() => Destination::File(path.join(match options.output_suffix {
            Some(suffix) => format!("stdin{suffix}"),
            None => "stdin.txt".to_owned(),
        })),
        Some(path) => Destination::File(path.clone()),
    };
    Ok(Plan {
        jobs: vec![Job {
            source: Source::Stdin,
            key: "<stdin>".into(),
            destination,
            source_bytes: 0,
        }],
        ..Plan::default()
    })
}

/// One file (and no output folder): one job, to standard output or the `--output` file, which
/// may not be the input itself.
fn plan_file(options: &PlanOptions, path: PathBuf, size: u64) -> Result<Plan, WalkError> {
    let destination = match &options.output {
        None => Destination::Stdout,
        Some(out) if out == Path::new("-") => Destination::Stdout,
        Some(out) => {
            if same_file(out, &path) {
                return Err(WalkError::OutputOverwritesInput { path: out.clone() });
            }
            Destination::File(out.clone())
        }
    };
    let key = file_name_of(&path);
    Ok(Plan {
        jobs: vec![Job {
            source: Source::File(path),
            key,
            destination,
            source_bytes: size,
        }],
        ..Plan::default()
    })
}

/// Folder mode: every file under the inputs (path, is a folder, size), mirrored into the output
/// folder under its English name, in key order, this shard's only.
fn plan_folder(options: &PlanOptions, inputs: &[(PathBuf, bool, u64)]) -> Result<Plan, WalkError> {
    let (out_root, out_canon) = output_folder(options, inputs)?;
    let mut plan = Plan {
        output_root: Some(out_root.clone()),
        ..Plan::default()
    };
    let mut found: Vec<Found> = Vec::new();
    let prefix_with_name = inputs.len() > 1;
    for (path, is_dir, size) in inputs {
        if *is_dir {
            let root_canon = path.canonicalize().map_err(|source| WalkError::Missing {
                path: path.clone(),
                source,
            })?;
            if root_canon == out_canon {
                return Err(WalkError::OutputIsInput { path: path.clone() });
            }
            let base = if prefix_with_name {
                PathBuf::from(file_name_of(path))
            } else {
                PathBuf::new()
            };
            walk_dir(path, &root_canon, &out_canon, &base, &mut found, &mut plan)?;
        } else {
            let name = file_name_of(path);
            found.push((name.clone(), path.clone(), PathBuf::from(name), *size));
        }
    }
    folder_jobs(options, found, &out_root, &out_canon, &mut plan)?;
    Ok(plan)
}

/// The output folder of folder mode, created if missing: as given and canonical (to compare
/// with the inputs).
fn output_folder(
    options: &PlanOptions,
    inputs: &[(PathBuf, bool, u64)],
) -> Result<(PathBuf, PathBuf), WalkError> {
    let what = if inputs.len() == 1 {
        format!("folder {}", inputs[0].0.display())
    } else {
        format!("{} inputs", inputs.len())
    };
    let out_root = match &options.output {
        None => return Err(WalkError::NeedOutputDir { what }),
        Some(out) if out == Path::new("-") => return Err(WalkError::NeedOutputDir { what }),
        Some(out) if out.exists() && !out.is_dir() => {
            return Err(WalkError::OutputIsFile {
                path: out.clone(),
                what,
            });
        }
        Some(out) => out.clone(),
    };
    crate::durable::create_dir_all(&out_root).map_err(|source| WalkError::CreateOutput {
        path: out_root.clone(),
        source,
    })?;
    let out_canon = out_root
        .canonicalize()
        .map_err(|source| WalkError::CreateOutput {
            path: out_root.clone(),
            source,
        })?;
    Ok((out_root, out_canon))
}

/// One job per found file (of this shard), in key order; two files may not share an output,
/// and no output may overwrite an input.
fn folder_jobs(
    options: &PlanOptions,
    mut found: Vec<Found>,
    out_root: &Path,
    out_canon: &Path,
    plan: &mut Plan,
) -> Result<(), WalkError> {
    let mut input_set: HashSet<PathBuf> = HashSet::new();
    for (_, path, _, _) in &found {
        if let Ok(canon) = path.canonicalize() {
            input_set.insert(canon);
        }
    }
    let mut by_output: HashMap<PathBuf, String> = HashMap::new();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, path, rel, source_bytes) in found {
        if let Some(shard) = options.shard
            && !shard.contains(&key)
        {
            plan.other_shards += 1;
            continue;
        }
        let mut out_rel = rel.clone();
        let name = file_name_of(&rel);
        let mut english = english_name(&name);
        if let Some(suffix) = options.output_suffix {
            english.push_str(suffix);
        }
        out_rel.set_file_name(english);
        let destination = out_root.join(&out_rel);
        if let Some(first) = by_output.insert(destination.clone(), key.clone()) {
            return Err(WalkError::Collision {
                first,
                second: key,
                output: destination,
            });
        }
        if input_set.contains(&out_canon.join(&out_rel)) {
            return Err(WalkError::OutputOverwritesInput { path: destination });
        }
        plan.jobs.push(Job {
            source: Source::File(path),
            key,
            destination: Destination::File(destination),
            source_bytes,
        });
    }
    Ok(())
}

/// Walks one input folder; `base` is prepended to keys and output paths when several inputs
/// share the output folder.
fn walk_dir(
    shown_root: &Path,
    root_canon: &Path,
    out_canon: &Path,
    base: &Path,
    found: &mut Vec<Found>,
    plan: &mut Plan,
) -> Result<(), WalkError> {
    let skip = out_canon.to_owned();
    // Walk the canonical root so that entry paths compare exactly with the canonical output
    // folder; .gitignore and friends are not honoured (a corpus is not a code repository), hidden
    // files are skipped (manifests, temp files, editor droppings).
    let walker = ignore::WalkBuilder::new(root_canon)
        .standard_filters(false)
        .hidden(true)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| entry.path() != skip)
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                plan.entry_errors.push(WalkError::Entry {
                    path: shown_root.to_owned(),
                    source,
                });
                continue;
            }
        };
        // A symlink to a file is translated like the file; links to folders are not followed
        // (loops, and trees outside the input). Whatever holds no article is counted and named.
        let size = match regular_file_size(entry.path(), entry.file_type()) {
            Ok(Some(size)) => size,
            Ok(None) => continue,
            Err(kind) => {
                let rel = entry
                    .path()
                    .strip_prefix(root_canon)
                    .unwrap_or(entry.path());
                plan.not_regular.push(NotRegular {
                    path: shown_root.join(rel),
                    kind,
                });
                continue;
            }
        };
        let Ok(rel) = entry.path().strip_prefix(root_canon) else {
            continue;
        };
        let rel = base.join(rel);
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        // Show the user the path as they wrote it, not the canonical one.
        let shown = shown_root.join(entry.path().strip_prefix(root_canon).unwrap_or(&rel));
        found.push((key, shown, rel, size));
    }
    Ok(())
}

/// The size of a regular file (or of the file a link points to); `None` for a folder (walked or,
/// for the root, the walk itself); otherwise what kind of entry it is instead.
fn regular_file_size(
    path: &Path,
    file_type: Option<std::fs::FileType>,
) -> Result<Option<u64>, NotRegularKind> {
    let Some(file_type) = file_type else {
        return Ok(None);
    };
    if file_type.is_dir() {
        return Ok(None);
    }
    let meta = if file_type.is_symlink() {
        match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NotRegularKind::DanglingLink);
            }
            Err(e) if is_loop(&e) => return Err(NotRegularKind::SymlinkLoop),
            Err(_) => return Err(NotRegularKind::UnreadableLink),
        }
    } else {
        std::fs::symlink_metadata(path).map_err(|_| NotRegularKind::UnreadableLink)?
    };
    if meta.is_file() {
        return Ok(Some(meta.len()));
    }
    if meta.is_dir() {
        // A link to a folder it lies in would walk the same files forever if followed.
        let inside = std::fs::canonicalize(path)
            .is_ok_and(|target| path.parent().is_some_and(|dir| dir.starts_with(&target)));
        return Err(if inside {
            NotRegularKind::SymlinkLoop
        } else {
            NotRegularKind::LinkToFolder
        });
    }
    Err(special_kind(&meta.file_type()))
}

#[cfg(unix)]
fn is_loop(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_loop(_error: &std::io::Error) -> bool {
    false
}

#[cfg(unix)]
fn special_kind(file_type: &std::fs::FileType) -> NotRegularKind {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        NotRegularKind::Fifo
    } else if file_type.is_socket() {
        NotRegularKind::Socket
    } else if file_type.is_block_device() {
        NotRegularKind::BlockDevice
    } else {
        NotRegularKind::CharDevice
    }
}

#[cfg(not(unix))]
fn special_kind(_file_type: &std::fs::FileType) -> NotRegularKind {
    NotRegularKind::CharDevice
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_names() {
        assert_eq!(english_name("artikel.de.md"), "artikel.en.md");
        assert_eq!(english_name("a.b.de.txt"), "a.b.en.txt");
        assert_eq!(english_name("artikel.md"), "artikel.md");
        assert_eq!(english_name("de.md"), "de.md");
        assert_eq!(english_name("news.de"), "news.de");
        assert_eq!(english_name("X.DE.TXT"), "X.EN.TXT");
    }

    #[test]
    fn shard_parsing() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("a/2".parse::<Shard>().is_err());
    }

    #[test]
    fn fnv_is_stable() {
        // Published FNV-1a 64 test vectors: shard assignment must never drift.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
