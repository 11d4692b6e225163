//! Importer for LiTraj (Dembitsky et al.) extended XYZ files: `nebBVSE122k` (BVSE barriers)
//! and `nebDFT2k` (DFT-NEB barriers), and any file written in the same style (including
//! `hopdb export xyz`).
//!
//! # Format
//!
//! ASE extended XYZ, one or more frames. Each frame is
//!
//! 1. the number of atoms;
//! 2. an info line of `key=value` pairs, values bare, `"double quoted"` or `'single quoted'`
//!    (a key without `=` is a boolean flag), e.g.
//!    `Lattice="a1 a2 a3 b1 b2 b3 c1 c2 c3" Properties=species:S:1:pos:R:3 em=0.4321 edge_id=123 material_id=mp-1234 pbc="T T T"`;
//! 3. one line per atom: the columns given by `Properties` (default `species:S:1:pos:R:3`),
//!    positions Cartesian in Angstrom. Extra columns are allowed.
//!
//! Info keys read: `Lattice` (required), `Properties`, `em` (barrier, eV), `edge_id` (or `id`),
//! `material_id` (or `mp_id`), `ion` / `mobile_ion`, `energy` (trajectories), and optionally
//! `xc`, `code`, `doi`, `class`, `space_group`, `crystal_system`, `path`, `composition`.
//!
//! **Centroid frames** (nebBVSE122k style): a supercell of the host including the mobile ions,
//! plus one atom of element `X` at the midpoint of the hop. The two endpoints are the two atoms
//! of the mobile ion whose midpoint (nearest periodic image) is `X` within
//! [`CENTROID_TOLERANCE`]; the mobile ion is the `ion=` key or, when absent, the element among
//! [`MOBILE_IONS`] with such a pair (the shortest pair wins). The host is every atom except `X`
//! and the two endpoints.
//!
//! **Trajectories** (NEB images, one frame each): consecutive frames with the same `edge_id`
//! (and `material_id`) are one hop when [`LitrajOptions::trajectory`] is set. The first and last
//! frames are the endpoints, the mobile ion is the one atom that moves between them, the
//! intermediate frames become the record's `images`, any `X` atom is dropped, and the barrier is
//! `em` from the info of any frame, else `max(energy) - energy(first frame)`.
//!
//! The source record id is `<material_id>_<edge_id>` (just `<edge_id>` when there is no material
//! id); `material_id` becomes the record's `sys_name` and a numeric `edge_id` is kept in `extra`.

pub use crate::structure::extxyz::parse_info_line;
use super::{finish_record, Candidate, ImportError, ReadItem, Rejection};
use crate::element::Element;
use crate::input::quote;
use crate::record::{record_id, Fidelity, HopRecord, Material, Method, Provenance, StructureId};
use crate::structure::{self, Lattice, Structure, Vec3};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Elements considered as the mobile ion when a frame does not name it.
pub const MOBILE_IONS: [&str; 10] = ["Li", "Na", "K", "Mg", "Ca", "Zn", "Al", "Rb", "Sr", "Cs"];
/// How far (Angstrom) the midpoint of the two endpoints may lie from the centroid `X`.
pub const CENTROID_TOLERANCE: f64 = 0.1;
/// Smallest displacement (Angstrom) between the first and last frame of a trajectory that
/// counts as the moving ion.
pub const MIN_TRAJECTORY_HOP: f64 = 0.5;
/// Most columns an atom line may declare through `Properties`.
pub const MAX_PROPERTY_COLUMNS: usize = 10_000;
/// Citation recorded on LiTraj records.
pub const CITATION: &str = "A. Dembitsky et al., LiTraj: Li-ion migration trajectories and barriers (nebBVSE122k BVSE and nebDFT2k DFT-NEB datasets)";
/// Default dataset name for nebBVSE122k.
pub const DATASET_BVSE: &str = "litraj-nebBVSE122k";
/// Default dataset name for nebDFT2k.
pub const DATASET_DFT: &str = "litraj-nebDFT2k";

/// Options for reading LiTraj files.
#[derive(Clone, Debug)]
pub struct LitrajOptions {
    /// Dataset name used in record ids and provenance.
    pub dataset: String,
    /// Fidelity of the barriers in the file (bvse for nebBVSE122k, dft for nebDFT2k).
    pub fidelity: Fidelity,
    /// Treat consecutive frames with equal `edge_id` as one NEB trajectory (one record). When
    /// false every frame is its own record, and a frame that repeats the previous frame's
    /// `edge_id` is rejected with a hint to read the file as a trajectory.
    pub trajectory: bool,
    /// Dataset version recorded in provenance.
    pub dataset_version: String,
}

