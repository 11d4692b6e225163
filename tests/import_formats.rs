//! Readers and writers of the file formats: CIF, POSCAR, LiTraj extended XYZ, the generic
//! curator manifest, and the JSON-lines / CSV / XYZ exports.

use hopdb::element::Element;
use hopdb::export;
use hopdb::import::generic::{self, GenericMeta, GenericOptions};
use hopdb::import::litraj::{self, LitrajOptions};
use hopdb::import::{self, Candidate, ImportError, ImportOptions, Rejection};
use hopdb::record::Fidelity;
use hopdb::store::Store;
use hopdb::structure::io::{parse_cif, parse_poscar, read_structure, write_cif, write_poscar};
use hopdb::structure::{Lattice, Structure};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

fn el(s: &str) -> Element {
    Element::from_symbol(s).unwrap()
}

fn malformed_msg(r: Result<(Vec<Candidate>, Vec<Rejection>), ImportError>) -> (PathBuf, String) {
    match r {
        Err(ImportError::Malformed { file, msg }) => (file, msg),
        Err(e) => panic!("expected Malformed, got {e}"),
        Ok((c, r)) => panic!("expected Malformed, got {} candidates and rejections {r:?}", c.len()),
    }
}

fn assert_same_structure(a: &Structure, b: &Structure, tol: f64) {
    assert_eq!(a.species, b.species);
    let (la, lb) = (a.lattice.lengths(), b.lattice.lengths());
    let (aa, ab) = (a.lattice.angles(), b.lattice.angles());
    for k in 0..3 {
        assert!((la[k] - lb[k]).abs() < tol, "lengths {la:?} vs {lb:?}");
        assert!((aa[k] - ab[k]).abs() < tol, "angles {aa:?} vs {ab:?}");
    }
    for (fa, fb) in a.frac.iter().zip(&b.frac) {
        for k in 0..3 {
            assert!((fa[k] - fb[k]).abs() < tol, "site {fa:?} vs {fb:?}");
        }
    }
}

// ---------------------------------------------------------------- CIF / POSCAR

#[test]
fn cif_p1_with_labels_and_uncertainties() {
    let s = read_structure(&fixture("generic/LiF_vac_initial.cif")).unwrap();
    assert_eq!(s.len(), 63);
    assert_eq!(s.formula(), "Li31 F32");
    let l = s.lattice.lengths();
    assert!((l[0] - 8.06).abs() < 1e-9 && (l[2] - 8.06).abs() < 1e-9);
    // Closest pair is Li-F at a/2.
    let (_, _, d) = s.closest_pair_within(2.5).unwrap();
    assert!((d - 2.015).abs() < 1e-3, "closest pair {d}");
    let f = read_structure(&fixture("generic/LiF_vac_final.cif")).unwrap();
    assert_eq!(f.len(), 63);
}

#[test]
fn cif_symmetry_operations_are_applied_and_merged() {
    let s = read_structure(&fixture("generic/LiF_Fm-3m_symmetry.cif")).unwrap();
    assert_eq!(s.len(), 8, "4 Li + 4 F from 192 operations");
    assert_eq!(s.formula(), "Li4 F4");
    let (_, _, d) = s.closest_pair_within(3.0).unwrap();
    assert!((d - 2.015).abs() < 1e-6);
}

#[test]
fn poscar_direct_selective_dynamics_and_cartesian_negative_scale() {
    let ini = read_structure(&fixture("generic/POSCAR_NaCl_initial")).unwrap();
    assert_eq!(ini.len(), 15);
    assert_eq!(ini.formula(), "Na7 Cl8");
    let fin = read_structure(&fixture("generic/NaCl_final.vasp")).unwrap();
    assert_eq!(fin.len(), 15);
    assert!((fin.lattice.volume() - ini.lattice.volume()).abs() < 1e-4);
    assert_eq!(fin.species[0], el("Cl"));
    // Cartesian (2.82, 0, 0) in an 11.28 A cell.
    assert!((fin.frac[0][0] - 0.25).abs() < 1e-6);
}

