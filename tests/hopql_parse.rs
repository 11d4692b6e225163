use hopdb::query::*;
#[test]
fn show_errors() {
    for src in [
        "SELECT * FROM hops WHERE em 0.3",
        "SELECT * FROM hops WHERE em < ",
        "SELECT * FROM hops WHERE em < 0.3 AND emm > 2",
        "SELECT FROM hops",
        "SELECT * FROM hops xyz",
        "",
        "SELEC * FROM hops",
        "SELECT * FROM hops WHERE (em < 1",
        "SELECT * FROM hops WHERE ion = 'Li",
        "SELECT * FROM hops WHERE em NOT 3",
        "SELECT * FROM hops WHERE em = 'abc'",
        "SELECT AVG(ion) FROM hops",
        "SELECT AVG( FROM hops",
        "SELECT * FROM hops WHERE elements HAS 'Li', 'O'",
        "SELECT * FROM hops WHERE elements HAS 'li'",
        "SELECT * FROM hops WHERE ion HAS 'Li'",
        "SELECT * FROM hops WHERE em LIKE 'x%'",
        "SELECT * FROM hops WHERE em = NULL",
        "SELECT ion, COUNT(*) FROM hops",
        "SELECT * FROM hops ORDER BY 99",
        "SELECT * FROM hop",
        "SELECT * FROM hops WHERE\n  em < 1 AND\n\tion = \"Li\"",
        "SELECT * FROM hops LIMIT 99999999999999999999999",
        "SELECT * FROM hops WHERE em < 1e999",
        "SELECT * FROM hops; SELECT",
        "SELECT * FROM hops WHERE converged < TRUE",
        "SELECT * FROM hops WHERE elements = 'Li'",
        "SELECT em AS select FROM hops",
        "SELECT * FROM hops WHERE ion IN ()",
        "SELECT * FROM hops ORDER BY foo",
        "SELECT * FROM hops WHERE em > 1 ORDER",
    ] {
        match parse_statement(src) {
            Ok(s) => println!("OK {s}\n"),
            Err(e) => println!("{e}\n[{:?}]\n", e.kind),
        }
    }
}