impl LitrajOptions {
    /// Options for nebBVSE122k: dataset `litraj-nebBVSE122k`, fidelity bvse.
    pub fn neb_bvse() -> Self {
        LitrajOptions { dataset: DATASET_BVSE.into(), fidelity: Fidelity::Bvse, trajectory: true, dataset_version: "LiTraj".into() }
    }

    /// Options for nebDFT2k: dataset `litraj-nebDFT2k`, fidelity dft.
    pub fn neb_dft() -> Self {
        LitrajOptions { dataset: DATASET_DFT.into(), fidelity: Fidelity::Dft, trajectory: true, dataset_version: "LiTraj".into() }
    }

    /// Options for a fidelity with its default dataset name (`litraj-nebDFT2k` for dft,
    /// `litraj-nebBVSE122k` otherwise, the fidelity set as given).
    pub fn for_fidelity(fidelity: Fidelity) -> Self {
        let mut o = if fidelity == Fidelity::Dft { Self::neb_dft() } else { Self::neb_bvse() };
        o.fidelity = fidelity;
        o
    }
}

impl Default for LitrajOptions {
    fn default() -> Self {
        Self::neb_bvse()
    }
}


/// Look up an info key, case-insensitively.
fn info_get<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

fn info_first<'a>(info: &'a [(String, String)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| info_get(info, k)).map(str::trim).filter(|v| !v.is_empty())
}

/// The key/value pairs of an info line, in order.
type Info = Vec<(String, String)>;

/// One parsed frame. `species[i]` is `None` for the centroid `X`.
#[derive(Clone, Debug)]
struct Frame {
    /// 1-based frame number.
    number: usize,
    /// Line of the atom count.
    line: usize,
    info: Vec<(String, String)>,
    lattice: Lattice,
    species: Vec<Option<Element>>,
    cart: Vec<Vec3>,
}

/// A frame as read: its position, its grouping key, and the parse result.
struct RawFrame {
    number: usize,
    line: usize,
    /// `material_id` + `edge_id`, when the info line could be read and has an edge id.
    key: Option<(String, String)>,
    parsed: Result<Frame, String>,
}

/// Columns of the species and of x in an atom line, and the number of columns.
fn property_columns(props: &str) -> Result<(usize, bool, usize, usize), String> {
    let parts: Vec<&str> = props.split(':').collect();
    if !parts.len().is_multiple_of(3) {
        return Err(format!("Properties {} is not a list of name:type:count triples", quote(props)));
    }
    let mut col: usize = 0;
    let mut species = None;
    let mut pos = None;
    for t in parts.chunks(3) {
        let n: usize = t[2].parse().map_err(|_| format!("Properties {}: column count {} is not an integer", quote(props), quote(t[2])))?;
        let name = t[0].to_ascii_lowercase();
        let ty = t[1].to_ascii_uppercase();
        if (name == "species" || name == "symbols" || name == "element") && ty == "S" && n == 1 {
            species = Some((col, false));
        } else if name == "z" && ty == "I" && n == 1 && species.is_none() {
            species = Some((col, true));
        } else if (name == "pos" || name == "positions") && ty == "R" && n == 3 {
            pos = Some(col);
        }
        col = col
            .checked_add(n)
            .filter(|&c| c <= MAX_PROPERTY_COLUMNS)
            .ok_or_else(|| format!("Properties {}: more than {MAX_PROPERTY_COLUMNS} columns", quote(props)))?;
    }
    let (sc, by_z) = species.ok_or_else(|| format!("Properties {} has no species:S:1 column", quote(props)))?;
    let pc = pos.ok_or_else(|| format!("Properties {} has no pos:R:3 column", quote(props)))?;
    Ok((sc, by_z, pc, col))
}

fn parse_lattice(v: &str) -> Result<Lattice, String> {
    let cleaned: String = v.chars().map(|c| if c == '[' || c == ']' || c == ',' { ' ' } else { c }).collect();
    let nums: Vec<&str> = cleaned.split_whitespace().collect();
    if nums.len() != 9 {
        return Err(format!("Lattice has {} numbers, expected 9", nums.len()));
    }
    let mut m = [[0.0; 3]; 3];
    for (k, t) in nums.iter().enumerate() {
        m[k / 3][k % 3] = t.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("Lattice entry {} is not a number", quote(t)))?;
    }
    Lattice::new(m).map_err(|e| format!("Lattice: {e}"))
}

