//! `de2en models fetch` / `models list` against a local stand-in for the Hugging Face hub.
//!
//! The server answers like the hub does: `/{repo}/resolve/{rev}/{file}` gives small files
//! directly (with `X-Repo-Commit` and a git ETag) and redirects LFS files (the weights) with
//! `X-Linked-Size`, `X-Linked-Etag` (the SHA-256) and a relative `Location`; unknown files are
//! 404 with `X-Error-Code: EntryNotFound`. It can also break a transfer off half way, or lie about
//! a checksum, to prove that nothing corrupt is left in the cache.

mod cli_common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

use cli_common::*;
use predicates::prelude::*;
use sha2::{Digest, Sha256};

const REPO: &str = "Helsinki-NLP/opus-mt-de-en";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// The weights' body stops after half of its Content-Length.
    Truncate,
    /// The weights' X-Linked-Etag names another SHA-256.
    WrongChecksum,
}

/// The files the stand-in hub serves: the fixture model when it is there, else small stand-ins
/// (the download does not look inside the files).
fn model_files() -> BTreeMap<String, Vec<u8>> {
    let fixture = fixture_model("tiny-swish");
    let mut files = BTreeMap::new();
    if fixture.join("config.json").is_file() {
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                files.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
    } else {
        for (name, content) in [
            ("config.json", b"{\"model_type\": \"marian\"}".to_vec()),
            ("source.spm", vec![7u8; 5000]),
            ("target.spm", vec![8u8; 5000]),
            ("vocab.json", b"{\"</s>\": 0}".to_vec()),
            ("tokenizer_config.json", b"{}".to_vec()),
            (
                "model.safetensors",
                (0..200_000u32).map(|i| (i % 251) as u8).collect(),
            ),
        ] {
            files.insert(name.to_owned(), content);
        }
    }
    files
}

fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors") || name.ends_with(".bin")
}

/// Starts the stand-in hub on 127.0.0.1; it serves `max_requests` requests and stops.
fn start_hub(files: BTreeMap<String, Vec<u8>>, fault: Fault, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(stream) = stream else { continue };
            let files = Arc::clone(&files);
            std::thread::spawn(move || {
                let _ = answer(stream, &files, fault);
            });
        }
    });
    address
}

fn answer(
    mut stream: TcpStream,
    files: &BTreeMap<String, Vec<u8>>,
    fault: Fault,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let resolve_prefix = format!("/{REPO}/resolve/main/");
    let not_found = |stream: &mut TcpStream| {
        stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    };
    if let Some(name) = path.strip_prefix(&resolve_prefix) {
        let Some(body) = files.get(name) else {
            return not_found(&mut stream);
        };
        let sha = hex(&Sha256::digest(body));
        if is_lfs(name) {
            let linked = if fault == Fault::WrongChecksum {
                "f".repeat(64)
            } else {
                sha
            };
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: /cdn-lfs/{name}\r\nX-Repo-Commit: {COMMIT}\r\n\
                 X-Linked-Size: {}\r\nX-Linked-Etag: \"{linked}\"\r\nETag: \"{linked}\"\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                body.len()
            );
            return stream.write_all(head.as_bytes());
        }
        // Small files: git blob ETag (a SHA-1 in the real hub; any 40 hex digits here).
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Repo-Commit: {COMMIT}\r\nETag: \"{}\"\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            &hex(&Sha256::digest(body))[..40],
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        return stream.write_all(body);
    }
    if let Some(name) = path.strip_prefix("/cdn-lfs/") {
        let Some(body) = files.get(name) else {
            return not_found(&mut stream);
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"{}\"\r\nConnection: close\r\n\r\n",
            body.len(),
            hex(&Sha256::digest(body))
        );
        stream.write_all(head.as_bytes())?;
        if fault == Fault::Truncate {
            stream.write_all(&body[..body.len() / 2])?;
            // Closing here breaks the transfer off.
            return stream.shutdown(std::net::Shutdown::Both);
        }
        return stream.write_all(body);
    }
    not_found(&mut stream)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn snapshot(hf_home: &Path) -> std::path::PathBuf {
    hf_home
        .join("hub/models--Helsinki-NLP--opus-mt-de-en/snapshots")
        .join(COMMIT)
}

