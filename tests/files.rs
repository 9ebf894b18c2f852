//! Careful with the user's files (issue 20): what de2en writes gets the modes every other tool
//! gives (`0666 & ~umask`, folders `0777 & ~umask`, a replaced file keeps its mode), is fsynced
//! (file before the rename, folder after it, both before the manifest that lists the file), and
//! what a folder walk skips because it is not a regular file is counted and, with `--verbose`,
//! named. The `models fetch --to` modes are tested in `cli_models.rs`, beside its stand-in hub.

#![cfg(unix)]

mod cli_common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use cli_common::*;
use predicates::prelude::*;

/// `de2en translate --engine identity` run under `umask`.
fn identity_with_umask(home: &Path, umask: u32) -> assert_cmd::Command {
    let mut command = de2en_std(home);
    command.args(["translate", "--engine", "identity", "--quotes", "keep"]);
    // SAFETY: umask is async-signal-safe and touches nothing but the child's own mask.
    unsafe {
        command.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    let mut command = assert_cmd::Command::from_std(command);
    command.timeout(Duration::from_secs(60));
    command
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file and folder under `root` (root included) with its mode, relative path → mode.
fn modes(root: &Path) -> Vec<(String, u32)> {
    let mut found = vec![(".".to_owned(), mode(root))];
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            found.push((rel, mode(&path)));
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

fn article_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("eins.de.txt", article(1).as_bytes()),
            ("politik/zwei.de.md", article(2).as_bytes()),
        ],
    );
}

/// Every writer of a translation run, under umask 022 and 002: a folder run (outputs, the
/// folders it makes, the manifest), a single file to `-o`, and review pages with their index.
#[test]
fn everything_written_gets_the_umask_mode() {
    for (umask, file_mode, dir_mode) in [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)] {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        article_tree(&input);

        let out = tmp.path().join("out/de2en");
        identity_with_umask(tmp.path(), umask)
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        let expected: Vec<(String, u32)> = [
            (".", dir_mode),
            (".de2en-manifest.json", file_mode),
            ("eins.en.txt", file_mode),
            ("politik", dir_mode),
            ("politik/zwei.en.md", file_mode),
        ]
        .iter()
        .map(|(p, m)| ((*p).to_owned(), *m))
        .collect();
        assert_eq!(modes(&out), expected, "folder run under umask {umask:03o}");
        assert_eq!(mode(&tmp.path().join("out")), dir_mode);

        let single = tmp.path().join("single/eins.en.txt");
        identity_with_umask(tmp.path(), umask)
            .arg(input.join("eins.de.txt"))
            .arg("-o")
            .arg(&single)
            .assert()
            .success();
        assert_eq!(mode(&single), file_mode, "-o FILE under umask {umask:03o}");
        assert_eq!(mode(single.parent().unwrap()), dir_mode);

        let review = tmp.path().join("review");
        identity_with_umask(tmp.path(), umask)
            .args(["--format", "review"])
            .arg(&input)
            .arg("-o")
            .arg(&review)
            .assert()
            .success();
        for page in [
            "index.html",
            "eins.en.txt.review.html",
            "politik/zwei.en.md.review.html",
        ] {
            assert_eq!(
                mode(&review.join(page)),
                file_mode,
                "{page} under umask {umask:03o}"
            );
        }
        assert_eq!(mode(&review.join("politik")), dir_mode);
    }
}

/// A file that is replaced keeps its mode, whatever the umask says about new ones.
#[test]
fn a_replaced_file_keeps_its_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    article_tree(&input);

    let single = tmp.path().join("eins.en.txt");
    std::fs::write(&single, "old translation").unwrap();
    set_mode(&single, 0o640);
    identity_with_umask(tmp.path(), 0o022)
        .arg(input.join("eins.de.txt"))
        .arg("-o")
        .arg(&single)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&single).unwrap(), article(1));
    assert_eq!(mode(&single), 0o640);

    // In a folder run too (--force, so the output is written again), and the manifest as well.
    let out = tmp.path().join("out");
    identity_with_umask(tmp.path(), 0o022)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    set_mode(&out.join("politik/zwei.en.md"), 0o640);
    set_mode(&out.join(".de2en-manifest.json"), 0o600);
    identity_with_umask(tmp.path(), 0o022)
        .arg("--force")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 translated"));
    assert_eq!(mode(&out.join("politik/zwei.en.md")), 0o640);
    assert_eq!(mode(&out.join(".de2en-manifest.json")), 0o600);
    assert_eq!(mode(&out.join("eins.en.txt")), 0o644);
}