/// Parse the body of one frame (info line and atom lines); errors name the line.
fn parse_frame(number: usize, line: usize, info_line: &str, atoms: &[String]) -> (Option<Info>, Result<Frame, String>) {
    let info_ln = line + 1;
    let info = match parse_info_line(info_line) {
        Ok(i) => i,
        Err(e) => return (None, Err(format!("line {info_ln}: info line: {e}"))),
    };
    let res = (|| {
        let lat = info_get(&info, "Lattice").ok_or_else(|| format!("line {info_ln}: missing Lattice in the info line"))?;
        let lattice = parse_lattice(lat).map_err(|e| format!("line {info_ln}: {e}"))?;
        let props = info_get(&info, "Properties").unwrap_or("species:S:1:pos:R:3");
        let (sc, by_z, pc, ncols) = property_columns(props).map_err(|e| format!("line {info_ln}: {e}"))?;
        let mut species = Vec::with_capacity(atoms.len());
        let mut cart = Vec::with_capacity(atoms.len());
        for (k, a) in atoms.iter().enumerate() {
            let ln = line + 2 + k;
            let toks: Vec<&str> = a.split_whitespace().collect();
            if toks.len() < ncols {
                return Err(format!("line {ln}: expected {ncols} columns (Properties={}), found {}", quote(props), toks.len()));
            }
            let sym = toks[sc];
            let e = if sym == "X" {
                None
            } else if by_z {
                let z: u8 = sym.parse().map_err(|_| format!("line {ln}: atomic number {} is not an integer", quote(sym)))?;
                if z == 0 {
                    None
                } else {
                    Some(Element::from_z(z).map_err(|_| format!("unknown element Z={} at line {ln}", quote(sym)))?)
                }
            } else {
                Some(Element::from_symbol(sym).map_err(|_| format!("unknown element {} at line {ln}", quote(sym)))?)
            };
            let mut p = [0.0; 3];
            for d in 0..3 {
                let t = toks[pc + d];
                p[d] = t.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("line {ln}: coordinate {} is not a number", quote(t)))?;
            }
            species.push(e);
            cart.push(p);
        }
        Ok(Frame { number, line, info: info.clone(), lattice, species, cart })
    })();
    (Some(info), res)
}

fn group_key(info: &[(String, String)]) -> Option<(String, String)> {
    let edge = info_first(info, &["edge_id", "id"])?;
    let mat = info_first(info, &["material_id", "mp_id"]).unwrap_or("");
    Some((mat.to_string(), edge.to_string()))
}

