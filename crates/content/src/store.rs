use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::fsutil::fsync_dir;
use crate::{Digest, Error, ErrorKind, Result};

/// Write buffer of an ingest: large enough that tar-sized (512 byte) writes
/// from a tee do not each become a syscall.
const INGEST_BUFFER: usize = 256 * 1024;

/// A content-addressed blob store rooted at one host directory.
#[derive(Debug)]
pub struct ContentStore {
    root: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store at `root`. Leftover ingests from
    /// a previous run are removed: they were never committed, so no reader
    /// can have seen them.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        for d in [&blobs, &ingest] {
            fs::create_dir_all(d).map_err(|e| Error::io("create content dir", d, e))?;
        }
        let entries =
            fs::read_dir(&ingest).map_err(|e| Error::io("read ingest dir", &ingest, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read ingest dir", &ingest, e))?;
            let p = entry.path();
            let res = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                _ => fs::remove_file(&p),
            };
            match res {
                Ok(()) => tracing::debug!(path = %p.display(), "removed leftover ingest"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove leftover ingest", &p, e)),
            }
        }
        Ok(ContentStore {
            root,
            blobs,
            ingest,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a committed blob. Callers outside this crate should prefer
    /// [`ContentStore::open_blob`]; the path is exposed for tools that hand a
    /// blob to another process.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Starts writing a new blob.
    pub fn ingest(&self) -> Result<Ingest> {
        let name = format!("{:032x}", rand::random::<u128>());
        let tmp = self.ingest.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create ingest", &tmp, e))?;
        Ok(Ingest {
            out: Some(BufWriter::with_capacity(INGEST_BUFFER, file)),
            tmp,
            blobs: self.blobs.clone(),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    pub fn exists(&self, d: &Digest) -> bool {
        fs::symlink_metadata(self.blob_path(d)).is_ok_and(|m| m.is_file())
    }

    pub fn size(&self, d: &Digest) -> Result<u64> {
        let p = self.blob_path(d);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(d)),
            Err(e) => Err(Error::io("stat blob", &p, e)),
        }
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.blob_path(d);
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
        {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(d)),
            Err(e) => Err(Error::io("open blob", &p, e)),
        }
    }

    /// Reads a small blob (a manifest or config) whole. Refuses blobs larger
    /// than `max` so that a hostile manifest cannot make us allocate without
    /// bound.
    pub fn read_blob(&self, d: &Digest, max: u64) -> Result<Vec<u8>> {
        let f = self.open_blob(d)?;
        let p = self.blob_path(d);
        let len = f
            .metadata()
            .map_err(|e| Error::io("stat blob", &p, e))?
            .len();
        if len > max {
            return Err(Error::invalid(format!(
                "blob {d} is {len} bytes, more than the {max} allowed here"
            )));
        }
        let mut buf = Vec::with_capacity(len as usize);
        f.take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read blob", &p, e))?;
        if buf.len() as u64 > max {
            return Err(Error::invalid(format!(
                "blob {d} grew past {max} bytes while being read"
            )));
        }
        Ok(buf)
    }

    /// Stores `bytes` and returns their digest; storing the same bytes twice
    /// is not an error.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let expected = Digest::of(bytes);
        if self.exists(&expected) {
            return Ok(expected);
        }
        let mut ing = self.ingest()?;
        ing.write_all(bytes)
            .map_err(|e| Error::io("write ingest", &ing.tmp, e))?;
        let (d, _) = ing.commit(Some(&expected), Some(bytes.len() as u64))?;
        Ok(d)
    }

    pub fn delete(&self, d: &Digest) -> Result<()> {
        let p = self.blob_path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(d)),
            Err(e) => Err(Error::io("delete blob", &p, e)),
        }
    }

    /// All committed blobs with their sizes, in digest order.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&self.blobs).map_err(|e| Error::io("list blobs", &self.blobs, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list blobs", &self.blobs, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            match entry.metadata() {
                Ok(m) if m.is_file() => out.push((d, m.len())),
                Ok(_) => {}
                // Deleted between readdir and stat.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("stat blob", &entry.path(), e)),
            }
        }
        out.sort();
        Ok(out)
    }
}

fn not_found(d: &Digest) -> Error {
    Error::not_found(format!("content {d}: not found"))
}

/// An in-flight blob write. Bytes are hashed as they are written; nothing is
/// visible in the store until [`Ingest::commit`]. Dropping an uncommitted
/// ingest removes its temp file.
pub struct Ingest {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    blobs: PathBuf,
    hasher: Sha256,
    written: u64,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("tmp", &self.tmp)
            .field("written", &self.written)
            .finish()
    }
}

impl Ingest {
    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest and size (when given), makes the data durable and
    /// moves it into place. A blob that is already present counts as success:
    /// content addressing makes the two copies identical.
    pub fn commit(
        mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64)> {
        let out = self.out.take().expect("ingest used after commit");
        let file = out
            .into_inner()
            .map_err(|e| Error::io("flush ingest", &self.tmp, e.into_error()))?;
        let size = self.written;
        let digest = Digest::from_sha256(std::mem::take(&mut self.hasher).finalize().as_slice());
        let result = self.finish(file, &digest, size, expected, expected_size);
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result.map(|()| (digest, size))
    }

