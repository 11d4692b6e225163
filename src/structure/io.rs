//! Reading and writing crystal structure files: CIF and VASP POSCAR/CONTCAR.
//!
//! Readers:
//! - **CIF**: the first data block; cell from `_cell_length_a..c` and `_cell_angle_alpha..gamma`;
//!   sites from the `_atom_site_` loop (`_atom_site_type_symbol`, or the element read from
//!   `_atom_site_label` such as `Li1`), fractional coordinates `_atom_site_fract_x/y/z`.
//!   Uncertainties (`0.1234(5)`) are stripped, occupancies are ignored. When the file lists
//!   symmetry operations (`_symmetry_equiv_pos_as_xyz` or `_space_group_symop_operation_xyz`)
//!   each one is applied to every site and images of one element closer than
//!   [`SYMMETRY_MERGE_DISTANCE`] are merged.
//! - **POSCAR/CONTCAR** (VASP 5): comment, scale factor (negative: the target volume in A^3;
//!   three numbers: per-axis scales), three lattice vectors, species line (required), counts,
//!   optional `Selective dynamics` line, `Direct` or `Cartesian`, then one line per site (extra
//!   columns such as `T T F` are ignored). Species labels such as `Li_sv` or `Li/abc` are read as
//!   their element.
//!
//! Writers produce a P1 CIF and a VASP 5 POSCAR in direct coordinates. Every reader error names
//! the line of the file it concerns.

use super::{wrap_frac, Lattice, Structure, Vec3};
use crate::element::Element;
use crate::input::quote;
use std::path::Path;

/// Sites of one element closer than this (Angstrom) after applying symmetry are one site.
pub const SYMMETRY_MERGE_DISTANCE: f64 = 0.01;

/// Structure file formats understood by [`read_structure`] and [`write_structure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureFormat {
    /// Crystallographic Information File.
    Cif,
    /// VASP POSCAR / CONTCAR.
    Poscar,
}

/// The format of a structure file judged from its name: `.cif`; `POSCAR*`, `CONTCAR*`,
/// `*.vasp`, `*.poscar`, `*.contcar`.
pub fn format_of(path: &Path) -> Option<StructureFormat> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".cif") {
        Some(StructureFormat::Cif)
    } else if lower.starts_with("poscar")
        || lower.starts_with("contcar")
        || lower.ends_with(".vasp")
        || lower.ends_with(".poscar")
        || lower.ends_with(".contcar")
    {
        Some(StructureFormat::Poscar)
    } else {
        None
    }
}

