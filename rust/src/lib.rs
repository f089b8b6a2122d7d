//! archsweep: exact counts of neural-network layers from closed-form
//! formulas, evaluated over broadcast grids. The kernel knows no layer: it
//! evaluates polynomials of factors (`poly`) over an open mesh (`mesh`),
//! planned row by row (`plans`, `eval`, `emit`); the layer kinds live in
//! the Python registry, which compiles each kind into that form.
//!
//! The crate is plain Rust (`cargo test` needs no interpreter); the Python
//! binding lives behind the `python` feature.

pub mod emit;
pub mod error;
pub mod eval;
pub mod mesh;
mod plans;
pub mod poly;
mod simd;
pub mod space;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use mesh::Mesh;
pub use poly::{Factor, Spec, Term};