/// The sha256 of a file's bytes, hex, read in pieces.
pub fn file_sha256(file: &Path) -> Result<String, ImportError> {
    use std::io::Read;
    let malformed = |msg: String| ImportError::Malformed { file: file.to_path_buf(), msg };
    let mut f = std::fs::File::open(file).map_err(|e| malformed(format!("cannot read: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| malformed(format!("read error: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The frames of an extended XYZ file, read one at a time. Structural errors (atom counts that
/// do not match the file) end the file with an error; errors inside a frame are kept with the
/// frame.
struct FrameReader {
    file: std::path::PathBuf,
    lines: crate::input::Lines<std::io::BufReader<std::fs::File>>,
    /// Frames read so far.
    count: usize,
    /// Line of the last frame's atom count.
    last_line: Option<usize>,
    done: bool,
}

impl FrameReader {
    fn open(file: &Path) -> Result<FrameReader, ImportError> {
        let f = std::fs::File::open(file).map_err(|e| ImportError::Malformed { file: file.to_path_buf(), msg: format!("cannot read: {e}") })?;
        Ok(FrameReader {
            file: file.to_path_buf(),
            lines: crate::input::Lines::new(std::io::BufReader::with_capacity(1 << 20, f)),
            count: 0,
            last_line: None,
            done: false,
        })
    }

    fn malformed(&self, msg: String) -> ImportError {
        ImportError::Malformed { file: self.file.clone(), msg }
    }

    fn next_line(&mut self) -> Result<Option<String>, ImportError> {
        self.lines.next_line().map_err(|msg| ImportError::Malformed { file: self.file.clone(), msg })
    }

    fn read_frame(&mut self) -> Result<Option<RawFrame>, ImportError> {
        let count_line = loop {
            match self.next_line()? {
                None => return Ok(None),
                Some(l) if l.trim().is_empty() => continue,
                Some(l) => break l,
            }
        };
        let number = self.count + 1;
        let count_ln = self.lines.line();
        let natoms: usize = match count_line.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                let hint = if let Some(prev) = self.last_line {
                    format!(" (does the atom count on line {prev} match the atom lines that follow it?)")
                } else {
                    String::new()
                };
                return Err(self.malformed(format!("line {count_ln}: expected the atom count of frame {number}, found {}{hint}", quote(count_line.trim()))));
            }
        };
        if natoms == 0 {
            return Err(self.malformed(format!("line {count_ln}: frame {number} has an atom count of 0")));
        }
        let info_line = self.next_line()?.ok_or_else(|| self.malformed(format!("line {}: file ends before the info line of frame {number}", count_ln + 1)))?;
        let mut atoms = Vec::with_capacity(crate::input::capacity_for(natoms));
        for k in 0..natoms {
            match self.next_line()? {
                None => return Err(self.malformed(format!("line {count_ln}: frame {number} declares {natoms} atoms but the file ends after {k} atom lines"))),
                Some(l) => {
                    let mut t = l.split_whitespace();
                    let (first, second) = (t.next(), t.next());
                    if first.is_none() || second.is_none() && first.is_some_and(|f| f.parse::<usize>().is_ok()) {
                        return Err(self.malformed(format!(
                            "line {count_ln}: frame {number} declares {natoms} atoms but line {} ({}) is not an atom line after {k} atoms",
                            self.lines.line(),
                            quote(l.trim())
                        )));
                    }
                    atoms.push(l);
                }
            }
        }
        let (info, parsed) = parse_frame(number, count_ln, &info_line, &atoms);
        self.count = number;
        self.last_line = Some(count_ln);
        Ok(Some(RawFrame { number, line: count_ln, key: info.as_deref().and_then(group_key), parsed }))
    }
}

impl Iterator for FrameReader {
    type Item = Result<RawFrame, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_frame() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn parse_em(info: &[(String, String)]) -> Result<Option<f64>, String> {
    match info_get(info, "em") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("field em: not a finite number ({})", quote(v))),
    }
}

fn parse_ion(info: &[(String, String)]) -> Result<Option<Element>, String> {
    match info_first(info, &["ion", "mobile_ion"]) {
        None => Ok(None),
        Some(v) => Element::from_symbol(v).map(Some).map_err(|_| format!("field ion: unknown element {}", quote(v))),
    }
}

/// Everything about a record that the info line says, with the derived fields left empty.
fn base_record(info: &[(String, String)], opts: &LitrajOptions, file: &Path, sha: &str, importer: &str, imported_at: &str) -> Result<HopRecord, String> {
    let (mat, edge) = group_key(info).ok_or("field edge_id: missing (no edge_id or id in the info line)")?;
    let src_id = if mat.is_empty() { edge.clone() } else { format!("{mat}_{edge}") };
    let opt = |k: &str| info_first(info, &[k]).map(str::to_string);
    let mut extra = BTreeMap::new();
    if let Ok(x) = edge.parse::<f64>() {
        if x.is_finite() {
            extra.insert("edge_id".to_string(), x);
        }
    }
    Ok(HopRecord {
        id: record_id(&opts.dataset, &src_id),
        ion: Element::from_z(3).expect("Li exists"),
        host: StructureId(String::new()),
        host_natoms: 0,
        elements: vec![],
        volume: 0.0,
        hop_length: 0.0,
        initial: [0.0; 3],
        final_site: [0.0; 3],
        images: vec![],
        em: f64::NAN,
        fidelity: opts.fidelity,
        method: Method { xc: opt("xc"), code: opt("code"), n_images: None, climbing_image: None, converged: None },
        material: Material {
            formula: String::new(),
            composition: opt("composition"),
            class_label: opt("class"),
            group: None,
            crystal_system: opt("crystal_system"),
            space_group: opt("space_group"),
            sys_name: if mat.is_empty() { opt("sys_name") } else { Some(mat.clone()) },
            path_label: opt("path"),
            state: None,
        },
        provenance: Provenance {
            dataset: opts.dataset.clone(),
            dataset_version: opts.dataset_version.clone(),
            source_file: file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            source_sha256: sha.to_string(),
            source_record_id: src_id,
            citation: Some(CITATION.to_string()),
            doi: opt("doi"),
            bibtex: None,
            importer: importer.to_string(),
            hopdb_version: crate::HOPDB_VERSION.to_string(),
            imported_at: imported_at.to_string(),
            notes: None,
        },
        partition: None,
        flags: vec![],
        parent: None,
        extra,
        revisions: vec![],
    })
}

/// The endpoints of a centroid frame: (initial index, final index, final fractional site).
fn find_endpoints(lat: &Lattice, frac: &[Vec3], species: &[Option<Element>], x: Vec3, ion: Option<Element>) -> Result<(usize, usize, Vec3), String> {
    let mobile: Vec<Element> = match ion {
        Some(e) => vec![e],
        None => MOBILE_IONS.iter().map(|s| Element::from_symbol(s).expect("mobile ions are elements")).collect(),
    };
    // (distance of the pair from X, priority of the element, i, j, final site)
    let mut best: Option<(f64, usize, usize, usize, Vec3)> = None;
    for (prio, e) in mobile.iter().enumerate() {
        let idx: Vec<usize> = (0..frac.len()).filter(|&i| species[i] == Some(*e)).collect();
        // Minimum-image vectors from X to every atom of this element, sorted by length.
        let mut vs: Vec<(f64, usize, Vec3)> = idx
            .iter()
            .map(|&i| {
                let v = lat.min_image_vector(x, frac[i]);
                (structure::norm(v), i, v)
            })
            .collect();
        vs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for a in 0..vs.len() {
            for b in a + 1..vs.len() {
                if vs[b].0 - vs[a].0 > 2.0 * CENTROID_TOLERANCE {
                    break;
                }
                // The lower atom index is the initial site; the final site is the image
                // of the other atom on the far side of X.
                let (pa, pb) = if vs[a].1 < vs[b].1 { (&vs[a], &vs[b]) } else { (&vs[b], &vs[a]) };
                let (ia, ib) = (pa.1, pb.1);
                let off = structure::norm(structure::add(pa.2, pb.2)) / 2.0;
                if off > CENTROID_TOLERANCE {
                    continue;
                }
                let hop = structure::sub(pb.2, pa.2);
                // The hop through X must be a shortest image of the pair (ties allowed).
                if structure::norm(hop) > lat.min_image_distance(frac[ia], frac[ib]) + 1e-6 {
                    continue;
                }
                let fin = structure::add(frac[ia], lat.to_frac(hop));
                {
                    let d = vs[a].0;
                    let better = match &best {
                        None => true,
                        Some((bd, bp, ..)) => d < bd - 1e-6 || ((d - bd).abs() <= 1e-6 && prio < *bp),
                    };
                    if better {
                        best = Some((d, prio, ia, ib, fin));
                    }
                }
            }
        }
    }
    match best {
        Some((_, _, i, j, fin)) => Ok((i, j, fin)),
        None => Err(match ion {
            Some(e) => format!("centroid X is not the midpoint of any pair of {e} atoms (within {CENTROID_TOLERANCE} A)"),
            None => format!(
                "centroid X is not the midpoint of any pair of {} atoms (within {CENTROID_TOLERANCE} A); name the mobile ion with ion= in the info line",
                MOBILE_IONS.join(", ")
            ),
        }),
    }
}

/// Every position of a frame within [`structure::MAX_COORDINATE`] cells of the origin.
fn in_range(frac: &[Vec3], f: &Frame) -> Result<(), String> {
    match frac.iter().position(|p| p.iter().any(|x| !x.is_finite() || x.abs() > structure::MAX_COORDINATE)) {
        None => Ok(()),
        Some(k) => Err(format!(
            "line {}: atom {} lies more than {:e} cells from the origin",
            f.line + 2 + k,
            k + 1,
            structure::MAX_COORDINATE
        )),
    }
}

fn candidate_from_centroid_frame(f: &Frame, opts: &LitrajOptions, file: &Path, sha: &str, imported_at: &str) -> Result<Candidate, String> {
    let mut r = base_record(&f.info, opts, file, sha, "litraj-xyz", imported_at)?;
    r.em = parse_em(&f.info)?.ok_or("field em: missing (no em= in the info line)")?;
    let ion = parse_ion(&f.info)?;
    let xs: Vec<usize> = (0..f.species.len()).filter(|&i| f.species[i].is_none()).collect();
    if xs.len() != 1 {
        return Err(format!("expected exactly one centroid atom X, found {}", xs.len()));
    }
    let frac: Vec<Vec3> = f.cart.iter().map(|c| f.lattice.to_frac(*c)).collect();
    in_range(&frac, f)?;
    let x = frac[xs[0]];
    let (i, j, fin) = find_endpoints(&f.lattice, &frac, &f.species, x, ion)?;
    let keep: Vec<usize> = (0..frac.len()).filter(|&k| k != i && k != j && k != xs[0]).collect();
    let host = Structure::new(
        f.lattice.clone(),
        keep.iter().map(|&k| f.species[k].expect("X was removed")).collect(),
        keep.iter().map(|&k| frac[k]).collect(),
    )
    .map_err(|e| format!("frame {} at line {}: host: {e}", f.number, f.line))?;
    r.ion = f.species[i].expect("endpoints are elements");
    r.initial = frac[i];
    r.final_site = fin;
    finish_record(&mut r, &host);
    Ok(Candidate { record: r, host, origin: String::new() })
}

/// The candidate of a NEB trajectory (frames of the same atoms, initial to final): the atom
/// that moves is the ion, its path unwrapped frame by frame gives the endpoints and images,
/// the other atoms of the first frame the host.
fn candidate_from_trajectory(frames: &[&Frame], opts: &LitrajOptions, file: &Path, sha: &str, imported_at: &str) -> Result<Candidate, String> {
    let first = frames[0];
    let mut r = base_record(&first.info, opts, file, sha, "litraj-xyz-trajectory", imported_at)?;
    check_same_atoms(frames)?;
    r.em = trajectory_barrier(frames)?;
    let ion_given = parse_ion(&first.info)?;
    let lat = &first.lattice;
    let fracs: Vec<Vec<Vec3>> = frames.iter().map(|f| f.cart.iter().map(|c| f.lattice.to_frac(*c)).collect()).collect();
    for (fr, f) in fracs.iter().zip(frames) {
        in_range(fr, f)?;
    }
    let (ion, k) = moving_atom(frames, &fracs)?;
    if let Some(e) = ion_given {
        if e != ion {
            return Err(format!("field ion: the info line names {e} but the atom that moves is {ion} (atom {})", k + 1));
        }
    }
    // Unwrap the ion's path frame by frame.
    let mut path = vec![fracs[0][k]];
    for fr in &fracs[1..] {
        let prev = *path.last().expect("non-empty");
        path.push(super::nearest_image(lat, prev, fr[k]));
    }
    let n = first.species.len();
    let keep: Vec<usize> = (0..n).filter(|&j| j != k && first.species[j].is_some()).collect();
    let host = Structure::new(
        lat.clone(),
        keep.iter().map(|&j| first.species[j].expect("X was removed")).collect(),
        keep.iter().map(|&j| fracs[0][j]).collect(),
    )
    .map_err(|e| format!("frame {} at line {}: host: {e}", first.number, first.line))?;
    r.ion = ion;
    r.initial = path[0];
    r.final_site = path[path.len() - 1];
    r.images = path[1..path.len() - 1].to_vec();
    r.method.n_images = Some(r.images.len() as u32);
    finish_record(&mut r, &host);
    Ok(Candidate { record: r, host, origin: String::new() })
}

/// Every frame of a trajectory lists the same atoms in the same order as the first.
fn check_same_atoms(frames: &[&Frame]) -> Result<(), String> {
    let first = frames[0];
    for f in &frames[1..] {
        if f.species != first.species {
            return Err(format!(
                "frame {} (line {}) has different atoms than frame {} ({} vs {}); trajectory frames must list the same atoms in the same order",
                f.number,
                f.line,
                first.number,
                f.species.len(),
                first.species.len()
            ));
        }
    }
    Ok(())
}

/// The barrier of a trajectory: `em` of the first frame that has one, else the highest
/// per-frame `energy` less the first frame's.
fn trajectory_barrier(frames: &[&Frame]) -> Result<f64, String> {
    for f in frames {
        if let Some(x) = parse_em(&f.info).map_err(|e| format!("frame {} (line {}): {e}", f.number, f.line))? {
            return Ok(x);
        }
    }
    let mut es = Vec::with_capacity(frames.len());
    for f in frames {
        let v = info_get(&f.info, "energy").ok_or_else(|| {
            format!("field em: missing (no em= in any frame and no energy= in frame {} at line {})", f.number, f.line)
        })?;
        es.push(v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
            format!("field energy: not a finite number ({}) in frame {} at line {}", quote(v), f.number, f.line)
        })?);
    }
    Ok(es.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - es[0])
}

