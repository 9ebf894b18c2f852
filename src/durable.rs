//! Replacing a file the way `cp`, `rsync` and editors do, and so that it survives a power loss.
//!
//! Every file de2en writes (translations, review pages, the manifest, downloaded and exported
//! models, converted checkpoints) goes through a temporary file in the target's folder and a
//! rename. Done naively that leaves two surprises: the temporary file's private mode (0600) ends up
//! on the output, and nothing reaches the disk before the kernel feels like it. Here:
//!
//! - a new file gets `0666 & ~umask`, like every other tool's; a file that is replaced keeps its
//!   mode, and its owner and group where the process may set them (Unix; Windows unchanged);
//! - the temporary file is fsynced before the rename and its folder after it, so once this returns
//!   the new content is on disk under the final name (with [`DirSync::Later`] the folder's fsync
//!   is left to the caller, who batches it — the manifest does, before it lists the file).
//!
//! This is a leaf: it imports nothing from the crate, so every stage (the engine's checkpoint
//! cache included) may use it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// When the folder holding a renamed file is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirSync {
    /// Before returning: the new name is durable at once.
    Now,
    /// By the caller (see [`sync_dir`]), e.g. once per folder before a manifest is saved.
    Later,
}

/// The process's umask, read once without changing it (Unix).
///
/// Linux shows it in `/proc/self/status`; elsewhere the only way is to set it and set it back,
/// which races with threads creating files in between — so `cli::run` calls this first thing,
/// before any thread exists, and the value is kept.
#[cfg(unix)]
pub fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(|| {
        read_proc_umask().unwrap_or_else(|| {
            // SAFETY: umask cannot fail; the old value is put back at once.
            #[allow(clippy::useless_conversion)] // mode_t is u16 on macOS, u32 on Linux
            unsafe {
                let old = libc::umask(0o022);
                libc::umask(old);
                u32::from(old)
            }
        })
    })
}

#[cfg(unix)]
fn read_proc_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// The mode of a file de2en creates: `0666 & ~umask`.
#[cfg(unix)]
pub fn new_file_mode() -> u32 {
    0o666 & !umask()
}

/// The mode of a folder de2en creates: `0777 & ~umask` (what `create_dir_all` gives; a folder
/// made by `tempfile` is 0700 and needs this before it is renamed into place).
#[cfg(unix)]
pub fn new_dir_mode() -> u32 {
    0o777 & !umask()
}