/// Read a CIF or POSCAR/CONTCAR file, choosing the reader from the file name
/// (see [`format_of`]). Errors are prefixed with the path and name the line.
pub fn read_structure(path: &Path) -> Result<Structure, String> {
    let fmt = format_of(path).ok_or_else(|| {
        format!(
            "{}: unknown structure format (expected a .cif file or a POSCAR/CONTCAR, .vasp or .poscar file)",
            path.display()
        )
    })?;
    let text = crate::input::read_text(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let res = match fmt {
        StructureFormat::Cif => parse_cif(&text),
        StructureFormat::Poscar => parse_poscar(&text),
    };
    res.map_err(|e| format!("{}: {}", path.display(), crate::input::cap_message(&e)))
}

/// Write a structure to `path` in the format implied by its name (see [`format_of`]).
pub fn write_structure(path: &Path, s: &Structure) -> Result<(), String> {
    let fmt = format_of(path).ok_or_else(|| format!("{}: unknown structure format (use .cif, .vasp or POSCAR)", path.display()))?;
    let name = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "structure".into());
    let text = match fmt {
        StructureFormat::Cif => write_cif(s, &name),
        StructureFormat::Poscar => write_poscar(s, &name),
    };
    std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// A lattice from cell lengths (A) and angles (degrees), `a` along x and `b` in the xy plane.
pub fn lattice_from_parameters(a: f64, b: f64, c: f64, alpha: f64, beta: f64, gamma: f64) -> Result<Lattice, String> {
    let (ca, cb, cg) = (alpha.to_radians().cos(), beta.to_radians().cos(), gamma.to_radians().cos());
    let sg = gamma.to_radians().sin();
    if sg.abs() < 1e-8 {
        return Err(format!("cell angle gamma {gamma} makes a singular cell"));
    }
    let cx = c * cb;
    let cy = c * (ca - cb * cg) / sg;
    let cz2 = c * c - cx * cx - cy * cy;
    if cz2.is_nan() || cz2 <= 0.0 {
        return Err(format!("cell angles {alpha}, {beta}, {gamma} do not describe a cell"));
    }
    let m = [[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [cx, cy, cz2.sqrt()]];
    // Clean round-off so that orthogonal cells get exact zeros.
    let clean = |x: f64| if x.abs() < 1e-12 { 0.0 } else { x };
    let m = m.map(|r| r.map(clean));
    Lattice::new(m).map_err(|e| e.to_string())
}

/// Parse an element from a symbol or a CIF site label (`Li`, `Fe2+`, `LI1`, `O2a`).
fn element_from_label(s: &str) -> Option<Element> {
    if let Ok(e) = Element::from_symbol(s) {
        return Some(e);
    }
    let letters: String = s.trim().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let norm = |t: &str| {
        let mut c = t.chars();
        match c.next() {
            Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
            None => String::new(),
        }
    };
    for n in [2, 1] {
        if letters.len() >= n {
            if let Ok(e) = Element::from_symbol(&norm(&letters[..n])) {
                return Some(e);
            }
        }
    }
    None
}

/// A number with an optional uncertainty suffix, `0.1234(5)`.
fn cif_number(tok: &str) -> Option<f64> {
    let t = tok.trim();
    let t = match t.find('(') {
        Some(i) if t.ends_with(')') => &t[..i],
        _ => t,
    };
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// One CIF token with its 1-based line.
#[derive(Clone, Debug)]
struct Tok {
    text: String,
    line: usize,
    quoted: bool,
}

fn cif_tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = crate::input::strip_bom(text).lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let ln = i + 1;
        if let Some(first) = line.strip_prefix(';') {
            // Semicolon text field: up to a line that starts with ';'.
            let mut buf = String::from(first);
            let mut j = i + 1;
            loop {
                if j >= lines.len() {
                    return Err(format!("line {ln}: text field opened with ';' is never closed"));
                }
                if lines[j].starts_with(';') {
                    break;
                }
                buf.push('\n');
                buf.push_str(lines[j]);
                j += 1;
            }
            out.push(Tok { text: buf, line: ln, quoted: true });
            i = j + 1;
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            if c.is_whitespace() {
                k += 1;
                continue;
            }
            if c == '#' {
                break;
            }
            if c == '\'' || c == '"' {
                // A quote closes only when followed by whitespace or the end of the line.
                let mut j = k + 1;
                while j < chars.len() && !(chars[j] == c && (j + 1 == chars.len() || chars[j + 1].is_whitespace())) {
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("line {ln}: unterminated quoted string"));
                }
                out.push(Tok { text: chars[k + 1..j].iter().collect(), line: ln, quoted: true });
                k = j + 1;
                continue;
            }
            let mut j = k;
            while j < chars.len() && !chars[j].is_whitespace() {
                j += 1;
            }
            out.push(Tok { text: chars[k..j].iter().collect(), line: ln, quoted: false });
            k = j;
        }
        i += 1;
    }
    Ok(out)
}

/// A CIF loop: column names (lower-case) and rows of values.
struct CifLoop {
    names: Vec<String>,
    rows: Vec<Vec<Tok>>,
    line: usize,
}

/// The first data block of a CIF: single items and loops.
struct CifBlock {
    items: Vec<(String, Tok)>,
    loops: Vec<CifLoop>,
}

fn is_keyword(t: &Tok) -> bool {
    if t.quoted {
        return false;
    }
    let l = t.text.to_ascii_lowercase();
    l.starts_with('_') || l == "loop_" || l.starts_with("data_") || l.starts_with("save_") || l == "global_" || l == "stop_"
}