/// The one atom (not X) that moves between the first and the last frame (`fracs`: each
/// frame's fractional coordinates): its element and index. An error when none moves by
/// [`MIN_TRAJECTORY_HOP`], or a second atom moves more than half as far.
fn moving_atom(frames: &[&Frame], fracs: &[Vec<Vec3>]) -> Result<(Element, usize), String> {
    let first = frames[0];
    let last = frames[frames.len() - 1];
    let lat = &first.lattice;
    let n = first.species.len();
    let mut disp: Vec<(f64, usize)> = (0..n)
        .filter(|&k| first.species[k].is_some())
        .map(|k| (lat.min_image_distance(fracs[0][k], fracs[fracs.len() - 1][k]), k))
        .collect();
    disp.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (dmax, k) = *disp.first().ok_or("trajectory frames have no atoms besides X")?;
    if dmax < MIN_TRAJECTORY_HOP {
        return Err(format!(
            "no atom moves by more than {MIN_TRAJECTORY_HOP} A between frame {} and frame {}",
            first.number, last.number
        ));
    }
    if let Some(&(d2, k2)) = disp.get(1) {
        if d2 > 0.5 * dmax && d2 >= MIN_TRAJECTORY_HOP {
            return Err(format!(
                "atoms {} ({}) and {} ({}) both move ({dmax:.2} A and {d2:.2} A) between frame {} and frame {}; expected one moving ion",
                k + 1,
                first.species[k].expect("not X"),
                k2 + 1,
                first.species[k2].expect("not X"),
                first.number,
                last.number
            ));
        }
    }
    Ok((first.species[k].expect("not X"), k))
}

