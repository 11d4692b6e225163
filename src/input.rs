//! Reading untrusted text input safely: files as UTF-8 text (a byte-order mark accepted, the
//! first invalid byte named by line and column), and bounded quoting of input in error messages.
//!
//! Every reader of user files goes through here, so that
//!
//! * a UTF-8 byte-order mark (common from Windows editors) is accepted everywhere;
//! * an error never echoes more than a short window of the input ([`quote`], [`window`]) and no
//!   message grows past [`MAX_MESSAGE_BYTES`] ([`cap_message`]), whatever the file holds;
//! * a count read from a header never sizes an allocation by itself ([`capacity_for`]).

use std::path::Path;

/// The UTF-8 byte-order mark.
pub const BOM: &str = "\u{feff}";

/// Longest piece of input quoted in an error message, in characters.
pub const MAX_QUOTE_CHARS: usize = 60;

/// Longest error message a reader produces, in bytes (longer ones are cut with a note).
pub const MAX_MESSAGE_BYTES: usize = 1500;

/// Most elements a declared count may reserve before the data is there. Larger counts still
/// work: the vectors grow as the data arrives, so memory follows the input, not the header.
pub const MAX_PREALLOCATION: usize = 4096;

/// The capacity to reserve for `declared` items announced by a file header: the declared count
/// up to [`MAX_PREALLOCATION`].
pub fn capacity_for(declared: usize) -> usize {
    declared.min(MAX_PREALLOCATION)
}

/// `text` without a leading UTF-8 byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Decode file bytes as UTF-8 text, dropping a leading byte-order mark. The error names the
/// line and column (1-based, in characters) of the first invalid byte.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, String> {
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with(BOM) {
                s.drain(..BOM.len());
            }
            Ok(s)
        }
        Err(e) => {
            let bad = e.utf8_error().valid_up_to();
            let valid = std::str::from_utf8(&e.as_bytes()[..bad]).unwrap_or_default();
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(format!("line {line}, column {column}: not UTF-8 text (byte 0x{:02x} at offset {bad})", e.as_bytes()[bad]))
        }
    }
}

/// Read a whole file as UTF-8 text (see [`utf8_text`]); errors name the problem, not the path.
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    utf8_text(bytes)
}

/// `s` in single quotes, cut to [`MAX_QUOTE_CHARS`] characters with the full size noted:
/// `'abc'`, or `'aaaa...' (10485760 bytes)` for a long token.
pub fn quote(s: &str) -> String {
    let mut chars = s.char_indices();
    match chars.nth(MAX_QUOTE_CHARS) {
        None => format!("'{s}'"),
        Some((cut, _)) => format!("'{}...' ({} bytes)", &s[..cut], s.len()),
    }
}

/// A window of at most `2 * MAX_QUOTE_CHARS` characters of `line` around character column
/// `column` (1-based): the window's text and the column of the same character inside it.
/// Cut ends are marked with `...`.
pub fn window(line: &str, column: usize) -> (String, usize) {
    let n = line.chars().count();
    if n <= 2 * MAX_QUOTE_CHARS {
        return (line.to_string(), column);
    }
    let col0 = column.saturating_sub(1).min(n);
    let start = col0.saturating_sub(MAX_QUOTE_CHARS);
    let end = (col0 + MAX_QUOTE_CHARS).min(n);
    let body: String = line.chars().skip(start).take(end - start).collect();
    let (lead, shift) = if start > 0 { ("...", 3) } else { ("", 0) };
    let tail = if end < n { "..." } else { "" };
    (format!("{lead}{body}{tail}"), col0 - start + 1 + shift)
}

/// `msg` cut to [`MAX_MESSAGE_BYTES`] (at a character boundary) with the number of bytes cut.
pub fn cap_message(msg: &str) -> std::borrow::Cow<'_, str> {
    if msg.len() <= MAX_MESSAGE_BYTES {
        return std::borrow::Cow::Borrowed(msg);
    }
    let mut cut = MAX_MESSAGE_BYTES;
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}... ({} more bytes)", &msg[..cut], msg.len() - cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_bounded() {
        assert_eq!(quote("Li"), "'Li'");
        let long = "x".repeat(10_000_000);
        let q = quote(&long);
        assert!(q.len() < 100, "{q}");
        assert!(q.ends_with("(10000000 bytes)"));
        // Multi-byte characters are cut at a boundary.
        let q = quote(&"é".repeat(100));
        assert!(q.starts_with("'éé") && q.contains("(200 bytes)"));
    }

    #[test]
    fn windows_keep_the_column_on_the_same_character() {
        let line: String = (0..1000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let (w, c) = window(&line, 500);
        assert!(w.len() <= 2 * MAX_QUOTE_CHARS + 6);
        assert_eq!(w.chars().nth(c - 1), line.chars().nth(499));
        let (w, c) = window(&line, 1);
        assert_eq!((w.chars().next(), c), (Some('a'), 1));
        let (w, c) = window(&line, 1000);
        assert_eq!(w.chars().nth(c - 1), line.chars().nth(999));
        assert_eq!(window("short", 3), ("short".to_string(), 3));
    }

    #[test]
    fn bom_and_bad_bytes() {
        assert_eq!(utf8_text(b"\xef\xbb\xbf{}".to_vec()).unwrap(), "{}");
        let e = utf8_text(b"ab\ncd\xffe".to_vec()).unwrap_err();
        assert!(e.starts_with("line 2, column 3:"), "{e}");
        assert_eq!(strip_bom("\u{feff}x"), "x");
    }

    #[test]
    fn messages_are_capped() {
        let m = "é".repeat(5000);
        let c = cap_message(&m);
        assert!(c.len() < MAX_MESSAGE_BYTES + 40);
        assert!(c.ends_with("more bytes)"));
        assert_eq!(cap_message("ok"), "ok");
        assert_eq!(capacity_for(usize::MAX), MAX_PREALLOCATION);
    }
}

/// Lines of a text file read one at a time: 1-based line numbers, a leading byte-order mark
/// dropped, line ends (`\n`, `\r\n`) removed, and an error for invalid UTF-8 naming the line,
/// column and byte offset as [`utf8_text`] does.
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line: usize,
    offset: u64,
}

impl<R: std::io::BufRead> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Self {
        Lines { reader, buf: Vec::new(), line: 0, offset: 0 }
    }

    /// The number of the line last returned (0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The next line, `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<String>, String> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| format!("line {}: read error: {e}", self.line + 1))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let start = self.offset;
        self.offset += n as u64;
        let text = match std::str::from_utf8(&self.buf) {
            Ok(s) => s,
            Err(e) => {
                let bad = e.valid_up_to();
                let column = String::from_utf8_lossy(&self.buf[..bad]).chars().count() + 1;
                return Err(format!(
                    "line {}, column {column}: not UTF-8 text (byte 0x{:02x} at offset {})",
                    self.line,
                    self.buf[bad],
                    start + bad as u64
                ));
            }
        };
        let text = if self.line == 1 { strip_bom(text) } else { text };
        Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
    }
}