fn parse_block(toks: &[Tok]) -> Result<CifBlock, String> {
    let mut block = CifBlock { items: Vec::new(), loops: Vec::new() };
    let mut i = 0;
    let mut seen_data = false;
    while i < toks.len() {
        let t = &toks[i];
        let lower = t.text.to_ascii_lowercase();
        if !t.quoted && lower.starts_with("data_") {
            if seen_data {
                break; // only the first data block
            }
            seen_data = true;
            i += 1;
        } else if !t.quoted && lower == "loop_" {
            let start = t.line;
            i += 1;
            let mut names = Vec::new();
            while i < toks.len() && !toks[i].quoted && toks[i].text.starts_with('_') {
                names.push(toks[i].text.to_ascii_lowercase());
                i += 1;
            }
            if names.is_empty() {
                return Err(format!("line {start}: loop_ without data names"));
            }
            let mut values = Vec::new();
            while i < toks.len() && !is_keyword(&toks[i]) {
                values.push(toks[i].clone());
                i += 1;
            }
            if values.len() % names.len() != 0 {
                return Err(format!(
                    "line {start}: loop with {} columns has {} values, not a multiple of the column count",
                    names.len(),
                    values.len()
                ));
            }
            let rows = values.chunks(names.len()).map(|c| c.to_vec()).collect();
            block.loops.push(CifLoop { names, rows, line: start });
        } else if !t.quoted && t.text.starts_with('_') {
            let name = lower;
            match toks.get(i + 1) {
                Some(v) if !is_keyword(v) => {
                    block.items.push((name, v.clone()));
                    i += 2;
                }
                _ => return Err(format!("line {}: data name {} has no value", t.line, quote(&t.text))),
            }
        } else {
            // Stray value or a save frame keyword: ignore.
            i += 1;
        }
    }
    Ok(block)
}

/// One fractional-coordinate component of a symmetry operation: coefficients of x, y, z and a
/// constant.
type Affine = [f64; 4];

/// Parse a symmetry operation such as `-x+1/2, y, z-1/4` or `x-y,x,1/2+z`.
fn parse_symop(s: &str) -> Option<[Affine; 3]> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut out = [[0.0; 4]; 3];
    for (k, p) in parts.iter().enumerate() {
        let p: String = p.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if p.is_empty() {
            return None;
        }
        let chars: Vec<char> = p.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let mut sign = 1.0;
            while i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                if chars[i] == '-' {
                    sign = -sign;
                }
                i += 1;
            }
            // Optional number (integer, decimal or fraction).
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '/') {
                i += 1;
            }
            let num: String = chars[start..i].iter().collect();
            let value = if num.is_empty() {
                None
            } else if let Some((a, b)) = num.split_once('/') {
                let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
                if b == 0.0 {
                    return None;
                }
                Some(a / b)
            } else {
                Some(num.parse::<f64>().ok()?)
            };
            if i < chars.len() && chars[i] == '*' {
                i += 1;
            }
            let var = if i < chars.len() && matches!(chars[i], 'x' | 'y' | 'z') {
                let v = match chars[i] {
                    'x' => 0,
                    'y' => 1,
                    _ => 2,
                };
                i += 1;
                Some(v)
            } else {
                None
            };
            // A coefficient written after the variable, as in `x/2`, is not supported.
            match (value, var) {
                (None, None) => return None,
                (v, Some(col)) => out[k][col] += sign * v.unwrap_or(1.0),
                (Some(v), None) => out[k][3] += sign * v,
            }
            if i < chars.len() && !(chars[i] == '+' || chars[i] == '-') {
                return None;
            }
        }
    }
    Some(out)
}

fn apply_symop(op: &[Affine; 3], f: Vec3) -> Vec3 {
    let mut r = [0.0; 3];
    for k in 0..3 {
        r[k] = op[k][0] * f[0] + op[k][1] * f[1] + op[k][2] * f[2] + op[k][3];
    }
    r
}