    fn finish(
        &self,
        file: File,
        digest: &Digest,
        size: u64,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<()> {
        if let Some(want) = expected_size
            && want != size
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("commit blob: unexpected size {size}, expected {want}"),
            ));
        }
        if let Some(want) = expected
            && want != digest
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("commit blob: unexpected digest {digest}, expected {want}"),
            ));
        }
        // Blobs are immutable; read-only permissions make accidental in-place
        // writes fail loudly instead of corrupting content silently.
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(|e| Error::io("chmod ingest", &self.tmp, e))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync ingest", &self.tmp, e))?;
        drop(file);
        let target = self.blobs.join(digest.hex());
        if fs::symlink_metadata(&target).is_ok() {
            fs::remove_file(&self.tmp).map_err(|e| Error::io("remove ingest", &self.tmp, e))?;
            return Ok(());
        }
        fs::rename(&self.tmp, &target).map_err(|e| Error::io("commit blob", &target, e))?;
        fsync_dir(&self.blobs).map_err(|e| Error::io("fsync", &self.blobs, e))
    }

    /// Discards the ingest.
    pub fn abort(self) {
        drop(self)
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let td = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(td.path().join("content")).unwrap();
        (td, cs)
    }

    fn ingest_files(cs: &ContentStore) -> usize {
        fs::read_dir(cs.root().join("ingest")).unwrap().count()
    }

    #[test]
    fn ingest_commit_verifies_and_stores() {
        let (_td, cs) = store();
        let data = b"hello blob".repeat(100_000);
        let want = Digest::of(&data);
        let mut ing = cs.ingest().unwrap();
        for chunk in data.chunks(4097) {
            ing.write_all(chunk).unwrap();
        }
        assert_eq!(ing.written(), data.len() as u64);
        assert!(!cs.exists(&want), "visible before commit");
        let (d, n) = ing.commit(Some(&want), Some(data.len() as u64)).unwrap();
        assert_eq!(d, want);
        assert_eq!(n, data.len() as u64);
        assert!(cs.exists(&d));
        assert_eq!(cs.size(&d).unwrap(), n);
        assert_eq!(cs.read_blob(&d, u64::MAX).unwrap(), data);
        assert_eq!(ingest_files(&cs), 0);
        assert_eq!(cs.list().unwrap(), vec![(d, n)]);
    }

    #[test]
    fn digest_mismatch_leaves_nothing() {
        let (_td, cs) = store();
        let mut ing = cs.ingest().unwrap();
        ing.write_all(b"actual").unwrap();
        let wrong = Digest::of(b"expected");
        let err = ing.commit(Some(&wrong), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("unexpected digest"), "{err}");
        assert!(cs.list().unwrap().is_empty());
        assert!(!cs.exists(&Digest::of(b"actual")));
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn size_mismatch_leaves_nothing() {
        let (_td, cs) = store();
        let mut ing = cs.ingest().unwrap();
        ing.write_all(b"12345").unwrap();
        let err = ing
            .commit(Some(&Digest::of(b"12345")), Some(6))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("unexpected size 5, expected 6"),
            "{err}"
        );
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn drop_and_abort_remove_temp() {
        let (_td, cs) = store();
        let mut a = cs.ingest().unwrap();
        a.write_all(b"x").unwrap();
        let b = cs.ingest().unwrap();
        assert_eq!(ingest_files(&cs), 2);
        drop(a);
        b.abort();
        assert_eq!(ingest_files(&cs), 0);
        assert!(cs.list().unwrap().is_empty());
    }

    #[test]
    fn reopen_cleans_leftover_ingests() {
        let td = tempfile::tempdir().unwrap();
        let root = td.path().join("c");
        let cs = ContentStore::open(&root).unwrap();
        let d = cs.write_blob(b"kept").unwrap();
        let mut ing = cs.ingest().unwrap();
        ing.write_all(b"half written").unwrap();
        ing.flush().unwrap();
        // Simulate a crash: the process dies without running Drop.
        std::mem::forget(ing);
        fs::create_dir(root.join("ingest").join("stray-dir")).unwrap();
        assert_eq!(ingest_files(&cs), 2);
        drop(cs);
        let cs = ContentStore::open(&root).unwrap();
        assert_eq!(ingest_files(&cs), 0);
        assert_eq!(cs.list().unwrap(), vec![(d.clone(), 4)]);
        assert_eq!(cs.read_blob(&d, 10).unwrap(), b"kept");
    }

    #[test]
    fn write_blob_is_idempotent_and_commit_of_present_blob_succeeds() {
        let (_td, cs) = store();
        let a = cs.write_blob(b"same").unwrap();
        let b = cs.write_blob(b"same").unwrap();
        assert_eq!(a, b);
        let mut ing = cs.ingest().unwrap();
        ing.write_all(b"same").unwrap();
        let (c, n) = ing.commit(None, None).unwrap();
        assert_eq!((c, n), (a.clone(), 4));
        assert_eq!(cs.list().unwrap().len(), 1);
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn read_blob_limit_and_missing() {
        let (_td, cs) = store();
        let d = cs.write_blob(b"0123456789").unwrap();
        assert_eq!(cs.read_blob(&d, 10).unwrap().len(), 10);
        let err = cs.read_blob(&d, 9).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let missing = Digest::of(b"nope");
        assert_eq!(
            cs.read_blob(&missing, 9).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(cs.size(&missing).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(
            cs.open_blob(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(cs.delete(&missing).unwrap_err().kind(), ErrorKind::NotFound);
        cs.delete(&d).unwrap();
        assert!(!cs.exists(&d));
        assert!(cs.list().unwrap().is_empty());
    }

    #[test]
    fn committed_blobs_are_read_only() {
        let (_td, cs) = store();
        let d = cs.write_blob(b"ro").unwrap();
        let mode = fs::metadata(cs.blob_path(&d)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
    }
}