#[test]
fn fetch_places_a_verified_model_in_the_hf_cache() {
    let files = model_files();
    let hub = start_hub(files.clone(), Fault::None, 100);
    let hf_home = tempfile::tempdir().unwrap();
    de2en(hf_home.path())
        .args(["models", "fetch", REPO])
        .env("HF_ENDPOINT", &hub)
        .assert()
        .success()
        .stdout(predicate::str::contains(COMMIT));
    let dir = snapshot(hf_home.path());
    for (name, body) in &files {
        if name == "special_tokens_map.json" || name.starts_with("golden") {
            continue; // not a file the engine needs
        }
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), body, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(
            hf_home
                .path()
                .join("hub/models--Helsinki-NLP--opus-mt-de-en/refs/main")
        )
        .unwrap(),
        COMMIT
    );
    // Nothing of the staging folder is left.
    let repo_dir = hf_home
        .path()
        .join("hub/models--Helsinki-NLP--opus-mt-de-en");
    let names: Vec<String> = std::fs::read_dir(&repo_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".de2en-tmp")),
        "{names:?}"
    );

    de2en(hf_home.path())
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(REPO))
        .stdout(predicate::str::contains("ready"))
        .stdout(predicate::str::contains("(main)"));

    // A second fetch finds it cached and downloads nothing.
    de2en(hf_home.path())
        .args(["models", "fetch"])
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .assert()
        .success()
        .stderr(predicate::str::contains("already in the cache"));

    // The repo id now resolves: the "not downloaded" message is gone (whatever the engine
    // then makes of the files).
    de2en(hf_home.path())
        .args(["translate", "--model", REPO])
        .write_stdin("Hallo.\n")
        .assert()
        .stderr(predicate::str::contains("not downloaded").not());
}

#[test]
fn a_broken_transfer_leaves_no_model_behind() {
    let hub = start_hub(model_files(), Fault::Truncate, 100);
    let hf_home = tempfile::tempdir().unwrap();
    de2en(hf_home.path())
        .args(["models", "fetch", REPO])
        .env("HF_ENDPOINT", &hub)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("broke off"))
        .stderr(predicate::str::contains("nothing was changed"));
    assert!(!snapshot(hf_home.path()).exists());
    let cached = read_tree(hf_home.path());
    assert!(
        cached.is_empty(),
        "left behind: {:?}",
        cached.keys().collect::<Vec<_>>()
    );
    // The model is still "not downloaded", with the clear message.
    de2en(hf_home.path())
        .args(["translate", "--model", REPO])
        .write_stdin("Hallo.\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not downloaded"));
}

#[test]
fn a_corrupt_download_is_refused() {
    let hub = start_hub(model_files(), Fault::WrongChecksum, 100);
    let hf_home = tempfile::tempdir().unwrap();
    de2en(hf_home.path())
        .args(["models", "fetch", REPO])
        .env("HF_ENDPOINT", &hub)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("corrupt"));
    assert!(!snapshot(hf_home.path()).exists());
    assert!(read_tree(hf_home.path()).is_empty());
}

#[test]
fn a_repo_without_the_model_files_is_named() {
    let hub = start_hub(BTreeMap::new(), Fault::None, 100);
    let hf_home = tempfile::tempdir().unwrap();
    de2en(hf_home.path())
        .args(["models", "fetch", "someone/not-marian"])
        .env("HF_ENDPOINT", &hub)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no config.json"));
}