/// Most site images (asymmetric-unit sites times symmetry operations) a CIF may expand to; more
/// is refused rather than spending minutes de-duplicating them.
pub const MAX_SYMMETRY_IMAGES: usize = 100_000;

/// Parse CIF text (first data block) into a structure; errors name the line.
pub fn parse_cif(text: &str) -> Result<Structure, String> {
    let toks = cif_tokens(text)?;
    let block = parse_block(&toks)?;
    let lattice = cif_lattice(&block)?;
    let (species, frac) = cif_sites(&block)?;
    let ops = cif_symops(&block)?;
    let identity_only = ops.is_empty() || (ops.len() == 1 && ops[0] == [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]);
    if identity_only {
        return Structure::new(lattice, species, frac).map_err(|e| e.to_string());
    }
    expand_symmetry(lattice, &species, &frac, &ops)
}

impl CifBlock {
    /// The single item `name`, if the block has it.
    fn item(&self, name: &str) -> Option<&Tok> {
        self.items.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// The lattice of a CIF block from its six cell parameters (lengths positive).
fn cif_lattice(block: &CifBlock) -> Result<Lattice, String> {
    let mut cell = [0.0; 6];
    for (k, name) in ["_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"]
        .iter()
        .enumerate()
    {
        let t = block.item(name).ok_or_else(|| format!("missing {name}"))?;
        cell[k] = cif_number(&t.text).ok_or_else(|| format!("line {}: {name} is not a number ({})", t.line, quote(&t.text)))?;
        if cell[k] <= 0.0 {
            return Err(format!("line {}: {name} must be positive, found {}", t.line, cell[k]));
        }
    }
    let line_a = block.item("_cell_length_a").map(|t| t.line).unwrap_or(0);
    lattice_from_parameters(cell[0], cell[1], cell[2], cell[3], cell[4], cell[5]).map_err(|e| format!("line {line_a}: {e}"))
}

/// The sites of a CIF block's `_atom_site_` loop: the element of each (from its type symbol,
/// else its label) and its fractional coordinates.
fn cif_sites(block: &CifBlock) -> Result<(Vec<Element>, Vec<Vec3>), String> {
    let sites = block
        .loops
        .iter()
        .find(|l| l.names.iter().any(|n| n == "_atom_site_fract_x"))
        .ok_or_else(|| {
            if block.loops.iter().any(|l| l.names.iter().any(|n| n == "_atom_site_cartn_x")) {
                "the _atom_site_ loop has Cartesian coordinates only; fractional _atom_site_fract_x/y/z are required".to_string()
            } else {
                "no _atom_site_ loop with _atom_site_fract_x/y/z".to_string()
            }
        })?;
    let col = |n: &str| sites.names.iter().position(|x| x == n);
    let need = |n: &str| col(n).ok_or_else(|| format!("line {}: the _atom_site_ loop has no {n} column", sites.line));
    let (cx, cy, cz) = (need("_atom_site_fract_x")?, need("_atom_site_fract_y")?, need("_atom_site_fract_z")?);
    let c_type = col("_atom_site_type_symbol");
    let c_label = col("_atom_site_label");
    if c_type.is_none() && c_label.is_none() {
        return Err(format!("line {}: the _atom_site_ loop has neither _atom_site_type_symbol nor _atom_site_label", sites.line));
    }
    let mut species = Vec::with_capacity(sites.rows.len());
    let mut frac: Vec<Vec3> = Vec::with_capacity(sites.rows.len());
    for row in &sites.rows {
        let sym_tok = c_type.map(|c| &row[c]).filter(|t| t.text != "?" && t.text != ".").or(c_label.map(|c| &row[c]))
            .ok_or_else(|| format!("line {}: site has no element symbol", row[cx].line))?;
        let e = element_from_label(&sym_tok.text).ok_or_else(|| format!("unknown element {} at line {}", quote(&sym_tok.text), sym_tok.line))?;
        let mut f = [0.0; 3];
        for (k, c) in [cx, cy, cz].into_iter().enumerate() {
            let t = &row[c];
            f[k] = cif_number(&t.text).ok_or_else(|| format!("line {}: fractional coordinate {} is not a number", t.line, quote(&t.text)))?;
        }
        species.push(e);
        frac.push(f);
    }
    if species.is_empty() {
        return Err(format!("line {}: the _atom_site_ loop has no sites", sites.line));
    }
    Ok((species, frac))
}

/// The symmetry operations of a CIF block: a loop of them, or a single item (none if the
/// block has neither).
fn cif_symops(block: &CifBlock) -> Result<Vec<[Affine; 3]>, String> {
    let op_loop = block.loops.iter().find_map(|l| {
        l.names
            .iter()
            .position(|n| n == "_symmetry_equiv_pos_as_xyz" || n == "_space_group_symop_operation_xyz")
            .map(|c| (l, c))
    });
    let mut ops = Vec::new();
    if let Some((l, c)) = op_loop {
        for row in &l.rows {
            let t = &row[c];
            ops.push(parse_symop(&t.text).ok_or_else(|| format!("line {}: cannot parse symmetry operation {}", t.line, quote(&t.text)))?);
        }
    } else if let Some(t) = block.item("_symmetry_equiv_pos_as_xyz").or(block.item("_space_group_symop_operation_xyz")) {
        ops.push(parse_symop(&t.text).ok_or_else(|| format!("line {}: cannot parse symmetry operation {}", t.line, quote(&t.text)))?);
    }
    Ok(ops)
}

/// The structure of the asymmetric-unit sites under the symmetry operations: every image,
/// wrapped into the cell, except those within [`SYMMETRY_MERGE_DISTANCE`] of an earlier
/// image of the same element (refused past [`MAX_SYMMETRY_IMAGES`] images).
fn expand_symmetry(lattice: Lattice, species: &[Element], frac: &[Vec3], ops: &[[Affine; 3]]) -> Result<Structure, String> {
    let images = species.len().saturating_mul(ops.len());
    if images > MAX_SYMMETRY_IMAGES {
        return Err(format!(
            "{} sites times {} symmetry operations make {images} images, more than hopdb expands ({MAX_SYMMETRY_IMAGES}); give the full cell (P1)",
            species.len(),
            ops.len()
        ));
    }
    let mut out_sp: Vec<Element> = Vec::new();
    let mut out_f: Vec<Vec3> = Vec::new();
    for (e, f) in species.iter().zip(frac) {
        for op in ops {
            let g = wrap_frac(apply_symop(op, *f));
            let dup = out_f
                .iter()
                .zip(&out_sp)
                .any(|(h, e2)| e2 == e && lattice.min_image_distance(*h, g) < SYMMETRY_MERGE_DISTANCE);
            if !dup {
                out_sp.push(*e);
                out_f.push(g);
            }
        }
    }
    Structure::new(lattice, out_sp, out_f).map_err(|e| e.to_string())
}

fn parse_floats(line: &str, n: usize, ln: usize, what: &str) -> Result<Vec<f64>, String> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    if toks.len() < n {
        return Err(format!("line {ln}: expected {n} numbers for {what}, found {}", quote(line.trim())));
    }
    toks[..n]
        .iter()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("line {ln}: {} in {what} is not a number", quote(t)))
        })
        .collect()
}