/// A replaced file keeps its owner and group where the process may set them: as root, any.
#[test]
fn a_replaced_file_keeps_its_owner_when_run_as_root() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: a plain query.
    if unsafe { libc::geteuid() } != 0 {
        return; // a user may not give files away; the mode test above covers the rest
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("eins.de.txt");
    std::fs::write(&input, article(1)).unwrap();
    let output = tmp.path().join("eins.en.txt");
    std::fs::write(&output, "old").unwrap();
    std::os::unix::fs::chown(&output, Some(4321), Some(4322)).unwrap();
    set_mode(&output, 0o664);
    identity_with_umask(tmp.path(), 0o022)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .assert()
        .success();
    let meta = std::fs::metadata(&output).unwrap();
    assert_eq!((meta.uid(), meta.gid(), mode(&output)), (4321, 4322, 0o664));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), article(1));
}

/// The fsync test hook's log: (kind, path) in the order the calls happened.
fn synced(log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let (kind, path) = line.split_once(' ').expect("kind path");
            (kind.to_owned(), path.to_owned())
        })
        .collect()
}

fn position(log: &[(String, String)], kind: &str, path: &Path) -> usize {
    let path = path.display().to_string();
    log.iter()
        .position(|(k, p)| k == kind && *p == path)
        .unwrap_or_else(|| panic!("no fsync of {kind} {path} in {log:#?}"))
}

/// Each output is fsynced, then its folder, then the manifest that lists it, then the manifest's
/// folder; a single `-o FILE` is fsynced with its folder too.
#[test]
fn files_and_folders_are_fsynced_before_the_manifest_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    article_tree(&input);
    let out = tmp.path().join("out");
    let log = tmp.path().join("fsync.log");
    identity_with_umask(tmp.path(), 0o022)
        .env("DE2EN_DEBUG_SYNC_LOG", &log)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let calls = synced(&log);
    let manifest = position(&calls, "file", &out.join(".de2en-manifest.json"));
    let root = out.join("politik").parent().unwrap().to_owned();
    let root_after_manifest = calls
        .iter()
        .rposition(|(k, p)| k == "dir" && *p == root.display().to_string())
        .expect("root folder synced");
    assert!(root_after_manifest > manifest, "{calls:#?}");
    for output in [out.join("eins.en.txt"), out.join("politik/zwei.en.md")] {
        let file = position(&calls, "file", &output);
        let dir = position(&calls, "dir", output.parent().unwrap());
        assert!(
            file < dir && dir < manifest,
            "{}: {calls:#?}",
            output.display()
        );
    }

    let single_log = tmp.path().join("single.log");
    let single = tmp.path().join("single.en.txt");
    identity_with_umask(tmp.path(), 0o022)
        .env("DE2EN_DEBUG_SYNC_LOG", &single_log)
        .arg(input.join("eins.de.txt"))
        .arg("-o")
        .arg(&single)
        .assert()
        .success();
    let calls = synced(&single_log);
    assert!(
        position(&calls, "file", &single) < position(&calls, "dir", tmp.path()),
        "{calls:#?}"
    );
}

/// A FIFO, a socket, a dangling link and two symlink loops in a tree: counted in the summary,
/// named with --verbose, exit 0, everything else translated (a link to a file included).
#[test]
fn special_files_are_counted_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    article_tree(&input);
    let fifo = input.join("pipe.txt");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(input.join("politik/socket.txt")).unwrap();
    std::os::unix::fs::symlink("nirgends.txt", input.join("tot.txt")).unwrap();
    std::os::unix::fs::symlink("schleife.txt", input.join("schleife.txt")).unwrap();
    std::os::unix::fs::symlink("..", input.join("politik/oben")).unwrap();
    std::os::unix::fs::symlink("eins.de.txt", input.join("verweis.de.txt")).unwrap();

    let out = tmp.path().join("out");
    let quiet_names = identity_with_umask(tmp.path(), 0o022)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "3 translated, 0 skipped (up to date), 0 failed, 5 not regular files (skipped); ",
        ))
        .get_output()
        .stderr
        .clone();
    assert!(
        !String::from_utf8_lossy(&quiet_names).contains("FIFO"),
        "names only with --verbose"
    );
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(
        names,
        ["eins.en.txt", "politik/zwei.en.md", "verweis.en.txt"]
    );

    let shown = |name: &str| input.join(name).display().to_string();
    identity_with_umask(tmp.path(), 0o022)
        .args(["--verbose", "--force"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "skipped {}: FIFO",
            shown("pipe.txt")
        )))
        .stderr(predicate::str::contains(format!(
            "skipped {}: socket",
            shown("politik/socket.txt")
        )))
        .stderr(predicate::str::contains(format!(
            "skipped {}: dangling link",
            shown("tot.txt")
        )))
        .stderr(predicate::str::contains(format!(
            "skipped {}: symlink loop",
            shown("schleife.txt")
        )))
        .stderr(predicate::str::contains(format!(
            "skipped {}: symlink loop",
            shown("politik/oben")
        )))
        .stderr(predicate::str::contains("5 not regular files (skipped)"));

    // Without any, the summary is what scripts have always read.
    let clean = tmp.path().join("clean");
    article_tree(&clean);
    identity_with_umask(tmp.path(), 0o022)
        .arg(&clean)
        .arg("-o")
        .arg(tmp.path().join("clean-out"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "2 translated, 0 skipped (up to date), 0 failed; ",
        ));
}