fn key_label(key: &Option<(String, String)>) -> String {
    match key {
        Some((m, e)) if m.is_empty() => format!(", edge_id {e}"),
        Some((m, e)) => format!(", {m}_{e}"),
        None => String::new(),
    }
}

/// Read a LiTraj extended XYZ file into candidates and per-record rejections (all of
/// [`stream_xyz_file`], collected).
///
/// A file whose frames cannot be delimited (an atom count that does not match the atom lines)
/// or in which no frame can be parsed is [`ImportError::Malformed`], naming the line. When only
/// some frames are bad, each bad frame (or the trajectory it belongs to) is a [`Rejection`].
pub fn read_xyz_file(file: &Path, opts: &LitrajOptions) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let mut cands = Vec::new();
    let mut rej = Vec::new();
    for item in stream_xyz_file(file, opts)? {
        match item? {
            Ok(c) => cands.push(c),
            Err(r) => rej.push(r),
        }
    }
    Ok((cands, rej))
}

/// Read a LiTraj extended XYZ file as a stream of candidates and rejections, one frame (or
/// one trajectory) in memory at a time; the file is hashed first (for provenance) in a pass
/// of its own. The stream ends with an [`ImportError::Malformed`] where [`read_xyz_file`]
/// fails: a frame that cannot be delimited, or a file none of whose frames parse.
pub fn stream_xyz_file(file: &Path, opts: &LitrajOptions) -> Result<XyzStream, ImportError> {
    let sha = file_sha256(file)?;
    let frames = FrameReader::open(file)?;
    Ok(XyzStream {
        frames,
        pending: None,
        opts: opts.clone(),
        file: file.to_path_buf(),
        sha,
        imported_at: crate::record::now(),
        prev_key: None,
        any_parsed: false,
        first_errors: Vec::new(),
        finished: false,
    })
}