/// Parse VASP 5 POSCAR/CONTCAR text; errors name the line.
pub fn parse_poscar(text: &str) -> Result<Structure, String> {
    let lines: Vec<&str> = crate::input::strip_bom(text).lines().collect();
    let (lattice, factor) = poscar_lattice(&lines)?;
    let (elements, counts) = poscar_species(&lines)?;
    let (first_site, cartesian) = poscar_coordinate_mode(&lines)?;
    let total = counts
        .iter()
        .try_fold(0usize, |acc, &n| acc.checked_add(n))
        .ok_or_else(|| format!("line 7: the atom counts add up to more than {}", usize::MAX))?;
    if total == 0 {
        return Err("line 7: the atom counts add up to zero".into());
    }
    let mut idx = first_site;
    let mut species = Vec::with_capacity(crate::input::capacity_for(total));
    let mut coords = Vec::with_capacity(crate::input::capacity_for(total));
    for (e, n) in elements.iter().zip(&counts) {
        for _ in 0..*n {
            let ln = idx + 1;
            let line = lines.get(idx).ok_or_else(|| format!("line {ln}: file ends after {} of {total} sites", coords.len()))?;
            let v = parse_floats(line, 3, ln, "a site")?;
            let mut p = [v[0], v[1], v[2]];
            if cartesian {
                for k in 0..3 {
                    p[k] *= factor[k];
                }
            }
            species.push(*e);
            coords.push(p);
            idx += 1;
        }
    }
    let s = if cartesian {
        Structure::from_cartesian(lattice, species, &coords)
    } else {
        Structure::new(lattice, species, coords)
    };
    s.map_err(|e| e.to_string())
}

