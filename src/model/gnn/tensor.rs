//! A small safe wrapper over the libtorch shim (`csrc/torch_shim.cpp`): owned [`Tensor`]
//! handles with the operations the graph network needs, autograd, and an AdamW optimiser.
//!
//! Every call that can fail in C++ returns a [`Result`] whose error carries libtorch's message.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

type Raw = *mut c_void;

extern "C" {
    fn hs_last_error() -> *const c_char;
    fn hs_free(t: Raw);
    fn hs_from_f32(data: *const f32, dims: *const i64, ndim: c_int, requires_grad: c_int) -> Raw;
    fn hs_from_i64(data: *const i64, dims: *const i64, ndim: c_int) -> Raw;
    fn hs_numel(t: Raw) -> i64;
    fn hs_dims(t: Raw, out: *mut i64, max: c_int) -> c_int;
    fn hs_to_f32(t: Raw, out: *mut f32, n: i64) -> c_int;
    fn hs_binary(op: c_int, a: Raw, b: Raw) -> Raw;
    fn hs_unary(op: c_int, a: Raw) -> Raw;
    fn hs_scalar(op: c_int, a: Raw, s: f64) -> Raw;
    fn hs_index_select(a: Raw, dim: i64, idx: Raw) -> Raw;
    fn hs_segment_sum(src: Raw, idx: Raw, n: i64) -> Raw;
    fn hs_layer_norm(x: Raw, w: Raw, b: Raw) -> Raw;
    fn hs_cat(ts: *const Raw, n: c_int, dim: i64) -> Raw;
    fn hs_reshape(a: Raw, dims: *const i64, ndim: c_int) -> Raw;
    fn hs_backward(loss: Raw) -> c_int;
    fn hs_grad(t: Raw) -> Raw;
    fn hs_manual_seed(seed: u64) -> c_int;
    fn hs_set_num_threads(n: c_int) -> c_int;
    fn hs_get_num_threads() -> c_int;
    fn hs_set_grad_enabled(on: c_int);
    fn hs_clip_grad_norm(ps: *const Raw, n: c_int, max_norm: f64) -> f64;
    fn hs_adamw_new(ps: *const Raw, n: c_int, lr: f64, b1: f64, b2: f64, eps: f64, wd: f64) -> Raw;
    fn hs_adamw_step(o: Raw) -> c_int;
    fn hs_adamw_zero_grad(o: Raw) -> c_int;
    fn hs_adamw_set_lr(o: Raw, lr: f64) -> c_int;
    fn hs_adamw_free(o: Raw);
}

/// An error raised inside libtorch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("libtorch: {0}")]
pub struct TorchError(pub String);

/// Result of a tensor operation.
pub type Result<T> = std::result::Result<T, TorchError>;

fn last_error() -> TorchError {
    // SAFETY: the shim returns a pointer to a thread-local NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(hs_last_error()) }.to_string_lossy().into_owned();
    let first = msg.lines().next().unwrap_or("").to_string();
    TorchError(if first.is_empty() { "unknown error".into() } else { first })
}

fn check(p: Raw) -> Result<Tensor> {
    NonNull::new(p).map(|p| Tensor(p)).ok_or_else(last_error)
}

fn check_rc(rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error())
    }
}

/// An owned libtorch tensor (CPU, `f32` or `i64`).
pub struct Tensor(NonNull<c_void>);

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: the handle was created by the shim and is freed exactly once.
        unsafe { hs_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape())
    }
}

