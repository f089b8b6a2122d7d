//! The binding: convert inputs, release the GIL, compute, convert back.
//! Validation and messages for users live in the Python layer; this module
//! only moves arrays and maps kernel errors.

use numpy::ndarray::ArrayViewD;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use std::ops::Range;

use rayon::prelude::*;

use crate::emit;
use crate::eval::{self, Budget};
use crate::mesh::{self, Mesh};
use crate::poly::{Factor, Spec, Term};

mod space;

create_exception!(
    _core,
    KernelError,
    PyException,
    "A kernel refusal: args are (kind, point index or None, message, the factor, quantity or operand at fault or None)."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        KernelError::new_err((e.kind(), e.index(), e.to_string(), e.subject()))
    }
}

/// Points per stretch of work between checks for Ctrl-C: about 10–50 ms.
const SLAB: usize = mesh::CHUNK * 128;

/// Runs `work` without the GIL, then lets a pending Ctrl-C surface before
/// the result does, and maps kernel errors to `KernelError`.
fn detached<T: Send, E: Into<PyErr> + Send>(
    py: Python<'_>,
    work: impl FnOnce() -> std::result::Result<T, E> + Send,
) -> PyResult<T> {
    let result = py.detach(work);
    py.check_signals()?;
    result.map_err(Into::into)
}

/// `range` cut into slabs, so a long kernel stops within one slab of Ctrl-C.
fn slabs(range: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    (range.start..range.end).step_by(SLAB).map(move |s| s..(s + SLAB).min(range.end))
}

/// A factor as the binding receives it: `(kind, i)` or `(kind, i, k or c)`.
#[derive(FromPyObject)]
enum FactorArg {
    Pair(String, i64),
    Triple(String, i64, i64),
}

/// A term as the binding receives it: `(coefficient operand, [(factor, power), ...])`.
type TermArg = (i64, Vec<(i64, i64)>);