/// The candidates of an extended XYZ file, read frame by frame ([`stream_xyz_file`]).
pub struct XyzStream {
    frames: FrameReader,
    /// A frame read ahead (the first of the next group).
    pending: Option<RawFrame>,
    opts: LitrajOptions,
    file: std::path::PathBuf,
    sha: String,
    imported_at: String,
    /// The key of the previous group (for the repeated edge_id check).
    prev_key: Option<Option<(String, String)>>,
    any_parsed: bool,
    /// The first few frame errors (for the error of a file no frame of which parses).
    first_errors: Vec<String>,
    finished: bool,
}

impl XyzStream {
    fn next_frame(&mut self) -> Result<Option<RawFrame>, ImportError> {
        if let Some(f) = self.pending.take() {
            return Ok(Some(f));
        }
        let f = self.frames.next().transpose()?;
        if let Some(f) = &f {
            match &f.parsed {
                Ok(_) => self.any_parsed = true,
                Err(e) if self.first_errors.len() < 5 => self.first_errors.push(e.clone()),
                Err(_) => {}
            }
        }
        Ok(f)
    }

    /// The next group of frames: one frame, or a trajectory's consecutive frames.
    fn next_group(&mut self) -> Result<Option<Vec<RawFrame>>, ImportError> {
        let Some(first) = self.next_frame()? else { return Ok(None) };
        let mut group = vec![first];
        if self.opts.trajectory && group[0].key.is_some() {
            while let Some(f) = self.next_frame()? {
                if f.key == group[0].key {
                    group.push(f);
                } else {
                    self.pending = Some(f);
                    break;
                }
            }
        }
        Ok(Some(group))
    }