#[test]
fn unknown_element_in_cif_names_file_and_line() {
    let err = read_structure(&fixture("generic/bad_element.cif")).unwrap_err();
    assert!(err.contains("bad_element.cif"), "{err}");
    assert!(err.contains("unknown element 'Xx' at line 51"), "{err}");
}

#[test]
fn structure_errors_name_the_line() {
    let p = "comment\n1.0\n4 0 0\n0 4 0\n0 0 4\nLi F\n1 1\nDirect\n0 0 0\n0.5 abc 0.5\n";
    let err = parse_poscar(p).unwrap_err();
    assert!(err.contains("line 10"), "{err}");
    let vasp4 = "comment\n1.0\n4 0 0\n0 4 0\n0 0 4\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n";
    let err = parse_poscar(vasp4).unwrap_err();
    assert!(err.contains("line 6") && err.contains("VASP 5"), "{err}");
    let p = "comment\n1.0\n4 0 0\n0 4 0\n0 0 4\nLi Qq\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n";
    assert_eq!(parse_poscar(p).unwrap_err(), "unknown element 'Qq' at line 6");
    let cif = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c four\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n";
    let err = parse_cif(cif).unwrap_err();
    assert!(err.contains("line 4") && err.contains("_cell_length_c"), "{err}");
    let cif = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nLi1 0 0 0\nZq1 0.5 0.5 0.5\n";
    assert_eq!(parse_cif(cif).unwrap_err(), "unknown element 'Zq1' at line 14");
    let err = read_structure(Path::new("/nonexistent/x.txt")).unwrap_err();
    assert!(err.contains("unknown structure format"), "{err}");
}

fn triclinic() -> Structure {
    let lat = Lattice::new([[5.1, 0.0, 0.0], [0.9, 4.7, 0.0], [0.7, -0.4, 6.2]]).unwrap();
    Structure::new(
        lat,
        vec![el("Li"), el("Li"), el("Co"), el("O"), el("O")],
        vec![[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.1234567891, 0.25, 0.75], [0.3, 0.6, 0.9], [0.7, 0.4, 0.1]],
    )
    .unwrap()
}

#[test]
fn cif_round_trip() {
    for s in [triclinic(), read_structure(&fixture("generic/LiF_vac_initial.cif")).unwrap()] {
        let text = write_cif(&s, "round trip");
        let back = parse_cif(&text).unwrap();
        assert_same_structure(&s, &back, 1e-6);
    }
    // Standard orientation (a along x, b in xy): the matrix itself survives too.
    let s = read_structure(&fixture("generic/LiF_vac_initial.cif")).unwrap();
    let back = parse_cif(&write_cif(&s, "x")).unwrap();
    for (ra, rb) in s.lattice.matrix().iter().zip(back.lattice.matrix()) {
        for k in 0..3 {
            assert!((ra[k] - rb[k]).abs() < 1e-6);
        }
    }
}

#[test]
fn poscar_round_trip() {
    let s = triclinic();
    let text = write_poscar(&s, "triclinic test");
    let back = parse_poscar(&text).unwrap();
    assert_same_structure(&s, &back, 1e-6);
    for (ra, rb) in s.lattice.matrix().iter().zip(back.lattice.matrix()) {
        for k in 0..3 {
            assert!((ra[k] - rb[k]).abs() < 1e-9);
        }
    }
    // Through files, with the name deciding the format.
    let dir = tempfile::tempdir().unwrap();
    for name in ["POSCAR", "x.vasp", "x.cif", "CONTCAR_relaxed"] {
        let p = dir.path().join(name);
        hopdb::structure::io::write_structure(&p, &s).unwrap();
        assert_same_structure(&s, &read_structure(&p).unwrap(), 1e-6);
    }
}

// ---------------------------------------------------------------- LiTraj

