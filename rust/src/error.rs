use std::fmt;

use crate::grid::Field;

/// Everything the kernels can refuse. Grid positions are flat C-order indices
/// so the caller can name the exact inputs that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The count at this grid point does not fit in `i64`.
    Overflow { index: usize },
    /// `groups` does not divide `n_features` or `n_units` at this grid point.
    GroupsDoNotDivide { index: usize },
    /// An operand holds a value outside its domain (the Python layer validates
    /// first, so this guards the kernel rather than informing the user).
    Operand { field: Field, reason: String },
    /// Operand or output shapes do not fit the grid.
    Shape(String),
    /// A model-space search would need more than `limit` bytes: `needed`
    /// when it refused, building layer position `position` (`states` shape
    /// states there), or copying the tables (`position` None).
    Memory { needed: u64, limit: u64, position: Option<usize>, states: usize },
    /// A number of models does not fit in the widest count (2**65536).
    CountOverflow,
    /// The caller asked a running search to stop.
    Stopped,
}

impl Error {
    /// A short machine-readable name, used by the binding.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Overflow { .. } => "overflow",
            Error::GroupsDoNotDivide { .. } => "groups",
            Error::Operand { .. } => "operand",
            Error::Shape(_) => "shape",
            Error::Memory { .. } => "memory",
            Error::CountOverflow => "count_overflow",
            Error::Stopped => "stopped",
        }
    }

    /// The grid point at fault, where there is one.
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::Overflow { index } | Error::GroupsDoNotDivide { index } => Some(*index),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Overflow { index } => {
                write!(f, "parameter count overflows int64 at grid point {index}")
            }
            Error::GroupsDoNotDivide { index } => {
                write!(f, "groups does not divide n_features and n_units at grid point {index}")
            }
            Error::Operand { field, reason } => write!(f, "{}: {reason}", field.name()),
            Error::Shape(msg) => f.write_str(msg),
            Error::Memory { needed, limit, position: Some(p), states } => write!(
                f,
                "the search needs at least {needed} bytes for its cost tables (at layer position {p}, \
                 {states} shape states), over the limit of {limit}"
            ),
            Error::Memory { needed, limit, position: None, states } => {
                write!(f, "the tables of {states} shape states take {needed} bytes, over the limit of {limit}")
            }
            Error::CountOverflow => f.write_str("the number of models exceeds 2**65536"),
            Error::Stopped => f.write_str("stopped on request"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