/// Line `i` (0-based) of a POSCAR, or an error saying the file ends before `what`.
fn poscar_line<'t>(lines: &[&'t str], i: usize, what: &str) -> Result<&'t str, String> {
    lines.get(i).copied().ok_or_else(|| format!("line {}: file ends before the {what}", i + 1))
}

/// The scaled lattice of a POSCAR (lines 2-5: one scale factor, negative for a volume, or
/// three per-axis factors, then the lattice vectors), and the per-axis scale factors.
fn poscar_lattice(lines: &[&str]) -> Result<(Lattice, [f64; 3]), String> {
    // Line 2: scale factor(s).
    let scale_line = poscar_line(lines, 1, "scale factor")?;
    let stoks: Vec<&str> = scale_line.split_whitespace().collect();
    let scales: Vec<f64> = match stoks.len() {
        0 => return Err("line 2: missing scale factor".into()),
        1 | 2 => parse_floats(scale_line, 1, 2, "the scale factor")?,
        _ => parse_floats(scale_line, 3, 2, "the scale factors")?,
    };
    let mut m = [[0.0; 3]; 3];
    for (k, row) in m.iter_mut().enumerate() {
        let v = parse_floats(poscar_line(lines, 2 + k, "lattice vectors")?, 3, 3 + k, "a lattice vector")?;
        row.copy_from_slice(&v);
    }
    let raw = Lattice::new(m).map_err(|e| format!("lines 3-5: {e}"))?;
    let mut factor = [1.0; 3];
    if scales.len() == 1 {
        let s = scales[0];
        if s == 0.0 {
            return Err("line 2: scale factor is zero".into());
        }
        let f = if s < 0.0 { (-s / raw.volume()).cbrt() } else { s };
        factor = [f; 3];
    } else {
        if scales.iter().any(|&s| s <= 0.0) {
            return Err("line 2: per-axis scale factors must be positive".into());
        }
        factor.copy_from_slice(&scales);
    }
    for r in m.iter_mut() {
        for k in 0..3 {
            r[k] *= factor[k];
        }
    }
    let lattice = Lattice::new(m).map_err(|e| format!("lines 3-5: {e}"))?;
    Ok((lattice, factor))
}

/// The elements (line 6, VASP 5 species line; `Li_sv` and `Li/...` name Li) and their atom
/// counts (line 7) of a POSCAR.
fn poscar_species(lines: &[&str]) -> Result<(Vec<Element>, Vec<usize>), String> {
    let sp_line = poscar_line(lines, 5, "species line")?;
    let sp_toks: Vec<&str> = sp_line.split_whitespace().collect();
    if sp_toks.is_empty() {
        return Err("line 6: empty species line".into());
    }
    if sp_toks.iter().all(|t| t.parse::<f64>().is_ok()) {
        return Err("line 6: expected element symbols (VASP 5 format); files without a species line (VASP 4) are not supported".into());
    }
    let mut elements = Vec::with_capacity(sp_toks.len());
    for t in &sp_toks {
        let base = t.split(['_', '/']).next().unwrap_or(t);
        let e = Element::from_symbol(base).map_err(|_| format!("unknown element {} at line 6", quote(t)))?;
        elements.push(e);
    }
    let count_line = poscar_line(lines, 6, "atom counts")?;
    let counts: Vec<usize> = count_line
        .split_whitespace()
        .map(|t| t.parse::<usize>().map_err(|_| format!("line 7: atom count {} is not a non-negative integer", quote(t))))
        .collect::<Result<_, _>>()?;
    if counts.len() != elements.len() {
        return Err(format!("line 7: {} counts for {} species on line 6", counts.len(), elements.len()));
    }
    Ok((elements, counts))
}

