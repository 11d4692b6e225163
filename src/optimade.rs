//! OPTIMADE's composition vocabulary, computed from a hop's cell composition (the host plus
//! the mobile ion at one site, as written in a record's `formula`, e.g. `Li17 O36 Co18`):
//! `chemical_formula_reduced` (elements in alphabetical order, counts divided by their
//! greatest common divisor, a count of 1 omitted), `chemical_formula_anonymous` (the reduced
//! counts in decreasing order named `A`, `B`, ..., `Z`, `Aa`, `Ba`, ...), and
//! `elements_ratios` (each element's share of the sites).

/// The `(symbol, count)` pairs of a composition written as space-separated `SymbolCount`
/// tokens (`"Li17 O36 Co18"`; a token without a count counts 1), in written order. `None`
/// for an empty or malformed text.
pub fn parse_composition(formula: &str) -> Option<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for tok in formula.split_whitespace() {
        let split = tok.find(|c: char| c.is_ascii_digit()).unwrap_or(tok.len());
        let (sym, num) = tok.split_at(split);
        let valid_symbol = sym.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && sym.chars().skip(1).all(|c| c.is_ascii_lowercase());
        let n = if num.is_empty() { 1 } else { num.parse().ok()? };
        if !valid_symbol || n == 0 {
            return None;
        }
        out.push((sym.to_string(), n));
    }
    (!out.is_empty()).then_some(out)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The counts divided by their greatest common divisor.
fn reduce(counts: &[(String, u64)]) -> Vec<(String, u64)> {
    let g = counts.iter().fold(0, |g, (_, n)| gcd(g, *n)).max(1);
    counts.iter().map(|(s, n)| (s.clone(), n / g)).collect()
}

fn term(name: &str, n: u64) -> String {
    if n == 1 {
        name.to_string()
    } else {
        format!("{name}{n}")
    }
}

/// OPTIMADE's `chemical_formula_reduced`: `"Co18Li17O36"`, `"LiO2Co"` -> `"CoLiO2"`.
pub fn formula_reduced(counts: &[(String, u64)]) -> String {
    let mut r = reduce(counts);
    r.sort_by(|a, b| a.0.cmp(&b.0));
    r.iter().map(|(s, n)| term(s, *n)).collect()
}

/// The `i`-th anonymous symbol: `A` ... `Z`, then `Aa` ... `Za`, `Ab` ... (OPTIMADE).
pub fn anonymous_symbol(i: usize) -> String {
    let upper = (b'A' + (i % 26) as u8) as char;
    let mut s = upper.to_string();
    let mut rest = i / 26;
    while rest > 0 {
        rest -= 1;
        s.push((b'a' + (rest % 26) as u8) as char);
        rest /= 26;
    }
    s
}

/// OPTIMADE's `chemical_formula_anonymous`: the reduced counts, largest first, named
/// `A`, `B`, ...: `Li17 O36 Co18` -> `"A36B18C17"`, `Li2 O1` -> `"A2B"`.
pub fn formula_anonymous(counts: &[(String, u64)]) -> String {
    let mut n: Vec<u64> = reduce(counts).into_iter().map(|(_, n)| n).collect();
    n.sort_by(|a, b| b.cmp(a));
    n.iter().enumerate().map(|(i, n)| term(&anonymous_symbol(i), *n)).collect()
}

/// The share of the sites of each element of `elements` (in that order; 0 for an element
/// not in `counts`).
pub fn elements_ratios(counts: &[(String, u64)], elements: &[&str]) -> Vec<f64> {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    elements
        .iter()
        .map(|e| counts.iter().find(|(s, _)| s == e).map_or(0.0, |(_, n)| *n as f64 / total as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimade_examples() {
        let c = parse_composition("Li17 O36 Co18").unwrap();
        assert_eq!(formula_reduced(&c), "Co18Li17O36");
        assert_eq!(formula_anonymous(&c), "A36B18C17");
        let w = parse_composition("H4 O2").unwrap();
        assert_eq!(formula_reduced(&w), "H2O");
        assert_eq!(formula_anonymous(&w), "A2B");
        let n = parse_composition("Na2 Cl2").unwrap();
        assert_eq!((formula_reduced(&n), formula_anonymous(&n)), ("ClNa".to_string(), "AB".to_string()));
        let r = elements_ratios(&c, &["Li", "O", "Co"]);
        assert_eq!(r, vec![17.0 / 71.0, 36.0 / 71.0, 18.0 / 71.0]);
        assert_eq!([0, 25, 26, 27, 51, 52].map(anonymous_symbol), ["A", "Z", "Aa", "Ba", "Za", "Ab"]);
        assert!(parse_composition("").is_none());
        assert!(parse_composition("li2 O").is_none());
        assert_eq!(parse_composition("Li O2").unwrap(), vec![("Li".to_string(), 1), ("O".to_string(), 2)]);
    }
}
