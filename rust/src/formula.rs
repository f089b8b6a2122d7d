//! The parameter-count formulas, once, generic over the arithmetic so the same
//! expression serves the checked path and the proved-safe fast path.

/// The layer kinds archsweep counts. The discriminants are the codes the
/// Python layer passes across the binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Layer {
    Dense = 0,
    Conv1d = 1,
    Conv2d = 2,
    Conv3d = 3,
    SimpleRnn = 4,
    Lstm = 5,
    Gru = 6,
}

impl Layer {
    pub const ALL: [Layer; 7] =
        [Layer::Dense, Layer::Conv1d, Layer::Conv2d, Layer::Conv3d, Layer::SimpleRnn, Layer::Lstm, Layer::Gru];

    pub fn from_code(code: u8) -> Option<Layer> {
        Layer::ALL.get(code as usize).copied()
    }

    /// Gate sets sharing the layout `[W | U | b]`: 1 for Dense, conv and SimpleRNN.
    pub fn gates(self) -> i64 {
        match self {
            Layer::Lstm => 4,
            Layer::Gru => 3,
            _ => 1,
        }
    }

    pub fn is_recurrent(self) -> bool {
        matches!(self, Layer::SimpleRnn | Layer::Lstm | Layer::Gru)
    }
}

/// Whose defaults decide the bias layout of recurrent layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Convention {
    Keras = 0,
    Torch = 1,
    Tf1 = 2,
}

impl Convention {
    pub const ALL: [Convention; 3] = [Convention::Keras, Convention::Torch, Convention::Tf1];

    pub fn from_code(code: i64) -> Option<Convention> {
        usize::try_from(code).ok().and_then(|c| Convention::ALL.get(c).copied())
    }
}

/// Bias vectors per gate set: PyTorch keeps `b_ih` and `b_hh`, and so does a
/// Keras GRU with `reset_after` (its default); everything else keeps one.
pub fn bias_vectors(layer: Layer, convention: Convention, reset_after: bool) -> i64 {
    match (layer.is_recurrent(), convention) {
        (false, _) => 1,
        (true, Convention::Torch) => 2,
        (true, Convention::Keras) if layer == Layer::Gru && reset_after => 2,
        (true, _) => 1,
    }
}

/// One configuration of a layer: the values of every axis at one grid point.
/// Kernel dimensions a layer does not have are 1; `groups` is 1 outside conv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub n_features: i64,
    pub n_units: i64,
    pub kernel: [i64; 3],
    pub bias: bool,
    pub bidirectional: bool,
    pub convention: Convention,
    pub reset_after: bool,
    pub groups: i64,
}

/// Integer arithmetic the formula is written in: plain `i64` where overflow
/// has been ruled out up front, `Checked` everywhere else.
pub trait Arith: Copy {
    fn int(v: i64) -> Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

impl Arith for i64 {
    #[inline(always)]
    fn int(v: i64) -> Self {
        v
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        self.wrapping_mul(other)
    }
}

/// Overflow-checked `i64`: `None` once any step overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked(pub Option<i64>);

impl Arith for Checked {
    #[inline(always)]
    fn int(v: i64) -> Self {
        Checked(Some(v))
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Checked(self.0.zip(other.0).and_then(|(a, b)| a.checked_add(b)))
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Checked(self.0.zip(other.0).and_then(|(a, b)| a.checked_mul(b)))
    }
}

/// The formula with everything but the two sizes folded into three
/// coefficients:
///
/// `count = n_units · (input · n_features/groups + recurrent · n_units + bias)`
///
/// which is `directions · gates · (∏kernel · (n_features/groups) · n_units +
/// recurrent · n_units² + bias_vectors · n_units)`: Dense is a 1×1
/// convolution; SimpleRNN/LSTM/GRU are 1, 4 and 3 gate sets of
/// `[W (f×u) | U (u×u) | b]`. Every intermediate is at most the final count
/// (all terms are positive and `n_units ≥ 1`), so checked arithmetic
/// overflows exactly when the count does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coeffs<N> {
    pub input: N,
    pub recurrent: N,
    pub bias: N,
}

impl<N: Arith> Coeffs<N> {
    /// The coefficients for `layer` at `c` (its sizes are ignored).
    #[inline(always)]
    pub fn of(layer: Layer, c: &Config) -> Self {
        let directions = if c.bidirectional { 2 } else { 1 };
        let scale = N::int(directions * layer.gates());
        let kernel = N::int(c.kernel[0]).mul(N::int(c.kernel[1])).mul(N::int(c.kernel[2]));
        Coeffs {
            input: scale.mul(kernel),
            recurrent: if layer.is_recurrent() { scale } else { N::int(0) },
            bias: if c.bias { scale.mul(N::int(bias_vectors(layer, c.convention, c.reset_after))) } else { N::int(0) },
        }
    }