/// The coordinate mode of a POSCAR (line 8, or 9 after a "Selective dynamics" line): the
/// index of the first site line and whether the coordinates are Cartesian.
fn poscar_coordinate_mode(lines: &[&str]) -> Result<(usize, bool), String> {
    let mut idx = 7;
    let mut mode = poscar_line(lines, idx, "coordinate mode")?.trim().to_string();
    if mode.starts_with(['s', 'S']) {
        idx += 1;
        mode = poscar_line(lines, idx, "coordinate mode")?.trim().to_string();
    }
    let cartesian = match mode.chars().next() {
        Some('c' | 'C' | 'k' | 'K') => true,
        Some('d' | 'D') => false,
        _ => return Err(format!("line {}: expected 'Direct' or 'Cartesian', found {}", idx + 1, quote(&mode))),
    };
    Ok((idx + 1, cartesian))
}

/// Write a VASP 5 POSCAR (scale 1, direct coordinates). Sites are grouped by element in order
/// of first appearance (VASP needs each species contiguous), so the atom order may change.
/// Numbers are written in the shortest form that reads back to the same `f64`, so a structure
/// survives a write and a read exactly.
pub fn write_poscar(s: &Structure, comment: &str) -> String {
    use std::fmt::Write;
    let mut order: Vec<Element> = Vec::new();
    for e in &s.species {
        if !order.contains(e) {
            order.push(*e);
        }
    }
    let mut out = String::new();
    let comment = comment.lines().next().unwrap_or("").trim();
    let _ = writeln!(out, "{}", if comment.is_empty() { s.formula() } else { comment.to_string() });
    let _ = writeln!(out, "1.0");
    for r in s.lattice.matrix() {
        let _ = writeln!(out, "  {:>22} {:>22} {:>22}", r[0], r[1], r[2]);
    }
    let _ = writeln!(out, "{}", order.iter().map(|e| format!("{:>4}", e.symbol())).collect::<Vec<_>>().join(" "));
    let _ = writeln!(
        out,
        "{}",
        order.iter().map(|e| format!("{:>4}", s.species.iter().filter(|x| *x == e).count())).collect::<Vec<_>>().join(" ")
    );
    let _ = writeln!(out, "Direct");
    for e in &order {
        for (f, _) in s.frac.iter().zip(&s.species).filter(|(_, x)| *x == e) {
            let _ = writeln!(out, "  {:>22} {:>22} {:>22} {}", f[0], f[1], f[2], e.symbol());
        }
    }
    out
}