#[test]
fn litraj_two_centroid_records() {
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/nebBVSE_2records.xyz"), &LitrajOptions::neb_bvse()).unwrap();
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(c.len(), 2);
    let ids: Vec<&str> = c.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, ["litraj-nebBVSE122k:mp-1138_101", "litraj-nebBVSE122k:mp-1138_102"]);
    for (cand, em, edge) in [(&c[0], 0.4321, 101.0), (&c[1], 0.5120, 102.0)] {
        let rec = &cand.record;
        assert_eq!(rec.ion, el("Li"));
        assert_eq!(rec.em, em);
        assert_eq!(rec.fidelity, Fidelity::Bvse);
        assert_eq!(rec.material.sys_name.as_deref(), Some("mp-1138"));
        assert_eq!(rec.extra.get("edge_id"), Some(&edge));
        assert_eq!(rec.provenance.source_file, "nebBVSE_2records.xyz");
        assert_eq!(rec.provenance.source_sha256.len(), 64);
        // 16 Li + 16 F, minus the two endpoints: the X centroid is gone.
        assert_eq!(rec.host_natoms, 30);
        assert_eq!(cand.host.formula(), "Li14 F16");
        assert!((rec.hop_length - 4.03 / 2f64.sqrt()).abs() < 1e-4, "{}", rec.hop_length);
        assert!(cand.origin.contains("nebBVSE_2records.xyz") && cand.origin.contains("frame"));
    }
    // Into a store: valid and not flagged.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let rep = import::commit(&store, c, r, &ImportOptions::default(), "litraj fixture").unwrap();
    assert_eq!(rep.added.len(), 2);
    assert!(rep.flagged.is_empty(), "{:?}", rep.flagged);
}

#[test]
fn litraj_dft_options_and_custom_dataset() {
    let mut o = LitrajOptions::neb_dft();
    assert_eq!(o.dataset, "litraj-nebDFT2k");
    o.dataset = "mine".into();
    let (c, _) = litraj::read_xyz_file(&fixture("litraj/nebBVSE_2records.xyz"), &o).unwrap();
    assert_eq!(c[0].record.id, "mine:mp-1138_101");
    assert_eq!(c[0].record.fidelity, Fidelity::Dft);
}

#[test]
fn litraj_trajectory_is_one_record() {
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/nebDFT_trajectory.xyz"), &LitrajOptions::neb_dft()).unwrap();
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(c.len(), 1);
    let rec = &c[0].record;
    assert_eq!(rec.id, "litraj-nebDFT2k:mp-1138_7");
    assert_eq!(rec.ion, el("Li"));
    assert_eq!(rec.images.len(), 3);
    assert_eq!(rec.method.n_images, Some(3));
    assert!((rec.em - 0.45).abs() < 1e-9, "em = max(energy) - energy(first) = {}", rec.em);
    assert_eq!(rec.host_natoms, 14, "16 sites - vacancy - ion, X dropped");
    assert!((rec.hop_length - 4.03 / 2f64.sqrt()).abs() < 1e-4);
    // The middle image bulges 0.15 A out of the straight line.
    let host = &c[0].host;
    let mid = host.lattice.to_cart(rec.images[1]);
    assert!((mid[2] - 0.15).abs() < 1e-4, "{mid:?}");
    assert!(c[0].origin.contains("frames 1-5"), "{}", c[0].origin);
}

#[test]
fn litraj_trajectory_frames_without_trajectory_mode_are_rejected_with_a_hint() {
    let o = LitrajOptions { trajectory: false, ..LitrajOptions::neb_dft() };
    let (_, r) = litraj::read_xyz_file(&fixture("litraj/nebDFT_trajectory.xyz"), &o).unwrap();
    // Frame 1 alone is read as a centroid frame, which it is not (it has no em either).
    assert_eq!(r.len(), 5);
    assert!(r[0].origin.contains("frame 1 ") && r[0].reason.contains("field em"), "{}", r[0].reason);
    assert!(r[1..].iter().all(|x| x.reason.contains("edge_id") && x.reason.contains("trajectory")), "{r:?}");
}