    /// The count for `features_per_group = n_features / groups` and `n_units`.
    #[inline(always)]
    pub fn eval(&self, features_per_group: N, n_units: N) -> N {
        n_units.mul(self.input.mul(features_per_group).add(self.recurrent.mul(n_units)).add(self.bias))
    }
}

/// The parameter count of `layer` at `c` (see [`Coeffs`] for the formula).
/// `groups` must divide `n_features` (the caller checks).
#[inline(always)]
pub fn params<N: Arith>(layer: Layer, c: &Config) -> N {
    Coeffs::<N>::of(layer, c).eval(N::int(c.n_features / c.groups), N::int(c.n_units))
}

/// The exact count, or `None` if it does not fit in `i64`.
pub fn params_checked(layer: Layer, c: &Config) -> Option<i64> {
    params::<Checked>(layer, c).0
}

/// An upper bound configuration: the formula grows with sizes, kernel,
/// bias, directions and bias vectors and shrinks with `groups`, so a count at
/// the per-axis maxima (groups = 1, two bias vectors) bounds every count below it.
pub fn fits_everywhere(layer: Layer, max: &Config) -> bool {
    let worst = Config { groups: 1, convention: Convention::Torch, ..*max };
    params_checked(layer, &worst).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: i64, u: i64) -> Config {
        Config {
            n_features: f,
            n_units: u,
            kernel: [1, 1, 1],
            bias: true,
            bidirectional: false,
            convention: Convention::Keras,
            reset_after: true,
            groups: 1,
        }
    }

    #[test]
    fn seed_worked_example_tf1() {
        let tf1 = Config { convention: Convention::Tf1, ..cfg(32, 64) };
        assert_eq!(params_checked(Layer::SimpleRnn, &tf1), Some(6_208));
        assert_eq!(params_checked(Layer::Lstm, &tf1), Some(24_832));
        assert_eq!(params_checked(Layer::Gru, &tf1), Some(18_624));
        let bi = Config { bidirectional: true, ..tf1 };
        assert_eq!(params_checked(Layer::SimpleRnn, &bi), Some(12_416));
        assert_eq!(params_checked(Layer::Lstm, &bi), Some(49_664));
        assert_eq!(params_checked(Layer::Gru, &bi), Some(37_248));
    }

    #[test]
    fn framework_differences() {
        let torch = Config { convention: Convention::Torch, ..cfg(32, 64) };
        assert_eq!(params_checked(Layer::Lstm, &torch), Some(4 * (32 * 64 + 64 * 64) + 8 * 64));
        assert_eq!(params_checked(Layer::Gru, &cfg(32, 64)), Some(3 * (32 * 64 + 64 * 64) + 6 * 64));
        let keras_no_reset = Config { reset_after: false, ..cfg(32, 64) };
        assert_eq!(params_checked(Layer::Gru, &keras_no_reset), Some(18_624));
    }

    #[test]
    fn convolutions_and_groups() {
        let c = Config { kernel: [1, 3, 3], ..cfg(3, 64) };
        assert_eq!(params_checked(Layer::Conv2d, &c), Some(1_792));
        let grouped = Config { kernel: [1, 1, 5], groups: 4, bias: false, ..cfg(8, 12) };
        assert_eq!(params_checked(Layer::Conv1d, &grouped), Some(5 * 2 * 12));
        assert_eq!(params_checked(Layer::Dense, &cfg(784, 10)), Some(7_850));
    }

    #[test]
    fn overflow_is_detected_not_wrapped() {
        let big = cfg(1 << 31, 1 << 31);
        assert_eq!(params_checked(Layer::Lstm, &big), None);
        let edge = cfg(1, 3_037_000_499); // u² just below 2^63, then ×4 overflows
        assert_eq!(params_checked(Layer::Lstm, &edge), None);
        assert!(params_checked(Layer::Dense, &cfg(3_037_000_499, 3_037_000_499)).is_some());
        assert!(!fits_everywhere(Layer::Lstm, &edge));
        assert!(fits_everywhere(Layer::Lstm, &cfg(4096, 4096)));
    }

    #[test]
    fn fast_and_checked_paths_agree_when_safe() {
        for layer in Layer::ALL {
            for conv in Convention::ALL {
                for (f, u) in [(1, 1), (7, 33), (128, 4096)] {
                    let c = Config { convention: conv, bidirectional: layer.is_recurrent(), ..cfg(f, u) };
                    assert_eq!(Some(params::<i64>(layer, &c)), params_checked(layer, &c));
                }
            }
        }
    }
}
