//! The store's one value codec: bincode, then zstd when the value is long enough to gain, with
//! one tag byte in front that says the encoding.
//!
//! | tag | body |
//! |---|---|
//! | 0 | bincode |
//! | 1 | one zstd frame (with its content size) of the bincode |
//! | 2 | not a value: a pointer into the structure pack (the `pack` submodule) |
//! | 3 | one zstd frame of the bincode compressed with a dictionary (its id in the frame) |
//!
//! Dictionaries (tag 3) are trained on a store's records by a compaction
//! ([`train_dictionary`]), kept in the store's meta `records_dict`, and registered for the
//! process when the store opens ([`register_dictionary`]): a record then costs about a
//! quarter of its size under tag 1, since the provenance and method text that every record of
//! a dataset repeats sits in the dictionary once.
//!
//! Invariant: a new encoding takes a new tag and the decoder keeps reading the old ones, so no
//! stored value has to be rewritten when the writer changes.

use super::{Result, StoreError};
use serde::Serialize;

/// zstd level of stored values (3: zstd's default; higher levels gained little on records).
pub const VALUE_ZSTD_LEVEL: i32 = 3;

/// Values shorter than this are stored uncompressed (tag 0).
const COMPRESS_MIN_LEN: usize = 128;

/// Tag of a plain bincode body.
const TAG_BINCODE: u8 = 0;

/// Tag of a zstd frame of bincode.
const TAG_ZSTD: u8 = 1;

/// Tag of a zstd frame of bincode compressed with a registered dictionary.
const TAG_ZSTD_DICT: u8 = 3;

/// Size of a trained dictionary (bytes).
pub(super) const DICTIONARY_BYTES: usize = 32 * 1024;

/// The dictionaries this process has seen, by their zstd dictionary id; prepared once and kept
/// for the life of the process (a few tens of KB each, one per store opened).
type Dictionaries = std::collections::HashMap<u32, (&'static zstd::dict::EncoderDictionary<'static>, &'static zstd::dict::DecoderDictionary<'static>)>;

fn dictionaries() -> &'static std::sync::RwLock<Dictionaries> {
    static D: std::sync::OnceLock<std::sync::RwLock<Dictionaries>> = std::sync::OnceLock::new();
    D.get_or_init(Default::default)
}

/// Register a dictionary (the bytes of a trained zstd dictionary) so that values compressed
/// with it decode in this process; its id, or `None` for bytes that are not a dictionary.
pub(super) fn register_dictionary(dict: &[u8]) -> Option<u32> {
    let id = zstd::zstd_safe::get_dict_id_from_dict(dict)?.get();
    let mut d = dictionaries().write().unwrap_or_else(|e| e.into_inner());
    d.entry(id).or_insert_with(|| {
        let enc: &'static _ = Box::leak(Box::new(zstd::dict::EncoderDictionary::copy(dict, VALUE_ZSTD_LEVEL)));
        let dec: &'static _ = Box::leak(Box::new(zstd::dict::DecoderDictionary::copy(dict)));
        (enc, dec)
    });
    Some(id)
}

/// Train a dictionary on sample values (raw bincode); `None` when zstd finds too little to
/// learn from (a few hundred samples at least are needed).
pub(super) fn train_dictionary(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    if samples.len() < 256 {
        return None;
    }
    zstd::dict::from_samples(samples, DICTIONARY_BYTES).ok()
}

/// The stored form of raw bincode compressed with the registered dictionary `dict_id` (tag
/// 3), or under [`encode_bincode`] when the dictionary does not shrink it or is unknown.
pub(super) fn encode_bincode_with(raw: &[u8], dict_id: u32) -> Vec<u8> {
    let Some((enc, _)) = dictionaries().read().unwrap_or_else(|e| e.into_inner()).get(&dict_id).copied() else { return encode_bincode(raw) };
    let z = DICT_COMPRESSORS.with(|cell| {
        let mut map = cell.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(e) = map.entry(dict_id) {
            e.insert(zstd::bulk::Compressor::with_prepared_dictionary(enc)?);
        }
        match map.get_mut(&dict_id) {
            Some(c) => c.compress(raw),
            None => Err(std::io::ErrorKind::Other.into()),
        }
    });
    match z {
        // Compared with the raw bincode, not with a second (dictionary-less) compression.
        Ok(z) if z.len() < raw.len() => {
            let mut out = Vec::with_capacity(z.len() + 1);
            out.push(TAG_ZSTD_DICT);
            out.extend_from_slice(&z);
            out
        }
        _ => encode_bincode(raw),
    }
}