#[test]
fn litraj_missing_lattice_is_malformed_with_line() {
    let (file, msg) = malformed_msg(litraj::read_xyz_file(&fixture("litraj/bad_missing_lattice.xyz"), &LitrajOptions::default()));
    assert!(file.ends_with("bad_missing_lattice.xyz"));
    assert!(msg.contains("line 2") && msg.contains("Lattice"), "{msg}");
}

#[test]
fn litraj_bad_atom_count_is_malformed_with_line() {
    let (_, msg) = malformed_msg(litraj::read_xyz_file(&fixture("litraj/bad_atom_count.xyz"), &LitrajOptions::default()));
    assert!(msg.contains("line 35") && msg.contains("atom count"), "{msg}");
    assert!(msg.contains("line 1"), "points back at the count: {msg}");
}

#[test]
fn litraj_non_numeric_coordinate_is_malformed_with_line() {
    let (_, msg) = malformed_msg(litraj::read_xyz_file(&fixture("litraj/bad_coordinate.xyz"), &LitrajOptions::default()));
    assert!(msg.contains("line 6") && msg.contains("'0.5x0'"), "{msg}");
}

#[test]
fn litraj_centroid_off_midpoint_is_rejected() {
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/bad_centroid.xyz"), &LitrajOptions::default()).unwrap();
    assert!(c.is_empty());
    assert_eq!(r.len(), 1);
    assert!(r[0].reason.contains("centroid X is not the midpoint of any pair of Li atoms"), "{}", r[0].reason);
    assert!(r[0].origin.contains("bad_centroid.xyz") && r[0].origin.contains("frame 1") && r[0].origin.contains("mp-1138_103"), "{}", r[0].origin);
}

#[test]
fn litraj_unknown_element_rejects_only_its_frame() {
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/bad_element.xyz"), &LitrajOptions::default()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(r.len(), 1);
    assert!(r[0].reason.contains("unknown element 'Xx' at line 58"), "{}", r[0].reason);
    assert!(r[0].origin.contains("frame 2") && r[0].origin.contains("mp-1138_102"), "{}", r[0].origin);
}

// ---------------------------------------------------------------- generic manifest

fn check_manifest_candidates(c: &[Candidate], manifest: &str) {
    assert_eq!(c.len(), 2);
    let lif = &c[0].record;
    assert_eq!(lif.id, "curated:lif-vac-1");
    assert_eq!(lif.ion, el("Li"));
    assert_eq!(lif.em, 0.62);
    assert_eq!(lif.method.xc.as_deref(), Some("GGA"));
    assert_eq!(lif.material.class_label.as_deref(), Some("ROCKSALT"));
    assert_eq!(lif.material.path_label.as_deref(), Some("PATH 1"));
    assert_eq!(lif.material.sys_name.as_deref(), Some("LiF_vac"));
    assert_eq!(lif.material.state, Some(hopdb::record::IntercalationState::Discharged));
    assert_eq!(lif.provenance.doi.as_deref(), Some("10.0000/hopdb.fixture.1"));
    assert_eq!(lif.provenance.source_file, manifest);
    assert_eq!(lif.host_natoms, 62);
    assert!((lif.hop_length - 4.03 / 2f64.sqrt()).abs() < 1e-4);
    let nacl = &c[1].record;
    assert_eq!(nacl.id, "curated:nacl-vac-1");
    assert_eq!(nacl.ion, el("Na"));
    assert_eq!(nacl.em, 0.71);
    assert_eq!(nacl.host_natoms, 14);
    assert!((nacl.hop_length - 5.64 / 2f64.sqrt()).abs() < 1e-4);
}

