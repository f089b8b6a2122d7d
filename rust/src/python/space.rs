//! The binding of model-space search: flat tables in, a search held between
//! calls (Python builds it on a worker thread, so Ctrl-C can stop it, sizes
//! the output from its count, then lends numpy buffers to fill).

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};

use super::KernelError;
use crate::error::Error;
use crate::space::{Cost, Search, Space, Total};

/// A model space prepared for one budget, or two at once.
#[pyclass(frozen, module = "archsweep._core")]
struct SpaceSearch {
    search: Budgets,
}

enum Budgets {
    One(Search<u64>),
    Two(Search<[u64; 2]>),
}

/// `$body` with `$s` the search, whichever its number of budgets.
macro_rules! each {
    ($search:expr, $s:ident => $body:expr) => {
        match &$search {
            Budgets::One($s) => $body,
            Budgets::Two($s) => $body,
        }
    };
}

fn prepared<C: Cost>(
    py: Python<'_>,
    tables: (&[usize], &[usize], &[i64], &[i64]),
    budget: C,
    max_bytes: u64,
) -> PyResult<Search<C>> {
    let (n_states, n_options, cost, next) = tables;
    let space = run(py, || Space::new(n_states, n_options, cost, next, max_bytes))?;
    run(py, || Search::new(space, budget, max_bytes))
}

/// Runs `work` without the GIL; a refusal for memory carries what Python
/// needs to name it: KernelError("memory", position or None, message,
/// bytes needed, shape states).
fn run<T: Send>(py: Python<'_>, work: impl FnOnce() -> crate::Result<T> + Send) -> PyResult<T> {
    let result = py.detach(work);
    py.check_signals()?;
    result.map_err(|e| match e {
        Error::Memory { needed, position, states, .. } => {
            KernelError::new_err((e.kind(), position, e.to_string(), needed, states))
        }
        e => e.into(),
    })
}

/// An exact count as a Python int, however large.
fn int<'py>(py: Python<'py>, n: &Total) -> PyResult<Bound<'py, PyAny>> {
    let bytes: Vec<u8> = n.words().iter().flat_map(|w| w.to_le_bytes()).collect();
    py.get_type::<PyInt>().call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))
}

#[pymethods]
impl SpaceSearch {
    /// Copies the tables (see `space::Space::new`: `cost` holds one value
    /// per entry and budget, entry-major) for a search within `budget` (one
    /// or two limits; models are ranked by the first) that holds at most
    /// `max_bytes`; nothing is built yet.
    #[new]
    #[pyo3(signature = (n_states, n_options, cost, next, budget, max_bytes))]
    fn new(
        py: Python<'_>,
        n_states: Vec<usize>,
        n_options: Vec<usize>,
        cost: PyReadonlyArray1<'_, i64>,
        next: PyReadonlyArray1<'_, i64>,
        budget: Vec<u64>,
        max_bytes: u64,
    ) -> PyResult<Self> {
        let contiguous = |_| PyValueError::new_err("cost and next must be contiguous");
        let (cost, next) = (cost.as_slice().map_err(contiguous)?, next.as_slice().map_err(contiguous)?);
        let tables = (&n_states[..], &n_options[..], cost, next);
        let search = match budget[..] {
            [b] => Budgets::One(prepared(py, tables, b, max_bytes)?),
            [a, b] => Budgets::Two(prepared(py, tables, [a, b], max_bytes)?),
            _ => return Err(PyValueError::new_err(format!("one or two budgets, got {}", budget.len()))),
        };
        Ok(SpaceSearch { search })
    }

    /// Builds the completion summaries (callable from a worker thread; `stop`
    /// ends it with KernelError("stopped", ...)).
    fn build(&self, py: Python<'_>) -> PyResult<()> {
        each!(self.search, s => run(py, || s.build()))
    }

    /// The number of fitting models without keeping the summaries (as
    /// `build`, stoppable).
    fn count_only<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let n = each!(self.search, s => run(py, || s.count_only()))?;
        int(py, &n)
    }

    /// The number of fitting models, once built.
    fn count<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        int(py, &each!(self.search, s => s.count())?)
    }

    /// The bytes the search holds (its tables, and its summaries once built).
    fn held_bytes(&self) -> u64 {
        each!(self.search, s => s.bytes())
    }

    /// Rows the running (or last) `fill` has written: callable from another
    /// thread while `fill` runs without the GIL.
    fn written(&self) -> u64 {
        each!(self.search, s => s.written())
    }

    /// Asks a running `build`, `count_only` or `fill` (on another thread),
    /// and any later one, to stop: it raises KernelError("stopped", ...).
    fn stop(&self) {
        each!(self.search, s => s.stop())
    }

    /// The rows `fill` writes for `limit`.
    #[pyo3(signature = (limit=None))]
    fn rows<'py>(&self, py: Python<'py>, limit: Option<u64>) -> PyResult<Bound<'py, PyAny>> {
        int(py, &each!(self.search, s => s.rows(limit))?)
    }

    /// The number of fitting models whose first quantity is in `lo..=hi`, once built.
    fn count_range<'py>(&self, py: Python<'py>, lo: u64, hi: u64) -> PyResult<Bound<'py, PyAny>> {
        int(py, &each!(self.search, s => s.count_range(lo, hi))?)
    }

    /// Writes, for each row of `ranks` (a rank as 64-bit words, least significant first), the
    /// fitting model of that rank among those whose first quantity is in `lo..=hi` into
    /// `options` and `costs` (callable from a worker thread; `stop` ends it; `written` counts).
    #[pyo3(signature = (lo, hi, ranks, options, costs))]
    fn unrank(
        &self,
        py: Python<'_>,
        lo: u64,
        hi: u64,
        ranks: PyReadonlyArray2<'_, u64>,
        mut options: PyReadwriteArray2<'_, u32>,
        mut costs: PyReadwriteArray2<'_, i64>,
    ) -> PyResult<()> {
        let contiguous = |_| PyValueError::new_err("ranks, options and costs must be C-contiguous");
        let ranks = ranks.as_slice().map_err(contiguous)?;
        let options = options.as_slice_mut().map_err(contiguous)?;
        let costs = costs.as_slice_mut().map_err(contiguous)?;
        each!(self.search, s => run(py, move || s.unrank(lo, hi, ranks, options, costs)))
    }

    /// Writes the fitting models (all, or the `limit` largest by the first
    /// budget's quantity) into `options` (rows × positions, C order) and
    /// `costs` (rows × budgets).
    #[pyo3(signature = (limit, options, costs))]
    fn fill(
        &self,
        py: Python<'_>,
        limit: Option<u64>,
        mut options: PyReadwriteArray2<'_, u32>,
        mut costs: PyReadwriteArray2<'_, i64>,
    ) -> PyResult<()> {
        let contiguous = |_| PyValueError::new_err("options and costs must be C-contiguous");
        let options = options.as_slice_mut().map_err(contiguous)?;
        let costs = costs.as_slice_mut().map_err(contiguous)?;
        each!(self.search, s => run(py, move || s.fill(limit, options, costs)))
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SpaceSearch>()
}
