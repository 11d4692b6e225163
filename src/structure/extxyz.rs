//! Reading one structure from an extended XYZ file (as `ase.io.write(..., format="extxyz")`
//! writes it): the atom count, an info line with `Lattice="ax ay az bx by bz cx cy cz"` (rows
//! are the cell vectors) and `Properties` (default `species:S:1:pos:R:3`), then one line per
//! atom with its symbol and Cartesian position in Angstrom. [`read_any`] picks this reader or
//! [`super::io::read_structure`] (CIF, POSCAR) by the file name.

use super::{Lattice, Structure, Vec3};
use crate::element::Element;
use std::path::Path;

/// True for names ending in `.xyz` or `.extxyz` (any case).
pub fn is_extxyz(path: &Path) -> bool {
    let lower = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    lower.ends_with(".xyz") || lower.ends_with(".extxyz")
}

/// Read a structure file: extended XYZ by [`is_extxyz`], else CIF or POSCAR
/// ([`super::io::read_structure`]). Errors start with the path.
pub fn read_any(path: &Path) -> Result<Structure, String> {
    if !is_extxyz(path) {
        return super::io::read_structure(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_extxyz(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Column offsets of the species and the positions in an atom line, from `Properties`.
fn columns(properties: &str) -> Result<(usize, usize), String> {
    let parts: Vec<&str> = properties.split(':').collect();
    if parts.len() % 3 != 0 {
        return Err(format!("line 2: malformed Properties '{properties}'"));
    }
    let (mut col, mut species, mut pos) = (0usize, None, None);
    for p in parts.chunks(3) {
        let n: usize = p[2].parse().map_err(|_| format!("line 2: malformed Properties '{properties}'"))?;
        match (p[0], p[1]) {
            ("species", "S") => species = Some(col),
            ("pos", "R") if n == 3 => pos = Some(col),
            _ => {}
        }
        col += n;
    }
    match (species, pos) {
        (Some(s), Some(p)) => Ok((s, p)),
        _ => Err(format!("line 2: Properties '{properties}' lacks species:S:1 or pos:R:3")),
    }
}

fn lattice(value: &str) -> Result<Lattice, String> {
    let x: Vec<f64> = value.split_whitespace().map(|t| t.parse::<f64>()).collect::<Result<_, _>>().map_err(|_| format!("line 2: Lattice is not 9 numbers: '{value}'"))?;
    if x.len() != 9 {
        return Err(format!("line 2: Lattice has {} numbers, not 9", x.len()));
    }
    Lattice::new([[x[0], x[1], x[2]], [x[3], x[4], x[5]], [x[6], x[7], x[8]]]).map_err(|e| format!("line 2: Lattice: {e}"))
}

/// Parse the first and only frame of an extended XYZ text. A periodic cell is required.
pub fn parse_extxyz(text: &str) -> Result<Structure, String> {
    let lines: Vec<&str> = text.lines().collect();
    let n: usize = lines.first().and_then(|l| l.trim().parse().ok()).ok_or("line 1: expected the number of atoms")?;
    let info = parse_info_line(lines.get(1).ok_or("line 2: missing info line")?).map_err(|e| format!("line 2: {e}"))?;
    let get = |k: &str| info.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
    let lat = lattice(get("Lattice").ok_or("line 2: no Lattice=\"...\" (a periodic cell is needed)")?)?;
    let (sc, pc) = columns(get("Properties").unwrap_or("species:S:1:pos:R:3"))?;
    if lines.len() < n + 2 {
        return Err(format!("expected {n} atom lines, found {}", lines.len().saturating_sub(2)));
    }
    if lines[n + 2..].iter().any(|l| !l.trim().is_empty()) {
        return Err(format!("line {}: more than one frame; give one structure per file", n + 3));
    }
    let (mut species, mut frac) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (k, line) in lines[2..n + 2].iter().enumerate() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let at = |c: usize| t.get(c).copied().ok_or_else(|| format!("line {}: too few columns", k + 3));
        let e = Element::from_symbol(at(sc)?).map_err(|e| format!("line {}: {e}", k + 3))?;
        let mut p: Vec3 = [0.0; 3];
        for (d, v) in p.iter_mut().enumerate() {
            *v = at(pc + d)?.parse().map_err(|_| format!("line {}: position is not a number", k + 3))?;
        }
        species.push(e);
        frac.push(lat.to_frac(p));
    }
    Structure::new(lat, species, frac).map_err(|e| e.to_string())
}

/// Parse an extended-XYZ info line into `(key, value)` pairs, in order. Values lose their
/// quotes (with `\"` and `\\` unescaped); a key without `=` gets the value `T`.
pub fn parse_info_line(line: &str) -> Result<Vec<(String, String)>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        skip_ws(&chars, &mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        let mut j = i;
        skip_ws(&chars, &mut j);
        if j < chars.len() && chars[j] == '=' {
            i = j + 1;
            skip_ws(&chars, &mut i);
            if key.is_empty() {
                return Err("'=' without a key".into());
            }
            let value = if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                quoted_value(&chars, &mut i, &key)?
            } else if i < chars.len() && (chars[i] == '{' || chars[i] == '[') {
                bracketed_value(&chars, &mut i, &key)?
            } else {
                let mut value = String::new();
                while i < chars.len() && !chars[i].is_whitespace() {
                    value.push(chars[i]);
                    i += 1;
                }
                value
            };
            out.push((key, value));
        } else {
            out.push((key, "T".to_string()));
        }
    }
    Ok(out)
}

/// Move `i` past any whitespace in `chars`.
fn skip_ws(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i].is_whitespace() {
        *i += 1;
    }
}

