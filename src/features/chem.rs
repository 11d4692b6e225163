//! Host, ion and composition descriptors (see the module docs of [`crate::features`]).

use crate::element::Element;
use crate::structure::Structure;
use std::collections::BTreeMap;

/// Nominal charge of an element (e): the first listed common oxidation state; for anion
/// formers ([`Element::is_anion`]) the first negative one; 0 when the table lists none.
pub fn nominal_charge(e: Element) -> f64 {
    let states = e.oxidation_states();
    let q = if e.is_anion() { states.iter().find(|&&s| s < 0).or(states.first()) } else { states.first() };
    q.map_or(0.0, |&s| s as f64)
}

/// Radius used by the descriptors (A): the Shannon ionic radius, or the covalent radius for
/// elements without one.
pub fn ionic_radius(e: Element) -> f64 {
    e.ionic_radius().unwrap_or_else(|| e.covalent_radius())
}

/// g/cm^3 per (g/mol / A^3).
const DENSITY_UNIT: f64 = 1.660_539_066_60;

const ANION_ONE_HOT: [&str; 6] = ["O", "S", "Se", "F", "N", "Cl"];
const ION_ONE_HOT: [&str; 9] = ["Li", "Na", "K", "Mg", "Ca", "Zn", "Al", "Rb", "Sr"];

/// Property names (for `comp_{p}_{s}`) and their value per element.
const PROPS: [&str; 7] = ["en", "rcov", "rion", "mass", "period", "group", "ox"];

fn prop(e: Element, k: usize) -> Option<f64> {
    match k {
        0 => e.electronegativity(),
        1 => Some(e.covalent_radius()),
        2 => Some(ionic_radius(e)),
        3 => Some(e.mass()),
        4 => Some(e.period() as f64),
        5 => Some(e.group() as f64),
        _ => Some(nominal_charge(e)),
    }
}

/// Fraction-weighted mean, min, max, range, mean absolute deviation over the elements that
/// have a value (weights renormalised); zeros when none has.
fn stats(items: &[(f64, Option<f64>)]) -> [f64; 5] {
    let have: Vec<(f64, f64)> = items.iter().filter_map(|&(w, v)| v.map(|v| (w, v))).collect();
    let wsum: f64 = have.iter().map(|x| x.0).sum();
    if have.is_empty() || wsum <= 0.0 {
        return [0.0; 5];
    }
    let mean = have.iter().map(|(w, v)| w * v).sum::<f64>() / wsum;
    let min = have.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let max = have.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    let mad = have.iter().map(|(w, v)| w * (v - mean).abs()).sum::<f64>() / wsum;
    [mean, min, max, max - min, mad]
}

/// Host, ion and composition descriptors of a host with mobile ion `ion` (computed once per
/// host and ion), as (name, value) in canonical order.
pub(crate) fn host_descriptors(host: &Structure, ion: Element) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::with_capacity(80);
    let mut push = |n: &str, v: f64| out.push((n.to_string(), v));
    let n_host = host.len();
    let n_tot = (n_host + 1) as f64;
    let volume = host.lattice.volume();
    let mut counts: BTreeMap<Element, usize> = BTreeMap::new();
    for e in &host.species {
        *counts.entry(*e).or_default() += 1;
    }
    *counts.entry(ion).or_default() += 1;
    let n_of = |pred: &dyn Fn(Element) -> bool| counts.iter().filter(|(e, _)| pred(**e)).map(|(_, n)| *n).sum::<usize>();
    let n_anion = host.species.iter().filter(|e| e.is_anion() && **e != ion).count();
    let n_same = host.species.iter().filter(|e| **e == ion).count();
    let n_tm = n_of(&|e: Element| e.is_transition_metal());
    let mass: f64 = counts.iter().map(|(e, n)| e.mass() * *n as f64).sum();
    let packed: f64 = counts.iter().map(|(e, n)| 4.0 / 3.0 * std::f64::consts::PI * ionic_radius(*e).powi(3) * *n as f64).sum();
    let anions: Vec<(Element, usize)> = counts.iter().filter(|(e, _)| e.is_anion() && **e != ion).map(|(e, n)| (*e, *n)).collect();
    // Most numerous anion; ties go to the lighter element (BTreeMap order, strict >).
    let main_anion = anions.iter().fold(None::<(Element, usize)>, |best, &(e, n)| match best {
        Some((_, bn)) if bn >= n => best,
        _ => Some((e, n)),
    });

    push("n_atoms", n_host as f64);
    push("n_elements", counts.len() as f64);
    push("vol_per_atom", volume / n_tot);
    push("vol_per_anion", if n_anion > 0 { volume / n_anion as f64 } else { volume });
    push("density", mass / volume * DENSITY_UNIT);
    push("ion_fraction", (n_same + 1) as f64 / n_tot);
    push("anion_fraction", n_anion as f64 / n_tot);
    push("tm_fraction", n_tm as f64 / n_tot);
    push("n_anion_species", anions.len() as f64);
    push("packing_fraction", packed / volume);
    push("anion_en", main_anion.and_then(|(e, _)| e.electronegativity()).unwrap_or(0.0));
    let main_sym = main_anion.map(|(e, _)| e.symbol());
    for s in ANION_ONE_HOT {
        push(&format!("anion_is_{s}"), (main_sym == Some(s)) as u8 as f64);
    }
    push("anion_is_other", main_sym.is_none_or(|m| !ANION_ONE_HOT.contains(&m)) as u8 as f64);

    push("ion_z", ion.z() as f64);
    push("ion_charge", nominal_charge(ion));
    push("ion_radius", ionic_radius(ion));
    push("ion_mass", ion.mass());
    push("ion_en", ion.electronegativity().unwrap_or(0.0));
    for s in ION_ONE_HOT {
        push(&format!("ion_is_{s}"), (ion.symbol() == s) as u8 as f64);
    }

    for (k, p) in PROPS.iter().enumerate() {
        let items: Vec<(f64, Option<f64>)> = counts.iter().map(|(e, n)| (*n as f64 / n_tot, prop(*e, k))).collect();
        let st = stats(&items);
        for (s, v) in ["mean", "min", "max", "range", "mad"].iter().zip(st) {
            push(&format!("comp_{p}_{s}"), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_charges_and_stats() {
        let el = |s: &str| Element::from_symbol(s).unwrap();
        assert_eq!(nominal_charge(el("O")), -2.0);
        assert_eq!(nominal_charge(el("N")), -3.0);
        assert_eq!(nominal_charge(el("S")), -2.0);
        assert_eq!(nominal_charge(el("Li")), 1.0);
        assert_eq!(nominal_charge(el("P")), 5.0);
        assert_eq!(nominal_charge(el("Ar")), 0.0);
        let s = stats(&[(0.5, Some(1.0)), (0.25, Some(3.0)), (0.25, None)]);
        assert!((s[0] - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!((s[1], s[2], s[3]), (1.0, 3.0, 2.0));
        assert!((s[4] - (0.5 * 2.0 / 3.0 + 0.25 * 4.0 / 3.0) / 0.75).abs() < 1e-12);
        assert_eq!(stats(&[(1.0, None)]), [0.0; 5]);
    }
}