    fn item(&mut self, g: Vec<RawFrame>) -> ReadItem {
        let (a, b) = (&g[0], &g[g.len() - 1]);
        let fname = self.file.display();
        let origin = if g.len() == 1 {
            format!("{fname}, frame {} (line {}{})", a.number, a.line, key_label(&a.key))
        } else {
            format!("{fname}, frames {}-{} (lines {}-{}{})", a.number, b.number, a.line, b.line, key_label(&a.key))
        };
        let repeated = !self.opts.trajectory && a.key.is_some() && self.prev_key.as_ref() == Some(&a.key);
        self.prev_key = Some(a.key.clone());
        if repeated {
            return Err(Rejection {
                origin,
                reason: "field edge_id: repeats the previous frame's edge_id; frames that share an edge_id are one NEB trajectory (read the file in trajectory mode)".into(),
            });
        }
        let res = if let Some(bad) = g.iter().find(|f| f.parsed.is_err()) {
            let e = bad.parsed.as_ref().err().cloned().unwrap_or_default();
            if g.len() == 1 {
                Err(e)
            } else {
                Err(format!("frame {}: {e}", bad.number))
            }
        } else {
            let fr: Vec<&Frame> = g.iter().map(|f| f.parsed.as_ref().expect("checked")).collect();
            if fr.len() == 1 {
                candidate_from_centroid_frame(fr[0], &self.opts, &self.file, &self.sha, &self.imported_at)
            } else {
                candidate_from_trajectory(&fr, &self.opts, &self.file, &self.sha, &self.imported_at)
            }
        };
        match res {
            Ok(mut c) => {
                c.origin = origin;
                Ok(c)
            }
            Err(reason) => Err(Rejection { origin, reason }),
        }
    }
}

impl Iterator for XyzStream {
    type Item = Result<ReadItem, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_group() {
            Ok(Some(g)) => Some(Ok(self.item(g))),
            Ok(None) => {
                self.finished = true;
                let n = self.frames.count;
                if n == 0 {
                    return Some(Err(ImportError::Malformed { file: self.file.clone(), msg: "no frames: the file is empty".into() }));
                }
                if !self.any_parsed {
                    let more = if n > 5 { format!(" (and {} more frames)", n - 5) } else { String::new() };
                    return Some(Err(ImportError::Malformed { file: self.file.clone(), msg: format!("{}{more}", self.first_errors.join("; ")) }));
                }
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_line_forms() {
        let i = parse_info_line(r#"Lattice="1 0 0 0 1 0 0 0 1" Properties=species:S:1:pos:R:3 em=0.43 name='a b' flag pbc="T T T" note="say \"hi\"" k = v"#).unwrap();
        assert_eq!(info_get(&i, "lattice"), Some("1 0 0 0 1 0 0 0 1"));
        assert_eq!(info_get(&i, "em"), Some("0.43"));
        assert_eq!(info_get(&i, "name"), Some("a b"));
        assert_eq!(info_get(&i, "flag"), Some("T"));
        assert_eq!(info_get(&i, "note"), Some("say \"hi\""));
        assert_eq!(info_get(&i, "k"), Some("v"));
        assert!(parse_info_line("a=\"open").is_err());
    }

    #[test]
    fn properties() {
        assert_eq!(property_columns("species:S:1:pos:R:3").unwrap(), (0, false, 1, 4));
        assert_eq!(property_columns("pos:R:3:species:S:1:forces:R:3").unwrap(), (3, false, 0, 7));
        assert!(property_columns("species:S:1").is_err());
    }
}
