//! The binding: convert inputs, release the GIL, compute, convert back.
//! Validation and messages for users live in the Python layer; this module
//! only moves arrays and maps kernel errors.

use numpy::ndarray::ArrayViewD;
use numpy::{PyReadonlyArrayDyn, PyReadwriteArray1, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::formula::Layer;
use crate::grid::{self, Column, Field, Grid, N_FIELDS};

create_exception!(
    _core,
    KernelError,
    PyException,
    "A kernel refusal: args are (kind, grid index or None, message)."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        KernelError::new_err((e.kind(), e.index(), e.to_string()))
    }
}

/// Runs `work` without the GIL, then lets a pending Ctrl-C surface before
/// the result does, and maps kernel errors to `KernelError`.
fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> crate::Result<T> + Send) -> PyResult<T> {
    let result = py.detach(work);
    py.check_signals()?;
    Ok(result?)
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
    detached(py, move || grid::evaluate(layer, &Grid::new(&shape, &views)?, out))
}

/// Number of rows a sweep over the operands' broadcast to `shape` keeps.
#[pyfunction]
#[pyo3(signature = (layer_code, shape, operands, budget=None))]
fn sweep_count(
    py: Python<'_>,
    layer_code: u8,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    budget: Option<i64>,
) -> PyResult<usize> {
    let layer = layer(layer_code)?;
    let views = borrow(&operands)?;
    detached(py, move || grid::sweep_count(layer, &Grid::new(&shape, &views)?, budget))
}

/// Writes the rows a sweep keeps into `params` and the byte buffers of
/// `columns`, given as `(field code, bytes per value, uint8 view)`.
#[pyfunction]
#[pyo3(signature = (layer_code, shape, operands, budget, params, columns))]
fn sweep_fill(
    py: Python<'_>,
    layer_code: u8,
    shape: Vec<usize>,
    operands: Vec<PyReadonlyArrayDyn<'_, i64>>,
    budget: Option<i64>,
    mut params: PyReadwriteArray1<'_, i64>,
    columns: Vec<(usize, usize, PyReadwriteArray1<'_, u8>)>,
) -> PyResult<usize> {
    let layer = layer(layer_code)?;
    let views = borrow(&operands)?;
    let params = params.as_slice_mut().map_err(|_| PyValueError::new_err("params must be contiguous"))?;
    let mut columns = columns;
    let mut outs = Vec::with_capacity(columns.len());
    for (code, width, bytes) in columns.iter_mut() {
        let field = Field::from_code(*code).ok_or_else(|| PyValueError::new_err(format!("unknown field {code}")))?;
        let bytes = bytes.as_slice_mut().map_err(|_| PyValueError::new_err("columns must be contiguous"))?;
        outs.push(Column { field, width: *width, bytes });
    }
    detached(py, move || grid::sweep_fill(layer, &Grid::new(&shape, &views)?, budget, params, outs))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_count, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_fill, m)?)?;
    m.add("KernelError", m.py().get_type::<KernelError>())?;
    m.add("CHUNK", grid::CHUNK)?;
    m.add("PARALLEL_MIN", grid::PARALLEL_MIN)?;
    Ok(())
}
