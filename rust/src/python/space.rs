//! The binding of model-space search: flat tables in, a prepared search held
//! between calls (Python sizes the output from its count, then lends numpy
//! buffers to fill).

use numpy::{PyReadonlyArray1, PyReadwriteArray1, PyReadwriteArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::detached;
use crate::space::{Search, Space};

/// A model space prepared for one budget.
#[pyclass(frozen, module = "archsweep._core")]
struct SpaceSearch {
    search: Search,
}

#[pymethods]
impl SpaceSearch {
    /// Compiles the tables (see `space::Space::new`) and builds the
    /// completion summaries for `budget`, within `max_bytes`.
    #[new]
    #[pyo3(signature = (n_states, n_options, cost, next, budget, max_bytes))]
    fn new(
        py: Python<'_>,
        n_states: Vec<usize>,
        n_options: Vec<usize>,
        cost: PyReadonlyArray1<'_, i64>,
        next: PyReadonlyArray1<'_, i64>,
        budget: u64,
        max_bytes: u64,
    ) -> PyResult<Self> {
        let space = tables(&n_states, &n_options, &cost, &next)?;
        let search = detached(py, move || Search::new(space, budget, max_bytes))?;
        Ok(SpaceSearch { search })
    }

    /// The number of fitting models.
    fn count(&self) -> u128 {
        self.search.count()
    }

    /// Rows the running (or last) `fill` has written: callable from another
    /// thread while `fill` runs without the GIL.
    fn written(&self) -> u64 {
        self.search.written()
    }

    /// Asks a running `fill` (on another thread), and any later one, to stop:
    /// it raises KernelError("stopped", ...).
    fn stop(&self) {
        self.search.stop()
    }

    /// The rows `fill` writes for `limit`.
    #[pyo3(signature = (limit=None))]
    fn rows(&self, limit: Option<u128>) -> u128 {
        self.search.rows(limit)
    }

    /// Writes the fitting models (all, or the `limit` largest) into `options`
    /// (rows × positions, C order) and `params`.
    #[pyo3(signature = (limit, options, params))]
    fn fill(
        &self,
        py: Python<'_>,
        limit: Option<u128>,
        mut options: PyReadwriteArray2<'_, u32>,
        mut params: PyReadwriteArray1<'_, i64>,
    ) -> PyResult<()> {
        let contiguous = |_| PyValueError::new_err("options and params must be C-contiguous");
        let options = options.as_slice_mut().map_err(contiguous)?;
        let params = params.as_slice_mut().map_err(contiguous)?;
        detached(py, move || self.search.fill(limit, options, params))
    }
}

/// The number of models within `budget` of the space the tables describe,
/// holding the summaries of two positions at a time.
#[pyfunction]
#[pyo3(signature = (n_states, n_options, cost, next, budget, max_bytes))]
fn space_count(
    py: Python<'_>,
    n_states: Vec<usize>,
    n_options: Vec<usize>,
    cost: PyReadonlyArray1<'_, i64>,
    next: PyReadonlyArray1<'_, i64>,
    budget: u64,
    max_bytes: u64,
) -> PyResult<u128> {
    let space = tables(&n_states, &n_options, &cost, &next)?;
    detached(py, move || Search::count_only(&space, budget, max_bytes))
}

fn tables(
    n_states: &[usize],
    n_options: &[usize],
    cost: &PyReadonlyArray1<'_, i64>,
    next: &PyReadonlyArray1<'_, i64>,
) -> PyResult<Space> {
    let contiguous = |_| PyValueError::new_err("cost and next must be contiguous");
    let (cost, next) = (cost.as_slice().map_err(contiguous)?, next.as_slice().map_err(contiguous)?);
    Ok(Space::new(n_states, n_options, cost, next)?)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SpaceSearch>()?;
    m.add_function(wrap_pyfunction!(space_count, m)?)
}