/// Write a P1 CIF with the given data block name. The cell is written as lengths and angles,
/// so a reader rebuilds it in the standard orientation (`a` along x, `b` in the xy plane).
pub fn write_cif(s: &Structure, name: &str) -> String {
    use std::fmt::Write;
    let block: String = name.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
    let block = if block.is_empty() { "structure".to_string() } else { block };
    let [a, b, c] = s.lattice.lengths();
    let [al, be, ga] = s.lattice.angles();
    let mut out = String::new();
    let _ = writeln!(out, "# written by hopdb {}", crate::HOPDB_VERSION);
    let _ = writeln!(out, "data_{block}");
    let _ = writeln!(out, "_symmetry_space_group_name_H-M   'P 1'");
    let _ = writeln!(out, "_symmetry_Int_Tables_number      1");
    let _ = writeln!(out, "_chemical_formula_sum            '{}'", s.formula());
    let _ = writeln!(out, "_cell_length_a      {a:.10}");
    let _ = writeln!(out, "_cell_length_b      {b:.10}");
    let _ = writeln!(out, "_cell_length_c      {c:.10}");
    let _ = writeln!(out, "_cell_angle_alpha   {al:.10}");
    let _ = writeln!(out, "_cell_angle_beta    {be:.10}");
    let _ = writeln!(out, "_cell_angle_gamma   {ga:.10}");
    let _ = writeln!(out, "_cell_volume        {:.10}", s.lattice.volume());
    let _ = writeln!(out, "loop_");
    let _ = writeln!(out, "_symmetry_equiv_pos_as_xyz");
    let _ = writeln!(out, "  'x, y, z'");
    let _ = writeln!(out, "loop_");
    for h in ["_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy"] {
        let _ = writeln!(out, "{h}");
    }
    let mut n: std::collections::HashMap<Element, usize> = Default::default();
    for (e, f) in s.species.iter().zip(&s.frac) {
        let k = n.entry(*e).or_default();
        *k += 1;
        let _ = writeln!(out, "  {}{} {} {:.12} {:.12} {:.12} 1.0", e.symbol(), k, e.symbol(), f[0], f[1], f[2]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symops_parse() {
        let op = parse_symop("-x+1/2, y, 1/4+z").unwrap();
        assert_eq!(op[0], [-1.0, 0.0, 0.0, 0.5]);
        assert_eq!(op[1], [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(op[2], [0.0, 0.0, 1.0, 0.25]);
        let op = parse_symop("x-y,x,z+0.5").unwrap();
        assert_eq!(op[0], [1.0, -1.0, 0.0, 0.0]);
        assert_eq!(op[2], [0.0, 0.0, 1.0, 0.5]);
        assert!(parse_symop("x,y").is_none());
        assert!(parse_symop("x,y,w").is_none());
    }

    #[test]
    fn labels_and_numbers() {
        assert_eq!(element_from_label("Li1").unwrap().symbol(), "Li");
        assert_eq!(element_from_label("LI1").unwrap().symbol(), "Li");
        assert_eq!(element_from_label("O2a").unwrap().symbol(), "O");
        assert_eq!(element_from_label("Co3+").unwrap().symbol(), "Co");
        assert!(element_from_label("Xx").is_none());
        assert_eq!(cif_number("0.1234(5)"), Some(0.1234));
        assert_eq!(cif_number("4.2"), Some(4.2));
        assert_eq!(cif_number("?"), None);
    }

    #[test]
    fn rocksalt_from_fm3m_subset() {
        // Face-centring translations plus identity give the 8-atom conventional cell.
        let cif = "data_x\n_cell_length_a 4.0\n_cell_length_b 4.0\n_cell_length_c 4.0\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'x, y+1/2, z+1/2'\n'x+1/2, y, z+1/2'\n'x+1/2, y+1/2, z'\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nLi1 0 0 0\nF1 0.5(1) 0.5 0.5\n";
        let s = parse_cif(cif).unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s.formula(), "Li4 F4");
    }

    #[test]
    fn cif_text_fields_comments_and_quotes() {
        let cif = "# comment\ndata_a\n_publ_section_title\n;\nA title; with _fake_name and loop_\n;\n_chemical_name_common 'lithium fluoride' # trailing\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nLi1 Li 0 0 0\nF1 F 0.5 0.5 0.5\ndata_second\n_cell_length_a 9\n";
        let s = parse_cif(cif).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.lattice.lengths(), [4.0, 4.0, 4.0]);
    }

    #[test]
    fn poscar_negative_scale_is_volume() {
        let p = "t\n-64.0\n2 0 0\n0 2 0\n0 0 2\nLi\n1\nDirect\n0 0 0\n";
        let s = parse_poscar(p).unwrap();
        assert!((s.lattice.volume() - 64.0).abs() < 1e-9);
        let bad = "t\n1.0\n2 0 0\n0 2 0\n0 0 2\nXx\n1\nDirect\n0 0 0\n";
        assert_eq!(parse_poscar(bad).unwrap_err(), "unknown element 'Xx' at line 6");
    }
}