#[test]
fn manifest_csv_and_jsonl() {
    let (c, r) = generic::read_manifest(&fixture("generic/manifest.csv"), &GenericOptions::default()).unwrap();
    assert!(r.is_empty(), "{r:?}");
    check_manifest_candidates(&c, "manifest.csv");
    assert_eq!(c[0].record.provenance.citation.as_deref(), Some("Fixture, A. (2024) hand-made LiF hop"));
    assert_eq!(c[0].record.method.code.as_deref(), Some("VASP"));
    let (c2, r2) = generic::read_manifest(&fixture("generic/manifest.jsonl"), &GenericOptions::default()).unwrap();
    assert!(r2.is_empty(), "{r2:?}");
    check_manifest_candidates(&c2, "manifest.jsonl");
    // The same hops whichever manifest they come from.
    for (a, b) in c.iter().zip(&c2) {
        assert_eq!(a.record.host, b.record.host);
        assert_eq!(a.record.initial, b.record.initial);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let groups = store.class_groups().unwrap();
    let opts = GenericOptions { class_groups: groups, ..GenericOptions::default() };
    let (c, r) = generic::read_manifest(&fixture("generic/manifest.csv"), &opts).unwrap();
    let rep = import::commit(&store, c, r, &ImportOptions::default(), "manifest").unwrap();
    assert_eq!(rep.added.len(), 2);
    assert!(rep.flagged.is_empty(), "{:?}", rep.flagged);
}

#[test]
fn candidate_from_files_for_hopdb_add() {
    let meta = GenericMeta { id: "added-1".into(), xc: Some("SCAN".into()), ..GenericMeta::default() };
    let opts = GenericOptions { dataset: "papers".into(), ..GenericOptions::default() };
    let c = generic::candidate_from_files(
        &fixture("generic/POSCAR_NaCl_initial"),
        &fixture("generic/NaCl_final.vasp"),
        el("Na"),
        0.33,
        &meta,
        &opts,
    )
    .unwrap();
    assert_eq!(c.record.id, "papers:added-1");
    assert_eq!(c.record.fidelity, Fidelity::Dft);
    assert_eq!(c.record.provenance.source_file, "POSCAR_NaCl_initial,NaCl_final.vasp");
    // The wrong ion is an error naming it.
    let err = generic::candidate_from_files(
        &fixture("generic/POSCAR_NaCl_initial"),
        &fixture("generic/NaCl_final.vasp"),
        el("Li"),
        0.33,
        &meta,
        &opts,
    )
    .unwrap_err();
    assert!(err.contains("not Li"), "{err}");
}

#[test]
fn manifest_missing_file_is_rejected_naming_line_and_field() {
    let (c, r) = generic::read_manifest(&fixture("generic/bad_missing_file.csv"), &GenericOptions::default()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(r.len(), 1);
    assert!(r[0].origin.contains("bad_missing_file.csv, line 3 (ghost-1)"), "{}", r[0].origin);
    assert!(r[0].reason.contains("field final") && r[0].reason.contains("does_not_exist.cif"), "{}", r[0].reason);
}

#[test]
fn manifest_negative_em_is_rejected() {
    let (c, r) = generic::read_manifest(&fixture("generic/bad_negative_em.jsonl"), &GenericOptions::default()).unwrap();
    assert!(c.is_empty());
    assert!(r[0].origin.contains("line 1 (lif-neg)"), "{}", r[0].origin);
    assert!(r[0].reason.contains("field em") && r[0].reason.contains("negative"), "{}", r[0].reason);
}

#[test]
fn manifest_unknown_element_in_cif_is_rejected_with_line() {
    let (_, r) = generic::read_manifest(&fixture("generic/bad_unknown_element.csv"), &GenericOptions::default()).unwrap();
    assert_eq!(r.len(), 1);
    assert!(r[0].reason.contains("field initial") && r[0].reason.contains("unknown element 'Xx' at line 51"), "{}", r[0].reason);
}

#[test]
fn manifest_unknown_column_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.csv");
    std::fs::write(&p, "id,ion,intial,final,em\nx,Li,a.cif,b.cif,0.1\n").unwrap();
    let (_, msg) = malformed_msg(generic::read_manifest(&p, &GenericOptions::default()));
    assert!(msg.contains("line 1") && msg.contains("'intial'"), "{msg}");
}

// ---------------------------------------------------------------- export

fn populated_store(path: &Path) -> Store {
    let store = Store::create(path).unwrap();
    let groups = store.class_groups().unwrap();
    let gopts = GenericOptions { class_groups: groups, ..GenericOptions::default() };
    let (c, r) = generic::read_manifest(&fixture("generic/manifest.csv"), &gopts).unwrap();
    import::commit(&store, c, r, &ImportOptions::default(), "manifest").unwrap();
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/nebBVSE_2records.xyz"), &LitrajOptions::neb_bvse()).unwrap();
    import::commit(&store, c, r, &ImportOptions::default(), "bvse").unwrap();
    let (c, r) = litraj::read_xyz_file(&fixture("litraj/nebDFT_trajectory.xyz"), &LitrajOptions::neb_dft()).unwrap();
    import::commit(&store, c, r, &ImportOptions::default(), "dft").unwrap();
    // An edit, so that records carry a revision.
    store.set_class_group("ROCKSALT", "ROCK-SALT", "test revision").unwrap();
    store
}

fn all_ids(store: &Store) -> Vec<String> {
    store.records().map(|r| r.unwrap().id).collect()
}

#[test]
fn jsonl_export_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let a = populated_store(&dir.path().join("a"));
    let ids = all_ids(&a);
    assert_eq!(ids.len(), 5);
    assert!(a.records().any(|r| !r.unwrap().revisions.is_empty()));
    let out = dir.path().join("export.jsonl");
    let mut f = std::fs::File::create(&out).unwrap();
    assert_eq!(export::export_jsonl(&a, ids.clone(), &mut f).unwrap(), 5);
    drop(f);

    let (c, r) = hopdb::import::jsonl::read_jsonl(&out).unwrap();
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(c.len(), 5);
    let b = Store::create(dir.path().join("b")).unwrap();
    let rep = import::commit(&b, c, r, &ImportOptions::default(), "from jsonl").unwrap();
    assert_eq!(rep.added.len(), 5);
    assert_eq!(all_ids(&b), ids);
    for id in &ids {
        let (ra, rb) = (a.record(id).unwrap(), b.record(id).unwrap());
        assert_eq!(ra, rb, "record {id} differs after the round trip");
        assert_eq!(a.structure(&ra.host).unwrap(), b.structure(&rb.host).unwrap());
    }
}