/// Gives a finished temporary folder the mode of a folder de2en creates (no-op off Unix).
pub fn set_new_dir_mode(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(new_dir_mode()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A temporary file in `dir` (name starting with `prefix`) that will replace `target`: it already
/// has the mode (and where permitted the owner and group) the final file must have.
pub fn temp_for(target: &Path, dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    let temp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    #[cfg(unix)]
    take_over_attributes(temp.as_file(), target)?;
    #[cfg(not(unix))]
    let _ = target;
    Ok(temp)
}

/// The replaced file's mode, owner and group, or the mode of a new file. `fchmod` is not subject
/// to the umask, so the mode is exactly the one wanted; ownership is set first because `chown`
/// clears set-id bits.
#[cfg(unix)]
fn take_over_attributes(file: &File, target: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = match std::fs::metadata(target) {
        Ok(old) if old.is_file() => {
            let mine = file.metadata()?;
            if (old.uid(), old.gid()) != (mine.uid(), mine.gid()) {
                keep_owner(file, old.uid(), old.gid(), mine.uid())?;
            }
            old.mode() & 0o7777
        }
        _ => new_file_mode(),
    };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Gives `file` the owner and group of the file it replaces where the process may: root may set
/// both, a user only a group they belong to (as `cp -p` does). Not being allowed is no error.
#[cfg(unix)]
fn keep_owner(file: &File, uid: u32, gid: u32, my_uid: u32) -> io::Result<()> {
    let not_permitted = |e: &io::Error| e.raw_os_error() == Some(libc::EPERM);
    let owner = (uid != my_uid).then_some(uid);
    match std::os::unix::fs::fchown(file, owner, Some(gid)) {
        Ok(()) => Ok(()),
        Err(e) if not_permitted(&e) && owner.is_some() => {
            match std::os::unix::fs::fchown(file, None, Some(gid)) {
                Err(e) if !not_permitted(&e) => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) if not_permitted(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes a filled temporary file the final `target`: fsync, rename, and (with [`DirSync::Now`])
/// fsync of the folder. Returns the folder, for a caller that syncs it later.
pub fn commit(
    temp: tempfile::NamedTempFile,
    target: &Path,
    dir_sync: DirSync,
) -> io::Result<PathBuf> {
    sync_file(temp.as_file(), target)?;
    temp.persist(target).map_err(|e| e.error)?;
    let dir = parent_dir(target);
    if dir_sync == DirSync::Now {
        sync_dir(&dir)?;
    }
    Ok(dir)
}

/// Makes a file that other code wrote at `written` (a temporary name in `target`'s folder) the
/// final `target`, with the same modes and syncs as [`replace`]: for writers that insist on a
/// path of their own (safetensors writes its own temporary file and renames it).
pub fn adopt(written: &Path, target: &Path, dir_sync: DirSync) -> io::Result<PathBuf> {
    let file = File::open(written)?;
    #[cfg(unix)]
    take_over_attributes(&file, target)?;
    sync_file(&file, target)?;
    drop(file);
    std::fs::rename(written, target)?;
    let dir = parent_dir(target);
    if dir_sync == DirSync::Now {
        sync_dir(&dir)?;
    }
    Ok(dir)
}

/// Writes `target` through a temporary file filled by `fill`, with the modes and syncs above.
/// The folder must exist. Returns the folder (see [`commit`]).
pub fn replace(
    target: &Path,
    prefix: &str,
    dir_sync: DirSync,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let dir = parent_dir(target);
    let mut temp = temp_for(target, &dir, prefix)?;
    fill(temp.as_file_mut())?;
    commit(temp, target, dir_sync)
}

/// `mkdir -p` (folders get `0777 & ~umask`), and each folder it made is made durable: its entry
/// in its parent is fsynced, or a file renamed into it could vanish with it after a power loss.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut made = Vec::new();
    let mut missing = Some(dir);
    while let Some(d) = missing.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        made.push(d);
        missing = d.parent();
    }
    if made.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for d in made.iter().rev() {
        sync_dir(&parent_dir(d))?;
    }
    Ok(())
}

/// The folder `path` lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a written file (`name` is what the test hook logs).
pub fn sync_file(file: &File, name: &Path) -> io::Result<()> {
    if !fsync_enabled() {
        return Ok(());
    }
    file.sync_all()?;
    log_sync("file", name);
    Ok(())
}

/// fsyncs a folder, so that the names renamed into it survive a power loss. Off Unix a folder
/// cannot be opened for that, and NTFS journals renames itself: nothing to do.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if !fsync_enabled() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
        log_sync("dir", dir);
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// `DE2EN_NO_FSYNC=1` turns the fsyncs off. It exists to measure what they cost (README,
/// "Durability"); a run made with it has no guarantee after a power loss.
fn fsync_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("DE2EN_NO_FSYNC").is_none_or(|v| v != "1"))
}

/// Test hook: with `DE2EN_DEBUG_SYNC_LOG=FILE`, every fsync appends `file PATH` or `dir PATH` to
/// FILE, in order, so a test can prove that a file was synced before the folder after its rename,
/// and both before the manifest that lists it.
fn log_sync(kind: &str, path: &Path) {
    static LOG: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(log) = LOG.get_or_init(|| std::env::var_os("DE2EN_DEBUG_SYNC_LOG").map(PathBuf::from))
    else {
        return;
    };
    use std::io::Write as _;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(file, "{kind} {}", path.display());
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_files_get_the_umask_mode_and_replaced_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.txt");
        replace(&new, ".t-", DirSync::Now, |f| f.write_all(b"a")).unwrap();
        assert_eq!(mode(&new), 0o666 & !umask());
        let old = dir.path().join("old.txt");
        std::fs::write(&old, b"old").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&old, ".t-", DirSync::Now, |f| f.write_all(b"new")).unwrap();
        assert_eq!(mode(&old), 0o640);
        assert_eq!(std::fs::read(&old).unwrap(), b"new");
    }
}