/// The spec from its Python form: every factor one of the four kinds, every
/// index at least 0, every power a u32 (then `Spec::new` checks the rest).
fn spec(n_operands: usize, factors: Vec<FactorArg>, quantities: Vec<Vec<TermArg>>) -> Result<Spec, Error> {
    let index = |v: i64| usize::try_from(v).map_err(|_| Error::Spec(format!("index {v} is negative")));
    let factors = factors
        .into_iter()
        .enumerate()
        .map(|(f, arg)| {
            Ok(match arg {
                FactorArg::Pair(kind, i) if kind == "axis" => Factor::Axis(index(i)?),
                FactorArg::Triple(kind, i, k) if kind == "quotient" => Factor::Quotient(index(i)?, index(k)?),
                FactorArg::Triple(kind, i, c) if kind == "offset" => Factor::Offset(index(i)?, c),
                FactorArg::Triple(kind, i, k) if kind == "less" => Factor::Less(index(i)?, index(k)?),
                _ => {
                    return Err(Error::Spec(format!(
                    "factor {f} is none of (\"axis\", i), (\"quotient\", i, k), (\"offset\", i, c), (\"less\", i, k)"
                )))
                }
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let quantities = quantities
        .into_iter()
        .map(|terms| {
            terms
                .into_iter()
                .map(|(coef, powers)| {
                    let powers = powers
                        .into_iter()
                        .map(|(f, p)| {
                            let power = u32::try_from(p).map_err(|_| Error::Spec(format!("power {p} is not 1 to 3")));
                            Ok((index(f)?, power?))
                        })
                        .collect::<Result<_, Error>>()?;
                    Ok(Term { coef: index(coef)?, powers })
                })
                .collect::<Result<Vec<_>, Error>>()
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Spec::new(n_operands, factors, quantities)
}

fn views<'a>(operands: &'a [PyReadonlyArrayDyn<'_, i64>]) -> Vec<ArrayViewD<'a, i64>> {
    operands.iter().map(|op| op.as_array()).collect()
}

/// The points `start..end` (default: all) of the mesh, checked with the budget.
fn points(spec: &Spec, mesh: &Mesh, budget: Budget, start: usize, end: Option<usize>) -> Result<Range<usize>, Error> {
    let range = start..end.unwrap_or(mesh.len());
    eval::check(spec, mesh, &range, budget)?;
    Ok(range)
}

/// Writes every quantity at every point of `shape` into `outs[q]` (C-contiguous int64 arrays of `shape`).
/// `floors[k]`: the least value operand `k` may hold (a size's minimum the caller left to this pass).
/// `mapped`: `outs` are a caller's buffers, already in memory (large ones are then streamed to).
#[pyfunction]
#[pyo3(signature = (shape, operands, factors, quantities, outs, floors=None, mapped=false))]
#[allow(clippy::too_many_arguments)]
fn poly_count(
    py: Python<'_>,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    factors: Vec<FactorArg>,
    quantities: Vec<Vec<TermArg>>,
    mut outs: Vec<PyReadwriteArrayDyn<'_, i64>>,
    floors: Option<Vec<i64>>,
    mapped: bool,
) -> PyResult<()> {
    let spec = spec(operands.len(), factors, quantities)?;
    let bad = outs.len() != spec.quantities.len() || outs.iter().any(|o| o.shape() != shape.as_slice());
    let slices: Vec<Option<&mut [i64]>> = outs.iter_mut().map(|o| o.as_slice_mut().ok()).collect();
    if bad || slices.iter().any(Option::is_none) {
        let n = spec.quantities.len();
        return Err(Error::Shape(format!("outs must be {n} C-contiguous int64 arrays of shape {shape:?}")).into());
    }
    let mut slices: Vec<&mut [i64]> = slices.into_iter().flatten().collect();
    let views = views(&operands);
    let floors = floors.unwrap_or_default();
    let stream = mapped && eval::streams(shape.iter().product::<usize>() * spec.quantities.len());
    if eval::by_rows(&shape, &views) && by_rows(py, &spec, &shape, &views, &floors, &mut slices, stream)? {
        return Ok(());
    }
    let mesh = detached(py, || Mesh::new(&shape, &views, &spec.sized, &floors))?;
    for slab in slabs(0..mesh.len()) {
        let pieces = slices.iter_mut().map(|s| &mut s[slab.clone()]).collect();
        detached(py, || eval::evaluate(&spec, &mesh, slab, pieces, stream))?;
    }
    Ok(())
}

/// `eval::evaluate_rows` a slab of whole rows at a time (Ctrl-C is checked between slabs): whether
/// every block was evaluated (else the caller evaluates the whole mesh, to report its refusal).
fn by_rows(
    py: Python<'_>,
    spec: &Spec,
    shape: &[usize],
    views: &[ArrayViewD<'_, i64>],
    floors: &[i64],
    slices: &mut [&mut [i64]],
    stream: bool,
) -> PyResult<bool> {
    let inner: usize = shape[1..].iter().product();
    let rows = (SLAB / inner.max(1)).max(1);
    for first in (0..shape[0]).step_by(rows) {
        let these = first..(first + rows).min(shape[0]);
        let points = these.start * inner..these.end * inner;
        let pieces = slices.iter_mut().map(|s| &mut s[points.clone()]).collect();
        let done = detached(py, || Ok::<_, Error>(eval::evaluate_rows(spec, shape, views, floors, these, pieces, stream)))?;
        if done.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Number of rows a sweep keeps among points `start..end` (default: all):
/// valid points and, with `budget = [(quantity, limit), ...]`, those within every limit.
#[pyfunction]
#[pyo3(signature = (shape, operands, factors, quantities, budget=None, start=0, end=None))]
#[allow(clippy::too_many_arguments)]
fn poly_sweep_count(
    py: Python<'_>,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    factors: Vec<FactorArg>,
    quantities: Vec<Vec<TermArg>>,
    budget: Option<Vec<(usize, i64)>>,
    start: usize,
    end: Option<usize>,
) -> PyResult<usize> {
    let spec = spec(operands.len(), factors, quantities)?;
    let budget = Budget::new(&budget.unwrap_or_default())?;
    let views = views(&operands);
    let mesh = detached(py, || Mesh::new(&shape, &views, &spec.sized, &[]))?;
    let mut rows = 0;
    for slab in slabs(points(&spec, &mesh, budget, start, end)?) {
        rows += detached(py, || eval::sweep_count(&spec, &mesh, budget, slab))?;
    }
    Ok(rows)
}

/// The rows a sweep keeps among points `start..end` (default: all): one
/// int64 array per quantity, and for each `(operand, bytes per value)` of
/// `columns` the operand's values as a uint8 array of that many bytes a row.
/// Counts the rows, allocates the outputs through numpy (which asks for huge
/// pages), then fills them, a slab at a time.
#[pyfunction]
#[pyo3(signature = (shape, operands, factors, quantities, budget, columns, start=0, end=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn poly_sweep_fill<'py>(
    py: Python<'py>,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'py, i64>>,
    factors: Vec<FactorArg>,
    quantities: Vec<Vec<TermArg>>,
    budget: Option<Vec<(usize, i64)>>,
    columns: Vec<(usize, usize)>,
    start: usize,
    end: Option<usize>,
) -> PyResult<(Vec<Bound<'py, PyArray1<i64>>>, Vec<Bound<'py, PyArray1<u8>>>)> {
    let spec = spec(operands.len(), factors, quantities)?;
    let budget = Budget::new(&budget.unwrap_or_default())?;
    for &(operand, width) in &columns {
        eval::check_column(operand, width, operands.len())?;
    }
    let views = views(&operands);
    let mesh = detached(py, || Mesh::new(&shape, &views, &spec.sized, &[]))?;
    let range = points(&spec, &mesh, budget, start, end)?;
    let mut counts = Vec::new();
    for slab in slabs(range.clone()) {
        counts.push(detached(py, || eval::chunk_counts(&spec, &mesh, budget, slab))?);
    }
    let rows: usize = counts.iter().flatten().sum();
    // SAFETY (both): uninitialised arrays, every element written below before Python sees them.
    let values: Vec<_> = spec.quantities.iter().map(|_| unsafe { PyArray1::<i64>::new(py, [rows], false) }).collect();
    let arrays: Vec<_> =
        columns.iter().map(|&(_, width)| unsafe { PyArray1::<u8>::new(py, [rows * width], false) }).collect();
    {
        let contiguous = |_| PyValueError::new_err("a new array is not contiguous");
        let mut value_guards: Vec<_> = values.iter().map(|a| a.readwrite()).collect();
        let mut rest: Vec<&mut [i64]> =
            value_guards.iter_mut().map(|g| g.as_slice_mut().map_err(contiguous)).collect::<PyResult<_>>()?;
        let mut column_guards: Vec<_> = arrays.iter().map(|a| a.readwrite()).collect();
        let mut cols = Vec::with_capacity(columns.len());
        for (guard, &(operand, width)) in column_guards.iter_mut().zip(&columns) {
            cols.push(emit::Column { operand, width, bytes: guard.as_slice_mut().map_err(contiguous)? });
        }
        for (slab, counts) in slabs(range).zip(&counts) {
            let n: usize = counts.iter().sum();
            let heads: Vec<&mut [i64]> = rest
                .iter_mut()
                .map(|r| {
                    let (head, tail) = std::mem::take(r).split_at_mut(n);
                    *r = tail;
                    head
                })
                .collect();
            let slab_cols: Vec<emit::Column> = cols.iter_mut().map(|c| c.split_off_rows(n)).collect();
            detached(py, || eval::sweep_fill(&spec, &mesh, budget, slab, counts, heads, slab_cols))?;
        }
    }
    Ok((values, arrays))
}

/// Writes `value` into every element of `out` on `threads` threads: the
/// benchmark's measure of how fast this machine can produce an output.
#[pyfunction]
fn fill(py: Python<'_>, mut out: PyReadwriteArrayDyn<'_, i64>, value: i64, threads: usize) -> PyResult<()> {
    let out = out.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
    let per_thread = out.len().div_ceil(threads.max(1)).max(1);
    py.detach(|| out.par_chunks_mut(per_thread).for_each(|c| c.fill(value)));
    Ok(())
}

/// Copies `src` into `out` on `threads` threads: the benchmark's measure of
/// how fast this machine reads an input and writes an output of its size.
#[pyfunction]
fn copy(
    py: Python<'_>,
    src: PyReadonlyArrayDyn<'_, i64>,
    mut out: PyReadwriteArrayDyn<'_, i64>,
    threads: usize,
) -> PyResult<()> {
    let src = src.as_slice().map_err(|_| PyValueError::new_err("src must be C-contiguous"))?;
    let out = out.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
    if src.len() != out.len() {
        return Err(PyValueError::new_err("src and out must have the same size"));
    }
    let per_thread = out.len().div_ceil(threads.max(1)).max(1);
    py.detach(|| {
        out.par_chunks_mut(per_thread).zip(src.par_chunks(per_thread)).for_each(|(o, s)| o.copy_from_slice(s))
    });
    Ok(())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add_function(wrap_pyfunction!(copy, m)?)?;
    m.add_function(wrap_pyfunction!(poly_count, m)?)?;
    m.add_function(wrap_pyfunction!(poly_sweep_count, m)?)?;
    m.add_function(wrap_pyfunction!(poly_sweep_fill, m)?)?;
    m.add("KernelError", m.py().get_type::<KernelError>())?;
    m.add("CHUNK", mesh::CHUNK)?;
    m.add("PARALLEL_MIN", mesh::PARALLEL_MIN)?;
    space::register(m)?;
    Ok(())
}
