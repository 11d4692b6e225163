//! The structure pack: host structures (the store's largest values: immutable and
//! content-addressed) kept in one append-only file, `data/structures.pack`, beside sled's own
//! files; sled keeps, under the structure's key, a 17-byte pointer to it.
//!
//! Why: sled's log keeps every page version until its segment cleaner reclaims the segment,
//! which it does only below half-live, so a value costs about twice its bytes on disk even
//! right after `hopdb compact`, and several times after an import (a node of large values is
//! rewritten whole as each value lands). Host structures are about two thirds of a store's
//! bytes, are never changed in place (a changed structure has another id) and are read one at a
//! time: an append-only file holds them at their own size.
//!
//! File layout: the magic `HOPDBPK1`, then entries `[body length u32 LE][crc32 of body u32 LE]
//! [body]`; a body is the structure's value in the store codec's form (tag, bincode, zstd).
//! Pointer (the value under the structure's key): the codec tag [`TAG_PACKED`], then the
//! body's offset (u64 LE), length (u32 LE) and crc32 (u32 LE).
//!
//! Invariant (crash safety): bodies are appended and made durable (`fsync`) *before* the sled
//! batch that points at them is applied, so a durable pointer never names bytes that are not on
//! disk. A crash between the two leaves bytes no pointer names, which nothing reads; `hopdb
//! compact` rewrites the pack with only the bodies still pointed at. Appends never overwrite a
//! byte a pointer names: they start at the end the file had when the store was opened, or
//! after the last successful append.

use super::{Result, StoreError};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The pack's file name inside the store's `data` directory (so that a compaction's swap of
/// that directory swaps the pack with the sled files that point into it).
pub(super) const PACK_FILE: &str = "structures.pack";

/// The first bytes of a pack file.
const MAGIC: &[u8; 8] = b"HOPDBPK1";

/// Codec tag of a pointer into the pack (the codec's own tags are 0 and 1).
pub(super) const TAG_PACKED: u8 = 2;

/// Length of a pointer value.
const POINTER_LEN: usize = 17;

/// Bytes of an entry's header (length and checksum).
const ENTRY_HEADER_LEN: u64 = 8;

/// Where a body lies in the pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PackPointer {
    /// Offset of the body (after its entry header).
    pub offset: u64,
    /// Length of the body.
    pub len: u32,
    /// crc32 of the body.
    pub crc: u32,
}

impl PackPointer {
    /// The pointer as the value stored under the structure's key.
    pub fn encode(&self) -> [u8; POINTER_LEN] {
        let mut v = [0u8; POINTER_LEN];
        v[0] = TAG_PACKED;
        v[1..9].copy_from_slice(&self.offset.to_le_bytes());
        v[9..13].copy_from_slice(&self.len.to_le_bytes());
        v[13..17].copy_from_slice(&self.crc.to_le_bytes());
        v
    }

    /// The pointer a stored value holds, if it is one (`None`: the value is inline).
    pub fn decode(v: &[u8]) -> Option<PackPointer> {
        if v.len() != POINTER_LEN || v[0] != TAG_PACKED {
            return None;
        }
        Some(PackPointer {
            offset: u64::from_le_bytes(v[1..9].try_into().ok()?),
            len: u32::from_le_bytes(v[9..13].try_into().ok()?),
            crc: u32::from_le_bytes(v[13..17].try_into().ok()?),
        })
    }
}

/// An open pack file.
pub(super) struct Pack {
    path: PathBuf,
    file: File,
    /// Where the next append starts (the file's length at open, then after each append).
    end: std::sync::Mutex<u64>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

impl Pack {
    /// Open (or create, with its magic) the pack in sled's directory `data`.
    pub fn open(data: &Path) -> Result<Pack> {
        let path = data.join(PACK_FILE);
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_error(&path))?;
        let len = file.metadata().map_err(io_error(&path))?.len();
        if len == 0 {
            write_at(&file, MAGIC, 0).map_err(io_error(&path))?;
        } else {
            let mut magic = [0u8; 8];
            if len < MAGIC.len() as u64 || read_at(&file, &mut magic, 0).is_err() || &magic != MAGIC {
                return Err(StoreError::Damaged { path: None, detail: format!("{} is not a structure pack (its first bytes are not {:?})", path.display(), "HOPDBPK1") });
            }
        }
        Ok(Pack { path, file, end: std::sync::Mutex::new(len.max(MAGIC.len() as u64)) })
    }