#[test]
fn an_unreachable_hub_is_reported() {
    let hf_home = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    de2en(hf_home.path())
        .args(["models", "fetch"])
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("could not reach"));
    de2en(hf_home.path())
        .args(["models", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no models"));
}

#[test]
fn fetch_to_writes_a_plain_model_folder_that_translates() {
    let files = model_files();
    let hub = start_hub(files.clone(), Fault::None, 100);
    let hf_home = tempfile::tempdir().unwrap();
    let shared = hf_home.path().join("shared/models/opus-mt-de-en");
    de2en(hf_home.path())
        .args(["models", "fetch", REPO, "--quiet", "--to"])
        .arg(&shared)
        .env("HF_ENDPOINT", &hub)
        .assert()
        .success()
        .stdout(format!("{}\n", shared.display()));
    // Plain files (no symlinks into the cache), byte for byte what the hub served, no temp file.
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&shared).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            entry.file_type().unwrap().is_file(),
            "{name} is not a plain file"
        );
        assert_eq!(
            &std::fs::read(entry.path()).unwrap(),
            &files[&name],
            "{name}"
        );
        names.push(name);
    }
    names.sort();
    assert!(names.contains(&"config.json".to_owned()), "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with(".de2en-tmp")),
        "{names:?}"
    );

    // From the cache (the hub is gone): the folder is written again, to a second place.
    let again = hf_home.path().join("again");
    de2en(hf_home.path())
        .args(["models", "fetch", REPO, "--to"])
        .arg(&again)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .assert()
        .success()
        .stdout(format!("{}\n", again.display()));
    assert_eq!(read_tree(&again), read_tree(&shared));

    // With the fixture model, the folder translates exactly like the fixture itself, with the
    // hub cache removed (a cluster node sees only the shared folder).
    let fixture = fixture_model("tiny-swish");
    if fixture.join("config.json").is_file() {
        std::fs::remove_dir_all(hf_home.path().join("hub")).unwrap();
        let translate = |model: &Path| {
            de2en(hf_home.path())
                .args(["translate", "--quiet", "--model"])
                .arg(model)
                .write_stdin("Die Stadt plant neue Radwege.\n")
                .assert()
                .success()
                .get_output()
                .stdout
                .clone()
        };
        assert_eq!(translate(&shared), translate(&fixture));
    }
}

/// `models fetch` and `--to` under umask 002: the snapshot folder and the exported folder are
/// `0777 & ~umask` and their files `0666 & ~umask` (the snapshot was a 0700 folder); a file that
/// `--to` replaces keeps its mode. Also under 022, the common default.
#[cfg(unix)]
#[test]
fn fetched_and_exported_models_get_the_umask_mode() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let modes_in = |dir: &Path| -> Vec<(String, u32)> {
        let mut found: Vec<(String, u32)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, mode(&path))
            })
            .collect();
        found.sort();
        found
    };
    for (umask, file_mode, dir_mode) in [(0o002u32, 0o664, 0o775), (0o022, 0o644, 0o755)] {
        let hub = start_hub(model_files(), Fault::None, 100);
        let hf_home = tempfile::tempdir().unwrap();
        let fetch_to = |to: &Path, endpoint: &str| {
            let mut command = de2en_std(hf_home.path());
            command
                .args(["models", "fetch", REPO, "--quiet", "--to"])
                .arg(to)
                .env("HF_ENDPOINT", endpoint);
            // SAFETY: umask is async-signal-safe and changes only the child's mask.
            unsafe {
                command.pre_exec(move || {
                    libc::umask(umask as libc::mode_t);
                    Ok(())
                });
            }
            assert_cmd::Command::from_std(command).assert().success();
        };
        let shared = hf_home.path().join("shared/models/opus-mt-de-en");
        fetch_to(&shared, &hub);
        let dir = snapshot(hf_home.path());
        assert_eq!(mode(&dir), dir_mode, "snapshot under umask {umask:03o}");
        assert_eq!(mode(dir.parent().unwrap()), dir_mode);
        let files = modes_in(&dir);
        assert!(files.len() >= 5, "{files:?}");
        assert!(files.iter().all(|(_, m)| *m == file_mode), "{files:?}");
        assert_eq!(mode(&shared), dir_mode, "--to under umask {umask:03o}");
        assert_eq!(mode(shared.parent().unwrap()), dir_mode);
        let exported = modes_in(&shared);
        assert_eq!(exported.len(), files.len(), "{exported:?}");
        assert!(
            exported.iter().all(|(_, m)| *m == file_mode),
            "{exported:?}"
        );

        // Into a folder that has a model already (from the cache now): replaced files keep theirs.
        let replaced = hf_home.path().join("replaced");
        std::fs::create_dir_all(&replaced).unwrap();
        std::fs::write(replaced.join("config.json"), "old").unwrap();
        std::fs::set_permissions(
            replaced.join("config.json"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        fetch_to(&replaced, "http://127.0.0.1:9");
        for (name, m) in modes_in(&replaced) {
            let expected = if name == "config.json" {
                0o640
            } else {
                file_mode
            };
            assert_eq!(m, expected, "{name}");
        }
    }
}