#[test]
fn jsonl_tampered_host_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let a = populated_store(&dir.path().join("a"));
    let mut buf = Vec::new();
    export::export_jsonl(&a, all_ids(&a).into_iter().take(1), &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let mut v = v;
    v["host"]["frac"][0][0] = serde_json::json!(0.123);
    let p = dir.path().join("t.jsonl");
    std::fs::write(&p, format!("{v}\nnot json\n")).unwrap();
    let (c, r) = hopdb::import::jsonl::read_jsonl(&p).unwrap();
    assert!(c.is_empty());
    assert_eq!(r.len(), 2);
    assert!(r[0].reason.contains("field host"), "{}", r[0].reason);
    assert!(r[1].origin.contains("line 2"), "{}", r[1].origin);
}

#[test]
fn csv_export_has_metadata_columns() {
    let dir = tempfile::tempdir().unwrap();
    let a = populated_store(&dir.path().join("a"));
    let mut buf = Vec::new();
    assert_eq!(export::export_csv(&a, all_ids(&a), &mut buf).unwrap(), 5);
    let mut rdr = csv::Reader::from_reader(buf.as_slice());
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(headers, export::CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 5);
    let lif = rows.iter().find(|r| &r[0] == "curated:lif-vac-1").unwrap();
    assert_eq!(&lif[2], "Li");
    assert_eq!(&lif[3], "0.62");
    assert_eq!(&lif[7], "ROCK-SALT");
    assert_eq!(&lif[12], "curated");
    assert_eq!(&lif[18], "63");
    assert!((lif[19].parse::<f64>().unwrap() - 2.849640).abs() < 1e-5);
}