macro_rules! unary {
    ($(#[$m:meta])* $name:ident, $op:expr) => {
        $(#[$m])*
        pub fn $name(&self) -> Result<Tensor> {
            // SAFETY: valid handle; the shim returns a new handle or null.
            check(unsafe { hs_unary($op, self.raw()) })
        }
    };
}

macro_rules! binary {
    ($(#[$m:meta])* $name:ident, $op:expr) => {
        $(#[$m])*
        pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
            // SAFETY: valid handles; the shim returns a new handle or null.
            check(unsafe { hs_binary($op, self.raw(), other.raw()) })
        }
    };
}

impl Tensor {
    fn raw(&self) -> Raw {
        self.0.as_ptr()
    }

    /// A float tensor of the given shape from row-major data.
    pub fn from_f32(data: &[f32], shape: &[i64], requires_grad: bool) -> Result<Tensor> {
        let n: i64 = shape.iter().product();
        if n as usize != data.len() {
            return Err(TorchError(format!("shape {shape:?} needs {n} values, got {}", data.len())));
        }
        // SAFETY: data has exactly n values; the shim copies them.
        check(unsafe { hs_from_f32(data.as_ptr(), shape.as_ptr(), shape.len() as c_int, requires_grad as c_int) })
    }

    /// An integer (index) tensor of the given shape.
    pub fn from_i64(data: &[i64], shape: &[i64]) -> Result<Tensor> {
        let n: i64 = shape.iter().product();
        if n as usize != data.len() {
            return Err(TorchError(format!("shape {shape:?} needs {n} values, got {}", data.len())));
        }
        // SAFETY: as above.
        check(unsafe { hs_from_i64(data.as_ptr(), shape.as_ptr(), shape.len() as c_int) })
    }

    /// A 1-D index tensor.
    pub fn index(data: &[i64]) -> Result<Tensor> {
        Tensor::from_i64(data, &[data.len() as i64])
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { hs_numel(self.raw()) as usize }
    }

    /// The shape.
    pub fn shape(&self) -> Vec<i64> {
        let mut out = [0i64; 8];
        // SAFETY: `out` holds 8 dims; the shim writes at most that many.
        let n = unsafe { hs_dims(self.raw(), out.as_mut_ptr(), 8) } as usize;
        out[..n.min(8)].to_vec()
    }

    /// The values as `f32`, row-major (detached from the graph).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let n = self.numel();
        let mut out = vec![0f32; n];
        // SAFETY: `out` has room for n values.
        check_rc(unsafe { hs_to_f32(self.raw(), out.as_mut_ptr(), n as i64) })?;
        Ok(out)
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f64> {
        let v = self.to_vec()?;
        if v.len() != 1 {
            return Err(TorchError(format!("item() of a tensor with {} elements", v.len())));
        }
        Ok(v[0] as f64)
    }

    binary!(/// Element-wise sum (broadcasting).
        add, 0);
    binary!(/// Element-wise difference (broadcasting).
        sub, 1);
    binary!(/// Element-wise product (broadcasting).
        mul, 2);
    binary!(/// Element-wise quotient (broadcasting).
        div, 3);
    binary!(/// Matrix product.
        matmul, 4);
    unary!(/// Logistic sigmoid.
        sigmoid, 0);
    unary!(/// SiLU (x * sigmoid(x)).
        silu, 1);
    unary!(/// Absolute value.
        abs, 2);
    unary!(/// Exponential.
        exp, 3);
    unary!(/// Hyperbolic tangent.
        tanh, 4);
    unary!(/// Mean of all elements.
        mean, 7);
    unary!(/// Sum of all elements.
        sum, 8);
    unary!(/// Softplus.
        softplus, 9);
    unary!(/// A copy cut from the autograd graph.
        detach, 10);

    /// `self + s`.
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        // SAFETY: valid handle.
        check(unsafe { hs_scalar(0, self.raw(), s) })
    }

    /// `self * s`.
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        // SAFETY: valid handle.
        check(unsafe { hs_scalar(1, self.raw(), s) })
    }

    /// Rows (or slices along `dim`) picked by an index tensor.
    pub fn index_select(&self, dim: i64, idx: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles.
        check(unsafe { hs_index_select(self.raw(), dim, idx.raw()) })
    }

    /// Rows of `self` summed into `n` rows: row `i` goes to row `idx[i]`.
    pub fn segment_sum(&self, idx: &Tensor, n: usize) -> Result<Tensor> {
        // SAFETY: valid handles.
        check(unsafe { hs_segment_sum(self.raw(), idx.raw(), n as i64) })
    }

    /// Layer normalisation over the last dimension with affine weight and bias.
    pub fn layer_norm(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        // SAFETY: valid handles.
        check(unsafe { hs_layer_norm(self.raw(), w.raw(), b.raw()) })
    }

    /// Concatenation along `dim`.
    pub fn cat(ts: &[&Tensor], dim: i64) -> Result<Tensor> {
        let raws: Vec<Raw> = ts.iter().map(|t| t.raw()).collect();
        // SAFETY: every handle is valid for the call.
        check(unsafe { hs_cat(raws.as_ptr(), raws.len() as c_int, dim) })
    }

    /// The same values with another shape (`-1` infers one dimension).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        // SAFETY: valid handle.
        check(unsafe { hs_reshape(self.raw(), shape.as_ptr(), shape.len() as c_int) })
    }

    /// Back-propagate from this scalar.
    pub fn backward(&self) -> Result<()> {
        // SAFETY: valid handle.
        check_rc(unsafe { hs_backward(self.raw()) })
    }

    /// The accumulated gradient of a leaf, if any.
    pub fn grad(&self) -> Option<Tensor> {
        // SAFETY: valid handle; null means no gradient.
        NonNull::new(unsafe { hs_grad(self.raw()) }).map(Tensor)
    }
}

