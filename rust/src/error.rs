use std::fmt;

/// Everything the kernels can refuse. Grid positions are flat C-order indices
/// so the caller can name the exact inputs that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
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
    /// Factor `factor` is invalid at this grid point (the first that is): a
    /// quotient that does not divide, an offset below 0, a `less` that fails.
    Invalid { index: usize, factor: usize },
    /// Quantity `quantity` does not fit in `i64` at this grid point.
    QuantityOverflow { index: usize, quantity: usize },
    /// An operand holds a negative value (its smallest is `value`).
    NegativeOperand { operand: usize, value: i64 },
    /// An operand holds a value below the floor the caller set for it (its smallest is `value`).
    BelowFloor { operand: usize, value: i64, floor: i64 },
    /// Factors, terms, a budget or columns that do not fit the operands.
    Spec(String),
}

impl Error {
    /// A short machine-readable name, used by the binding.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Shape(_) => "shape",
            Error::Memory { .. } => "memory",
            Error::CountOverflow => "count_overflow",
            Error::Stopped => "stopped",
            Error::Invalid { .. } => "invalid",
            Error::QuantityOverflow { .. } => "overflow",
            Error::NegativeOperand { .. } => "operand",
            Error::BelowFloor { .. } => "floor",
            Error::Spec(_) => "spec",
        }
    }

    /// The grid point at fault, where there is one.
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::Invalid { index, .. } | Error::QuantityOverflow { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The factor, quantity or operand at fault, where the error names one.
    pub fn subject(&self) -> Option<usize> {
        match self {
            Error::Invalid { factor: s, .. }
            | Error::QuantityOverflow { quantity: s, .. }
            | Error::NegativeOperand { operand: s, .. }
            | Error::BelowFloor { operand: s, .. } => Some(*s),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
            Error::Invalid { index, factor } => write!(f, "factor {factor} is invalid at grid point {index}"),
            Error::QuantityOverflow { index, quantity } => {
                write!(f, "quantity {quantity} overflows int64 at grid point {index}")
            }
            Error::NegativeOperand { operand, value } => {
                write!(f, "operand {operand} holds {value}; operands must be at least 0")
            }
            Error::BelowFloor { operand, value, floor } => {
                write!(f, "operand {operand} holds {value}; it must be at least {floor}")
            }
            Error::Spec(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
