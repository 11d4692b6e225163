//! Model fitting benchmarks (filled in below as the model module lands).
fn main() {}