/// The bincode inside a stored value (any tag but a pack pointer).
pub(super) fn raw_bincode(k: &[u8], v: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |msg: String| StoreError::Corrupt { key: printable_key(k), msg };
    match v.split_first() {
        Some((&TAG_BINCODE, body)) => Ok(body.to_vec()),
        Some((&TAG_ZSTD, body)) => decompress(body).map_err(|e| corrupt(format!("zstd: {e}"))),
        Some((&TAG_ZSTD_DICT, body)) => decompress_with_dictionary(body).map_err(|e| corrupt(format!("zstd: {e}"))),
        Some((t, _)) => Err(corrupt(format!("unknown value encoding tag {t}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// Decompress a frame of tag 3 with the registered dictionary its header names.
fn decompress_with_dictionary(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let id = zstd::zstd_safe::get_dict_id_from_frame(body).ok_or_else(|| invalid("the frame names no dictionary".into()))?.get();
    let dec = dictionaries().read().unwrap_or_else(|e| e.into_inner()).get(&id).map(|(_, d)| *d);
    let dec = dec.ok_or_else(|| invalid(format!("dictionary {id} is not in the store")))?;
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n <= MAX_VALUE_LEN => n as usize,
        _ => return Err(invalid("frame without a valid content size".into())),
    };
    DICT_DECOMPRESSORS.with(|cell| {
        let mut map = cell.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(e) = map.entry(id) {
            e.insert(zstd::bulk::Decompressor::with_prepared_dictionary(dec)?);
        }
        match map.get_mut(&id) {
            Some(d) => d.decompress(body, size),
            None => Err(std::io::ErrorKind::Other.into()),
        }
    })
}

thread_local! {
    /// Per thread, one compression and one decompression context per dictionary, reused (see
    /// [`DECOMPRESSOR`]).
    static DICT_COMPRESSORS: std::cell::RefCell<std::collections::HashMap<u32, zstd::bulk::Compressor<'static>>> = std::cell::RefCell::new(Default::default());
    static DICT_DECOMPRESSORS: std::cell::RefCell<std::collections::HashMap<u32, zstd::bulk::Decompressor<'static>>> = std::cell::RefCell::new(Default::default());
}

/// Largest decompressed value accepted (a frame that claims more is corrupt).
const MAX_VALUE_LEN: u64 = 1 << 30;

thread_local! {
    /// One zstd decompression context per thread, reused: creating a context per value cost
    /// more than the decompression itself (about 20 us of 27 us per record fetch).
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
    /// One zstd compression context per thread, reused ([`compress`]).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// The stored form of a value: its bincode through [`encode_bincode`].
pub(super) fn encode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    encode_bincode(&bincode::serialize(v).expect("in-memory values always encode"))
}

/// The stored form of a value already serialised with bincode: zstd when the value is long
/// enough to gain (tag 1), else as it is (tag 0).
pub(super) fn encode_bincode(raw: &[u8]) -> Vec<u8> {
    if raw.len() >= COMPRESS_MIN_LEN {
        if let Ok(z) = compress(raw) {
            if z.len() < raw.len() {
                let mut out = Vec::with_capacity(z.len() + 1);
                out.push(TAG_ZSTD);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    out.push(TAG_BINCODE);
    out.extend_from_slice(raw);
    out
}

/// Decode a stored value of key `k`; [`StoreError::Corrupt`] (naming the key) when it does not.
pub(super) fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T> {
    let corrupt = |msg: String| StoreError::Corrupt { key: printable_key(k), msg };
    match v.split_first() {
        Some((&TAG_BINCODE, body)) => bincode::deserialize(body).map_err(|e| corrupt(e.to_string())),
        Some((&TAG_ZSTD, body)) => {
            let raw = decompress(body).map_err(|e| corrupt(format!("zstd: {e}")))?;
            bincode::deserialize(&raw).map_err(|e| corrupt(e.to_string()))
        }
        Some((&TAG_ZSTD_DICT, body)) => {
            let raw = decompress_with_dictionary(body).map_err(|e| corrupt(format!("zstd: {e}")))?;
            bincode::deserialize(&raw).map_err(|e| corrupt(e.to_string()))
        }
        Some((t, _)) => Err(corrupt(format!("unknown value encoding tag {t}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// A key as text for messages: parts separated by `/`.
pub(super) fn printable_key(k: &[u8]) -> String {
    String::from_utf8_lossy(k).replace('\0', "/")
}

/// One zstd frame of `raw` at [`VALUE_ZSTD_LEVEL`] (with its content size), through the
/// thread's reused context: a context per value cost 13 % of an import's time in
/// `ZSTD_createCCtx` and the zeroing of its tables (perf, 120k-frame import).
fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(VALUE_ZSTD_LEVEL)?);
        }
        match slot.as_mut() {
            Some(c) => c.compress(raw),
            None => zstd::bulk::compress(raw, VALUE_ZSTD_LEVEL),
        }
    })
}

/// Decompress one zstd frame written by [`encode`] (which records the content size).
fn decompress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n <= MAX_VALUE_LEN => n as usize,
        // No size in the frame (not written by this encoder): the streaming decoder copes.
        Ok(None) => return zstd::stream::decode_all(body),
        Ok(Some(n)) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame claims {n} bytes"))),
        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a zstd frame")),
    };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(body, size),
            None => zstd::stream::decode_all(body),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_every_encoding() {
        let long: Vec<String> = (0..64).map(|i| format!("value number {i}")).collect();
        // Long enough to be compressed (tag 1, content size in the frame), and short (tag 0).
        let enc = encode(&long);
        assert_eq!(enc[0], 1);
        assert_eq!(decode::<Vec<String>>(b"k", &enc).unwrap(), long);
        let short = vec!["a".to_string()];
        assert_eq!(encode(&short)[0], 0);
        assert_eq!(decode::<Vec<String>>(b"k", &encode(&short)).unwrap(), short);
        // Wrapping bincode bytes is the same as encoding the value.
        assert_eq!(encode_bincode(&bincode::serialize(&long).unwrap()), enc);
        // The reused context writes the bytes a fresh one writes, value after value.
        for v in [&long, &long[..7].to_vec(), &long] {
            let raw = bincode::serialize(v).unwrap();
            assert_eq!(encode_bincode(&raw)[1..], zstd::bulk::compress(&raw, VALUE_ZSTD_LEVEL).unwrap()[..]);
        }
        // A frame without a content size (a streaming encoder) still decodes.
        let raw = bincode::serialize(&long).unwrap();
        let mut streamed = vec![1u8];
        let mut enc_stream = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut enc_stream, &raw).unwrap();
        streamed.extend(enc_stream.finish().unwrap());
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&streamed[1..]).ok().flatten(), None, "the streaming frame has no size");
        assert_eq!(decode::<Vec<String>>(b"k", &streamed).unwrap(), long);
        // Damaged values are errors that name the key, never panics.
        let mut bad = enc.clone();
        bad.truncate(bad.len() / 2);
        let e = decode::<Vec<String>>(b"r\0x", &bad).unwrap_err().to_string();
        assert!(e.contains("r/x") && e.contains("zstd"), "{e}");
        let e = decode::<Vec<String>>(b"k", &[1, 0, 1, 2, 3]).unwrap_err().to_string();
        assert!(e.contains("zstd"), "{e}");
        let e = decode::<Vec<String>>(b"k", &[7, 1]).unwrap_err().to_string();
        assert!(e.contains("unknown value encoding tag 7"), "{e}");
    }
}
