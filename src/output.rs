//! Writing result files: every file is written atomically (a temporary file in the same folder,
//! flushed, then renamed over the target), so a reader never sees half a report and a crash never
//! leaves a truncated one.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Create `dir` (and parents) if needed.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Stream a file to `path` atomically: `fill` writes into a buffered temporary file beside the
/// target, which is then flushed, synced and renamed over it. Large exports never need to be
/// held in memory whole.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut file = AtomicFile::create(path)?;
    fill(file.writer()).with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()
}

/// A file being written atomically: a buffered temporary file beside the target until
/// [`AtomicFile::commit`] renames it over the target; dropped uncommitted, it is removed. Lets a
/// file be filled over a whole run (records as they finish) with the same guarantee as
/// [`write_atomic`].
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    /// Create the temporary file for `path`.
    pub fn create(path: &Path) -> anyhow::Result<AtomicFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .with_context(|| format!("{} names no file", path.display()))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp: PathBuf = dir.join(tmp_name);
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            writer: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Where to write the content.
    pub fn writer(&mut self) -> &mut dyn Write {
        self.writer
            .as_mut()
            .expect("the writer is only taken by commit, which consumes the file")
    }

    /// Flush, sync and rename the temporary file over the target.
    pub fn commit(mut self) -> anyhow::Result<()> {
        let result = (|| -> std::io::Result<()> {
            let w = self.writer.take().expect("commit runs once");
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        result.with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Never leave a temporary file behind (after a commit it no longer exists: NotFound).
        self.writer = None;
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Serialise `value` as pretty JSON (with a trailing newline) and write it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
    }

    #[test]
    fn an_uncommitted_atomic_file_leaves_nothing_and_a_committed_one_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, b"old").unwrap();
        let mut abandoned = AtomicFile::create(&path).unwrap();
        abandoned.writer().write_all(b"half a run").unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read(&path).unwrap(), b"old", "target untouched");
        let names = |d: &Path| -> Vec<_> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect()
        };
        assert_eq!(names(dir.path()).len(), 1, "{:?}", names(dir.path()));
        let mut file = AtomicFile::create(&path).unwrap();
        file.writer().write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()).len(), 1, "{:?}", names(dir.path()));
    }

    #[test]
    fn write_into_a_missing_folder_fails_with_the_path_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("a.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }
}