    /// Append bodies and make them durable; their pointers, in order.
    pub fn append(&self, bodies: &[&[u8]]) -> Result<Vec<PackPointer>> {
        let ptrs = self.append_unsynced(bodies)?;
        if !ptrs.is_empty() {
            self.sync()?;
        }
        Ok(ptrs)
    }

    /// Append bodies without `fsync` (a compaction's copy syncs once at its end); their
    /// pointers, in order.
    pub fn append_unsynced(&self, bodies: &[&[u8]]) -> Result<Vec<PackPointer>> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = Vec::with_capacity(bodies.iter().map(|b| b.len() + ENTRY_HEADER_LEN as usize).sum());
        let mut ptrs = Vec::with_capacity(bodies.len());
        let mut at = *end;
        for body in bodies {
            let len = u32::try_from(body.len()).map_err(|_| StoreError::Invalid(format!("a host structure of {} bytes is too large to store", body.len())))?;
            let crc = crc32fast::hash(body);
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(body);
            ptrs.push(PackPointer { offset: at + ENTRY_HEADER_LEN, len, crc });
            at += ENTRY_HEADER_LEN + len as u64;
        }
        write_at(&self.file, &buf, *end).map_err(io_error(&self.path))?;
        *end = at;
        Ok(ptrs)
    }

    /// Make every append durable.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(io_error(&self.path))
    }

    /// The body a pointer names, checked against its checksum; `what` names it in errors.
    pub fn read(&self, p: PackPointer, what: &str) -> Result<Vec<u8>> {
        let end = *self.end.lock().unwrap_or_else(|e| e.into_inner());
        if p.offset + p.len as u64 > end {
            return Err(StoreError::Damaged {
                path: None,
                detail: format!("{what} lies at bytes {}..{} of {}, which ends at {end} (a truncated pack)", p.offset, p.offset + p.len as u64, self.path.display()),
            });
        }
        let mut body = vec![0u8; p.len as usize];
        read_at(&self.file, &mut body, p.offset).map_err(io_error(&self.path))?;
        if crc32fast::hash(&body) != p.crc {
            return Err(StoreError::Damaged { path: None, detail: format!("{what} at byte {} of {} fails its checksum", p.offset, self.path.display()) });
        }
        Ok(body)
    }

    /// Bytes of the file.
    pub fn file_len(&self) -> u64 {
        *self.end.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(f: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let pack = Pack::open(dir.path()).unwrap();
        let ptrs = pack.append(&[b"first body", b"", b"third"]).unwrap();
        assert_eq!(ptrs[0].offset, 16, "after the magic and one entry header");
        assert_eq!(pack.read(ptrs[0], "s/a").unwrap(), b"first body");
        assert_eq!(pack.read(ptrs[1], "s/b").unwrap(), b"");
        assert_eq!(pack.read(ptrs[2], "s/c").unwrap(), b"third");
        for p in &ptrs {
            assert_eq!(PackPointer::decode(&p.encode()), Some(*p));
        }
        assert_eq!(PackPointer::decode(&[0, 1, 2]), None, "an inline value is not a pointer");
        // Reopened: appends continue after the last entry.
        drop(pack);
        let pack = Pack::open(dir.path()).unwrap();
        let more = pack.append(&[b"fourth"]).unwrap();
        assert!(more[0].offset > ptrs[2].offset);
        assert_eq!(pack.read(ptrs[0], "s/a").unwrap(), b"first body");
        // A flipped byte fails the checksum; a pointer past the end names the truncation.
        let path = dir.path().join(PACK_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[ptrs[0].offset as usize] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        drop(pack);
        let pack = Pack::open(dir.path()).unwrap();
        let e = pack.read(ptrs[0], "s/a").unwrap_err().to_string();
        assert!(e.contains("s/a") && e.contains("checksum"), "{e}");
        let far = PackPointer { offset: 1 << 20, len: 4, crc: 0 };
        let e = pack.read(far, "s/z").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // A file that is not a pack.
        std::fs::write(&path, b"something else").unwrap();
        drop(pack);
        let e = Pack::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("not a structure pack"), "{e}");
    }
}
