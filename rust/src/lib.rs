//! archsweep: exact parameter counts of neural-network layers from
//! closed-form formulas, evaluated over broadcast grids.
//!
//! The crate is plain Rust (`cargo test` needs no interpreter); the Python
//! binding lives behind the `python` feature.

pub mod emit;
pub mod error;
pub mod eval;
pub mod formula;
pub mod grid;
pub mod kernels;
pub mod mesh;
mod plans;
pub mod poly;
mod simd;
pub mod space;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use formula::{params, params_checked, Config, Convention, Layer};
pub use grid::{Field, Grid};
pub use kernels::{chunk_counts, count_one, evaluate, sweep_count, sweep_fill, Column};
pub use mesh::Mesh;
pub use poly::{Factor, Spec, Term};