/// Seed libtorch's generator (`at::manual_seed`).
pub fn manual_seed(seed: u64) -> Result<()> {
    // SAFETY: plain call.
    check_rc(unsafe { hs_manual_seed(seed) })
}

/// Set libtorch's intra-op thread count.
pub fn set_num_threads(n: usize) -> Result<()> {
    // SAFETY: plain call.
    check_rc(unsafe { hs_set_num_threads(n.max(1) as c_int) })
}

/// libtorch's intra-op thread count.
pub fn num_threads() -> usize {
    // SAFETY: plain call.
    unsafe { hs_get_num_threads() as usize }
}

/// Turns gradient recording off until dropped (inference).
pub struct NoGrad(());

impl NoGrad {
    /// Disable autograd on this thread until the guard is dropped.
    pub fn new() -> NoGrad {
        // SAFETY: plain call.
        unsafe { hs_set_grad_enabled(0) };
        NoGrad(())
    }
}

impl Default for NoGrad {
    fn default() -> Self {
        NoGrad::new()
    }
}

impl Drop for NoGrad {
    fn drop(&mut self) {
        // SAFETY: plain call.
        unsafe { hs_set_grad_enabled(1) };
    }
}

/// Clip the global gradient norm of `params` to `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> Result<f64> {
    let raws: Vec<Raw> = params.iter().map(|t| t.raw()).collect();
    // SAFETY: every handle is valid for the call.
    let n = unsafe { hs_clip_grad_norm(raws.as_ptr(), raws.len() as c_int, max_norm) };
    if n < 0.0 {
        Err(last_error())
    } else {
        Ok(n)
    }
}

/// libtorch's AdamW over a fixed list of parameters.
pub struct AdamW(NonNull<c_void>);

impl AdamW {
    /// An optimiser over `params` (leaves with `requires_grad`).
    pub fn new(params: &[Tensor], lr: f64, weight_decay: f64) -> Result<AdamW> {
        let raws: Vec<Raw> = params.iter().map(|t| t.raw()).collect();
        // SAFETY: handles are valid; libtorch keeps its own references to the tensors.
        let p = unsafe { hs_adamw_new(raws.as_ptr(), raws.len() as c_int, lr, 0.9, 0.999, 1e-8, weight_decay) };
        NonNull::new(p).map(AdamW).ok_or_else(last_error)
    }

    /// One update from the accumulated gradients.
    pub fn step(&mut self) -> Result<()> {
        // SAFETY: valid optimiser handle.
        check_rc(unsafe { hs_adamw_step(self.0.as_ptr()) })
    }

    /// Clear the gradients of the parameters.
    pub fn zero_grad(&mut self) -> Result<()> {
        // SAFETY: valid optimiser handle.
        check_rc(unsafe { hs_adamw_zero_grad(self.0.as_ptr()) })
    }

    /// Set the learning rate of every parameter group.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        // SAFETY: valid optimiser handle.
        check_rc(unsafe { hs_adamw_set_lr(self.0.as_ptr(), lr) })
    }
}

impl Drop for AdamW {
    fn drop(&mut self) {
        // SAFETY: created by the shim, freed once.
        unsafe { hs_adamw_free(self.0.as_ptr()) }
    }
}