#[test]
fn xyz_export_reads_back_as_litraj() {
    let dir = tempfile::tempdir().unwrap();
    let a = populated_store(&dir.path().join("a"));
    let ids = all_ids(&a);
    let out = dir.path().join("all.xyz");
    let mut f = std::fs::File::create(&out).unwrap();
    assert_eq!(export::export_xyz(&a, ids.clone(), &mut f).unwrap(), 5);
    drop(f);
    let (c, r) = litraj::read_xyz_file(&out, &LitrajOptions::neb_bvse()).unwrap();
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(c.len(), 5);
    for cand in &c {
        // Match by em and ion to the original.
        let orig = ids.iter().map(|id| a.record(id).unwrap()).find(|o| o.em == cand.record.em).unwrap();
        assert_eq!(orig.ion, cand.record.ion);
        assert_eq!(orig.host_natoms, cand.record.host_natoms);
        assert!((orig.hop_length - cand.record.hop_length).abs() < 1e-6);
        let host = a.structure(&orig.host).unwrap();
        assert!(import::same_hop(&orig, &host, &cand.record, &cand.host, 1e-4), "{}", orig.id);
    }
    // LiTraj records keep their ids through the XYZ export.
    assert!(c.iter().any(|x| x.record.id == "litraj-nebBVSE122k:mp-1138_101"));
}

#[test]
fn exact_json_reads_floats_bit_for_bit() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..2000 {
        let x: f64 = rng.gen::<f64>() * 10f64.powi(rng.gen_range(-8..8));
        let v = serde_json::json!({"x": x, "s": "a\"b\\c\u{e9}\u{1F600}\n", "a": [1, -2, 3.5e-7, null, true]});
        let text = serde_json::to_string(&v).unwrap();
        let back = hopdb::import::jsonl::parse_json_exact(&text).unwrap();
        assert_eq!(back["x"].as_f64().unwrap().to_bits(), x.to_bits(), "{text}");
        assert_eq!(back["s"], v["s"]);
        assert_eq!(back["a"], v["a"]);
    }
    assert!(hopdb::import::jsonl::parse_json_exact("{\"a\": 1,}").is_err());
    assert!(hopdb::import::jsonl::parse_json_exact("[1] x").is_err());
    assert_eq!(hopdb::import::jsonl::parse_json_exact("\"\\ud83d\\ude00\"").unwrap(), serde_json::json!("\u{1F600}"));
}

// ---------------------------------------------------------------- streamed (multi-batch) imports

/// Every key of the store as `hopdb stats --storage` counts it, and the records.
fn store_state(store: &Store) -> (Vec<(String, u64)>, Vec<String>) {
    let usage = store.keyspace_usage().unwrap().into_iter().map(|u| (format!("{:?}", u.keyspace), u.keys)).collect();
    let ids = store.records().map(|r| r.unwrap().id).collect();
    (usage, ids)
}

#[test]
fn a_multi_batch_import_deduplicates_exactly_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let cands = hopdb::synthetic::bvse_like_corpus(60, 11);
    // The same 60 hops again under other ids, and 5 of them with another barrier.
    let mut again: Vec<Candidate> = cands.clone();
    for (k, c) in again.iter_mut().enumerate() {
        c.record.id = format!("{}-again", c.record.id);
        if k % 12 == 0 {
            c.record.em += 0.1;
        }
    }
    let mut all = cands.clone();
    all.extend(again);
    let opts = ImportOptions { batch_records: 7, ..Default::default() };
    let rep = import::commit(&store, all.clone(), vec![], &opts, "two copies").unwrap();
    assert_eq!(rep.added.len(), 65, "60 hops and the 5 other barriers");
    assert_eq!(rep.duplicates.len(), 55, "the copies in later batches are found in the store");
    let conflicts = store.records().map(|r| r.unwrap()).filter(|r| r.flags.iter().any(|f| f == import::CONFLICTING_DUPLICATE_FLAG)).count();
    assert_eq!(conflicts, 10, "both records of each conflicting pair are flagged");
    let log = store.audit_log().unwrap();
    assert_eq!(log.iter().filter(|e| e.op == "import").count(), 1, "one write, published once");
    assert_eq!(log.last().unwrap().records, 70, "65 inserts and 5 flag updates of earlier batches' records");
    // The same import as one batch gives the same store.
    let dir1 = tempfile::tempdir().unwrap();
    let one = Store::create(dir1.path().join("s")).unwrap();
    let rep1 = import::commit(&one, all, vec![], &ImportOptions { batch_records: 1000, ..Default::default() }, "one batch").unwrap();
    assert_eq!((rep1.added.len(), rep1.duplicates.len()), (65, 55));
    let recs = |s: &Store| s.records().map(|r| { let mut r = r.unwrap(); r.revisions.clear(); r }).collect::<Vec<_>>();
    assert_eq!(recs(&store), recs(&one));
    // Re-importing adds nothing.
    let again = import::commit(&store, cands, vec![], &opts, "again").unwrap();
    assert_eq!((again.added.len(), again.duplicates.len()), (0, 60));
}

