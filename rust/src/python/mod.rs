//! The binding: convert inputs, release the GIL, compute, convert back.
//! Validation and messages for users live in the Python layer; this module
//! only moves arrays and maps kernel errors.

use numpy::ndarray::ArrayViewD;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::formula::Layer;
use std::ops::Range;

use rayon::prelude::*;

use crate::grid::{self, Field, Grid, N_FIELDS};
use crate::kernels::{self, Column};

mod space;

create_exception!(_core, KernelError, PyException, "A kernel refusal: args are (kind, grid index or None, message).");

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        KernelError::new_err((e.kind(), e.index(), e.to_string()))
    }
}

/// Points per stretch of work between checks for Ctrl-C: about 10–50 ms.
const SLAB: usize = grid::CHUNK * 128;

/// Runs `work` without the GIL, then lets a pending Ctrl-C surface before
/// the result does, and maps kernel errors to `KernelError`.
fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> crate::Result<T> + Send) -> PyResult<T> {
    let result = py.detach(work);
    py.check_signals()?;
    Ok(result?)
}

/// `range` cut into slabs, so a long kernel stops within one slab of Ctrl-C.
fn slabs(range: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    (range.start..range.end).step_by(SLAB).map(move |s| s..(s + SLAB).min(range.end))
}

fn layer(code: u8) -> PyResult<Layer> {
    Layer::from_code(code).ok_or_else(|| PyValueError::new_err(format!("unknown layer code {code}")))
}

fn borrow<'a, 'py>(operands: &'a [PyReadonlyArrayDyn<'py, i64>]) -> PyResult<[ArrayViewD<'a, i64>; N_FIELDS]> {
    if operands.len() != N_FIELDS {
        return Err(PyValueError::new_err(format!("expected {N_FIELDS} operands, got {}", operands.len())));
    }
    Ok(std::array::from_fn(|k| operands[k].as_array()))
}

fn grid_range(grid: &Grid, start: usize, end: Option<usize>) -> PyResult<Range<usize>> {
    let end = end.unwrap_or(grid.len());
    if start > end || end > grid.len() {
        return Err(PyValueError::new_err(format!("points {start}..{end} are not within the grid's {}", grid.len())));
    }
    Ok(start..end)
}

/// Writes the count at every point of the operands' broadcast into `out`
/// (C-contiguous int64, of the broadcast shape).
#[pyfunction]
fn count(
    py: Python<'_>,
    layer_code: u8,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    mut out: PyReadwriteArrayDyn<'_, i64>,
) -> PyResult<()> {
    let layer = layer(layer_code)?;
    let shape = out.shape().to_vec();
    let views = borrow(&operands)?;
    let out = out.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
    let grid = detached(py, || Grid::new(&shape, &views))?;
    for slab in slabs(0..grid.len()) {
        let piece = &mut out[slab.clone()];
        detached(py, || kernels::evaluate(layer, &grid, slab, piece))?;
    }
    Ok(())
}

/// The count of one configuration, its fields given as integers in
/// `Field` order: the fast path for scalar calls.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn count_one(
    layer_code: u8,
    n_features: i64,
    n_units: i64,
    kernel_d: i64,
    kernel_h: i64,
    kernel_w: i64,
    bias: bool,
    bidirectional: bool,
    convention: i64,
    reset_after: bool,
    groups: i64,
) -> PyResult<i64> {
    let values = [
        n_features,
        n_units,
        kernel_d,
        kernel_h,
        kernel_w,
        bias as i64,
        bidirectional as i64,
        convention,
        reset_after as i64,
        groups,
    ];
    Ok(kernels::count_one(layer(layer_code)?, &values)?)
}

/// Number of rows a sweep over the operands' broadcast to `shape` keeps
/// among grid points `start..end` (default: all).
#[pyfunction]
#[pyo3(signature = (layer_code, shape, operands, budget=None, start=0, end=None))]
fn sweep_count(
    py: Python<'_>,
    layer_code: u8,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    budget: Option<i64>,
    start: usize,
    end: Option<usize>,
) -> PyResult<usize> {
    let layer = layer(layer_code)?;
    let views = borrow(&operands)?;
    let grid = detached(py, || Grid::new(&shape, &views))?;
    let mut rows = 0;
    for slab in slabs(grid_range(&grid, start, end)?) {
        rows += detached(py, || kernels::sweep_count(layer, &grid, budget, slab))?;
    }
    Ok(rows)
}

/// The rows a sweep keeps among grid points `start..end` (default: all):
/// their counts, and for each `(field code, bytes per value)` of `columns`
/// the field's values as a uint8 array of that many bytes a row. Counts the
/// rows, allocates the outputs through numpy (which asks for huge pages),
/// then fills them, a slab at a time.
#[pyfunction]
#[pyo3(signature = (layer_code, shape, operands, budget, columns, start=0, end=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sweep_fill<'py>(
    py: Python<'py>,
    layer_code: u8,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'py, i64>>,
    budget: Option<i64>,
    columns: Vec<(usize, usize)>,
    start: usize,
    end: Option<usize>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Vec<Bound<'py, PyArray1<u8>>>)> {
    let layer = layer(layer_code)?;
    let views = borrow(&operands)?;
    let mut fields = Vec::with_capacity(columns.len());
    for &(code, width) in &columns {
        let field = Field::from_code(code).ok_or_else(|| PyValueError::new_err(format!("unknown field {code}")))?;
        if ![1, 2, 4, 8].contains(&width) {
            return Err(PyValueError::new_err(format!("column {}: {width} bytes a value", field.name())));
        }
        fields.push((field, width));
    }
    let grid = detached(py, || Grid::new(&shape, &views))?;
    let mut counts = Vec::new();
    for slab in slabs(grid_range(&grid, start, end)?) {
        counts.push(detached(py, || kernels::chunk_counts(layer, &grid, budget, slab))?);
    }
    let rows: usize = counts.iter().flatten().sum();
    // SAFETY (both): uninitialised arrays, every element written below before Python sees them.
    let params = unsafe { PyArray1::<i64>::new(py, [rows], false) };
    let arrays: Vec<_> =
        fields.iter().map(|&(_, width)| unsafe { PyArray1::<u8>::new(py, [rows * width], false) }).collect();
    {
        let mut params_rw = params.readwrite();
        let mut rest = params_rw.as_slice_mut().map_err(|_| PyValueError::new_err("params is not contiguous"))?;
        let mut guards: Vec<_> = arrays.iter().map(|a| a.readwrite()).collect();
        let mut outs = Vec::with_capacity(guards.len());
        for (guard, &(field, width)) in guards.iter_mut().zip(&fields) {
            let bytes = guard.as_slice_mut().map_err(|_| PyValueError::new_err("a column is not contiguous"))?;
            outs.push(Column { field, width, bytes });
        }
        for (slab, counts) in slabs(grid_range(&grid, start, end)?).zip(&counts) {
            let n: usize = counts.iter().sum();
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            rest = tail;
            let cols: Vec<Column> = outs.iter_mut().map(|c| c.split_off_rows(n)).collect();
            detached(py, || kernels::sweep_fill(layer, &grid, budget, slab, counts, head, cols))?;
        }
    }
    Ok((params, arrays))
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count, m)?)?;
    m.add_function(wrap_pyfunction!(count_one, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_count, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_fill, m)?)?;
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add("KernelError", m.py().get_type::<KernelError>())?;
    m.add("CHUNK", grid::CHUNK)?;
    m.add("PARALLEL_MIN", grid::PARALLEL_MIN)?;
    space::register(m)?;
    Ok(())
}