/// A translation run that converts a legacy checkpoint writes its cache file with the umask's
/// mode (it was a fixed 0644, so a group-shared cache under umask 002 was not group-writable).
#[test]
fn the_converted_checkpoint_cache_follows_the_umask() {
    let model = fixture_model("tiny-legacy");
    if !model.join("pytorch_model.bin").is_file() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut command = de2en_std(tmp.path());
    command
        .args(["translate", "--quiet", "--model"])
        .arg(&model);
    // SAFETY: as in `identity_with_umask`.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    assert_cmd::Command::from_std(command)
        .write_stdin("Die Stadt plant neue Radwege.\n")
        .assert()
        .success();
    let cache = tmp.path().join("de2en-cache/checkpoints");
    let found = modes(&cache);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0], (".".to_owned(), 0o775));
    assert!(found[1].0.ends_with(".safetensors"), "{found:?}");
    assert_eq!(found[1].1, 0o664);
}

/// "Translates" by upper-casing.
struct Upper;

impl de2en::Engine for Upper {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<de2en::Translation>, de2en::EngineError> {
        Ok(sentences
            .iter()
            .map(|s| de2en::Translation {
                text: s.to_uppercase(),
                ..de2en::Translation::default()
            })
            .collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

/// What the progress bar is told, in order.
#[derive(Default)]
struct Work {
    done: Vec<u64>,
    dropped: u64,
    /// Bytes reported done when the first file was finished.
    done_at_first_file: Option<u64>,
}

impl de2en::pipeline::Progress for Work {
    fn message(&mut self, _text: &str) {}
    fn file_done(&mut self) {
        let done = self.done.iter().sum();
        self.done_at_first_file.get_or_insert(done);
    }
    fn sentences_translated(&mut self, _count: u64) {}
    fn work_done(&mut self, source_bytes: u64) {
        self.done.push(source_bytes);
    }
    fn work_dropped(&mut self, source_bytes: u64) {
        self.dropped += source_bytes;
    }
}

/// The ETA's measure: two long articles in one window finish only when the window does, yet
/// the work reported grows chunk by chunk before that, and adds up to the planned bytes exactly;
/// on a second run everything is up to date and leaves the total instead of counting as done.
#[test]
fn progress_moves_inside_a_window_and_adds_up_to_the_planned_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let long = |n: usize| -> String {
        (0..60)
            .map(|i| {
                format!(
                    "Im Artikel {n} steht als Satz {i} eine Meldung{} über den Rat.",
                    " sehr".repeat(i % 7)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
            + "\n"
    };
    write_tree(
        &input,
        &[
            ("a.de.txt", long(1).as_bytes()),
            ("b.de.txt", long(2).as_bytes()),
        ],
    );
    let planned = (long(1).len() + long(2).len()) as u64;
    let options = de2en::pipeline::Options {
        window: 10_000,
        force: false,
        input_format: None,
        output_format: de2en::pipeline::OutputFormat::Text,
        quotes: de2en::quotes::QuoteStyle::Keep,
        // Small chunks: many engine calls per window.
        batch_tokens: 40,
        fingerprint: "upper".into(),
        shard: None,
        glossary: None,
    };
    let run = || {
        let plan = de2en::walk::plan(&de2en::walk::PlanOptions {
            inputs: vec![input.clone()],
            output: Some(tmp.path().join("out")),
            ..de2en::walk::PlanOptions::default()
        })
        .unwrap();
        assert_eq!(
            plan.jobs.iter().map(|j| j.source_bytes).sum::<u64>(),
            planned
        );
        let mut work = Work::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let summary = de2en::pipeline::run(plan, &Upper, &options, &mut work, &stop).unwrap();
        (summary, work)
    };
    let (summary, work) = run();
    assert_eq!(summary.translated, 2);
    assert_eq!(work.done.iter().sum::<u64>(), planned);
    assert_eq!(work.dropped, 0);
    let steps = work.done.iter().filter(|&&n| n > 0).count();
    assert!(steps >= 10, "reported in {steps} steps: {:?}", work.done);
    let before = work.done_at_first_file.unwrap();
    assert!(
        before * 2 > planned,
        "only {before} of {planned} bytes reported before the first file was written"
    );

    let (summary, work) = run();
    assert_eq!(summary.skipped, 2);
    assert_eq!(work.done.iter().sum::<u64>(), 0);
    assert_eq!(work.dropped, planned);
}