#[test]
fn a_multi_batch_import_with_a_late_invalid_record_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    import::commit(&store, hopdb::synthetic::bvse_like_corpus(5, 1), vec![], &ImportOptions::default(), "first").unwrap();
    let before = store_state(&store);
    let mut cands = hopdb::synthetic::bvse_like_corpus(50, 2);
    for c in &mut cands {
        c.record.id = format!("second-{}", c.record.id);
    }
    cands[41].record.em = f64::NAN;
    cands[45].record.em = -1.0;
    let opts = ImportOptions { batch_records: 10, ..Default::default() };
    match import::commit(&store, cands.clone(), vec![], &opts, "bad") {
        Err(ImportError::Invalid(rej)) => assert_eq!(rej.len(), 2, "every invalid record is reported: {rej:?}"),
        other => panic!("expected Invalid, got {:?}", other.map(|r| r.added.len())),
    }
    assert_eq!(store_state(&store), before, "four batches were written and rolled back");
    // A dry run of many batches reports what the import would do, and writes nothing.
    let dry = import::commit(&store, cands.clone(), vec![], &ImportOptions { dry_run: true, skip_invalid: true, batch_records: 10, ..Default::default() }, "dry").unwrap();
    assert_eq!((dry.added.len(), dry.rejected.len()), (48, 2));
    assert_eq!(store_state(&store), before);
    let real = import::commit(&store, cands, vec![], &ImportOptions { skip_invalid: true, batch_records: 10, ..Default::default() }, "real").unwrap();
    assert_eq!(real.added, dry.added);
    assert_eq!(store.count(), 53);
}

#[test]
fn a_reader_error_after_some_batches_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s")).unwrap();
    let before = store_state(&store);
    let cands = hopdb::synthetic::bvse_like_corpus(30, 4);
    let items = cands
        .into_iter()
        .map(|c| Ok(Ok(c)))
        .chain(std::iter::once(Err(ImportError::Malformed { file: "x.xyz".into(), msg: "line 9: truncated".into() })));
    let err = import::commit_stream(&store, items, &ImportOptions { batch_records: 4, ..Default::default() }, "broken").unwrap_err();
    assert!(err.to_string().contains("line 9: truncated"), "{err}");
    assert_eq!(store_state(&store), before);
}

#[test]
fn litraj_streamed_import_equals_the_collected_read() {
    let file = fixture("litraj/nebBVSE_2records.xyz");
    let (c, r) = litraj::read_xyz_file(&file, &LitrajOptions::neb_bvse()).unwrap();
    let streamed: Vec<_> = litraj::stream_xyz_file(&file, &LitrajOptions::neb_bvse()).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(streamed.len(), c.len() + r.len());
    let ids: Vec<String> = streamed.iter().filter_map(|x| x.as_ref().ok()).map(|c| c.record.id.clone()).collect();
    assert_eq!(ids, c.iter().map(|c| c.record.id.clone()).collect::<Vec<_>>());
}