/// The value quoted at `chars[*i]` (`"` or `'`), without its quotes and with backslash
/// escapes resolved; `i` moves past the closing quote.
fn quoted_value(chars: &[char], i: &mut usize, key: &str) -> Result<String, String> {
    let mut value = String::new();
    let q = chars[*i];
    *i += 1;
    let mut closed = false;
    while *i < chars.len() {
        let c = chars[*i];
        if c == '\\' && *i + 1 < chars.len() {
            value.push(chars[*i + 1]);
            *i += 2;
            continue;
        }
        if c == q {
            closed = true;
            *i += 1;
            break;
        }
        value.push(c);
        *i += 1;
    }
    if !closed {
        return Err(format!("unterminated quote in the value of '{key}'"));
    }
    Ok(value)
}

/// The value bracketed at `chars[*i]` (`{...}` or `[...]`, nesting allowed), brackets kept;
/// `i` moves past the closing bracket.
fn bracketed_value(chars: &[char], i: &mut usize, key: &str) -> Result<String, String> {
    let mut value = String::new();
    let (open, close) = if chars[*i] == '{' { ('{', '}') } else { ('[', ']') };
    let mut depth = 0;
    while *i < chars.len() {
        let c = chars[*i];
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
        }
        value.push(c);
        *i += 1;
        if depth == 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '{open}' in the value of '{key}'"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ase_style_frame_and_rejects_bad_ones() {
        let text = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 pbc=\"T T T\"\nLi 0 0 0 0 0 0\nF 2 2 2 0 0 0\n";
        let s = parse_extxyz(text).unwrap();
        assert_eq!(s.formula(), "Li1 F1");
        assert!((s.frac[1][0] - 0.5).abs() < 1e-12);
        let e = parse_extxyz("2\nProperties=species:S:1:pos:R:3\nLi 0 0 0\nF 1 1 1\n").unwrap_err();
        assert!(e.contains("no Lattice"), "{e}");
        let e = parse_extxyz("1\nLattice=\"4 0 0 0 4 0 0 0 4\"\nXx 0 0 0\n").unwrap_err();
        assert!(e.starts_with("line 3:"), "{e}");
        let e = parse_extxyz("1\nLattice=\"4 0 0 0 4 0 0 0 4\"\nLi 0 0 0\n1\nx\nLi 0 0 0\n").unwrap_err();
        assert!(e.contains("more than one frame"), "{e}");
    }
}
