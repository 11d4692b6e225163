//! A small wrapper over tch (libtorch): owned [`Tensor`] handles with the operations the graph
//! network needs, autograd, gradient clipping and an AdamW optimiser, every fallible call
//! returning a [`Result`] with libtorch's message instead of panicking.
//!
//! Every tensor lives on one process-wide [`device`]: the first CUDA GPU when libtorch sees one,
//! the CPU otherwise; `HOPDB_DEVICE=cpu|cuda|cuda:N` or [`set_device`] chooses another.

use std::sync::Mutex;
use tch::{Kind, TchError};

/// Where tensors are created (`None`: not chosen yet).
static DEVICE: Mutex<Option<tch::Device>> = Mutex::new(None);

/// Parse a device name: `auto` (CUDA if available, else CPU), `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(name: &str) -> Result<tch::Device> {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "auto" | "" => Ok(tch::Device::cuda_if_available()),
        "cpu" => Ok(tch::Device::Cpu),
        _ => {
            let idx = match n.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| TorchError(format!("device '{name}': expected auto, cpu, cuda or cuda:N")))?,
                None => return Err(TorchError(format!("device '{name}': expected auto, cpu, cuda or cuda:N"))),
            };
            let count = tch::Cuda::device_count().max(0) as usize;
            if idx >= count {
                return Err(TorchError(format!("device '{name}': libtorch sees {count} CUDA device(s)")));
            }
            Ok(tch::Device::Cuda(idx))
        }
    }
}

/// The device new tensors go to. Chosen on first use from `HOPDB_DEVICE` (default `auto`:
/// `Device::cuda_if_available()`); an unusable `HOPDB_DEVICE` is an error.
pub fn device() -> Result<tch::Device> {
    let mut d = DEVICE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dev) = *d {
        return Ok(dev);
    }
    let dev = match std::env::var("HOPDB_DEVICE") {
        Ok(v) => parse_device(&v).map_err(|e| TorchError(format!("HOPDB_DEVICE: {}", e.0)))?,
        Err(_) => tch::Device::cuda_if_available(),
    };
    *d = Some(dev);
    Ok(dev)
}

/// Put new tensors on `dev` from now on (tensors made before stay where they are).
pub fn set_device(dev: tch::Device) {
    *DEVICE.lock().unwrap_or_else(|e| e.into_inner()) = Some(dev);
}

/// A device as text: `cpu` or `cuda:N`.
pub fn device_name(dev: tch::Device) -> String {
    match dev {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

/// An error raised inside libtorch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("libtorch: {0}")]
pub struct TorchError(pub String);

impl From<TchError> for TorchError {
    fn from(e: TchError) -> Self {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("").to_string();
        TorchError(if first.is_empty() { "unknown error".into() } else { first })
    }
}

/// Result of a tensor operation.
pub type Result<T> = std::result::Result<T, TorchError>;

/// An owned libtorch tensor (`f32` or `i64`, on [`device`]).
pub struct Tensor(pub(crate) tch::Tensor);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape())
    }
}

macro_rules! unary {
    ($(#[$m:meta])* $name:ident, $f:ident) => {
        $(#[$m])*
        pub fn $name(&self) -> Result<Tensor> {
            Ok(Tensor(self.0.$f()?))
        }
    };
}

macro_rules! binary {
    ($(#[$m:meta])* $name:ident, $f:ident) => {
        $(#[$m])*
        pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
            Ok(Tensor(self.0.$f(&other.0)?))
        }
    };
}

impl Tensor {
    /// A float tensor of the given shape from row-major data.
    pub fn from_f32(data: &[f32], shape: &[i64], requires_grad: bool) -> Result<Tensor> {
        let n: i64 = shape.iter().product();
        if n as usize != data.len() {
            return Err(TorchError(format!("shape {shape:?} needs {n} values, got {}", data.len())));
        }
        let t = tch::Tensor::f_from_slice(data)?.f_reshape(shape)?.f_to_device(device()?)?;
        Ok(Tensor(if requires_grad { t.set_requires_grad(true) } else { t }))
    }

    /// An integer (index) tensor of the given shape.
    pub fn from_i64(data: &[i64], shape: &[i64]) -> Result<Tensor> {
        let n: i64 = shape.iter().product();
        if n as usize != data.len() {
            return Err(TorchError(format!("shape {shape:?} needs {n} values, got {}", data.len())));
        }
        Ok(Tensor(tch::Tensor::f_from_slice(data)?.f_reshape(shape)?.f_to_device(device()?)?))
    }

    /// A 1-D index tensor.
    pub fn index(data: &[i64]) -> Result<Tensor> {
        Tensor::from_i64(data, &[data.len() as i64])
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.numel()
    }

    /// The shape.
    pub fn shape(&self) -> Vec<i64> {
        self.0.size()
    }

    /// The values as `f32`, row-major (detached from the graph).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let t = self.0.f_detach()?.f_to_device(tch::Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?;
        let n = t.numel();
        let mut out = vec![0f32; n];
        t.f_copy_data(&mut out, n)?;
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
        add, f_add);
    binary!(/// Element-wise difference (broadcasting).
        sub, f_sub);
    binary!(/// Element-wise product (broadcasting).
        mul, f_mul);
    binary!(/// Element-wise quotient (broadcasting).
        div, f_div);
    binary!(/// Matrix product.
        matmul, f_matmul);
    unary!(/// Logistic sigmoid.
        sigmoid, f_sigmoid);
    unary!(/// SiLU (x * sigmoid(x)).
        silu, f_silu);
    unary!(/// Absolute value.
        abs, f_abs);
    unary!(/// Exponential.
        exp, f_exp);
    unary!(/// Hyperbolic tangent.
        tanh, f_tanh);
    unary!(/// Softplus.
        softplus, f_softplus);
    unary!(/// A copy cut from the autograd graph.
        detach, f_detach);

    /// Mean of all elements.
    pub fn mean(&self) -> Result<Tensor> {
        Ok(Tensor(self.0.f_mean(Kind::Float)?))
    }

    /// Sum of all elements.
    pub fn sum(&self) -> Result<Tensor> {
        Ok(Tensor(self.0.f_sum(Kind::Float)?))
    }

    /// Elementwise `max(self, lo)`.
    pub fn clamp_min(&self, lo: f64) -> Result<Tensor> {
        Ok(Tensor(self.0.f_clamp_min(lo)?))
    }

    /// `self + s`.
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        Ok(Tensor(self.0.f_add_scalar(s)?))
    }

    /// `self * s`.
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        Ok(Tensor(self.0.f_mul_scalar(s)?))
    }

    /// Rows (or slices along `dim`) picked by an index tensor.
    pub fn index_select(&self, dim: i64, idx: &Tensor) -> Result<Tensor> {
        Ok(Tensor(self.0.f_index_select(dim, &idx.0)?))
    }

    /// Rows of `self` summed into `n` rows: row `i` goes to row `idx[i]`.
    pub fn segment_sum(&self, idx: &Tensor, n: usize) -> Result<Tensor> {
        let mut shape = self.0.size();
        if shape.is_empty() {
            return Err(TorchError("segment_sum of a scalar".into()));
        }
        shape[0] = n as i64;
        let zeros = tch::Tensor::f_zeros(&shape, (self.0.kind(), self.0.device()))?;
        Ok(Tensor(zeros.f_index_add(0, &idx.0, &self.0)?))
    }

    /// Layer normalisation over the last dimension with affine weight and bias.
    pub fn layer_norm(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        let d = *self.0.size().last().ok_or_else(|| TorchError("layer_norm of a scalar".into()))?;
        Ok(Tensor(self.0.f_layer_norm([d], Some(&w.0), Some(&b.0), 1e-5, false)?))
    }

    /// `self + a @ b` (`self` broadcast to the product's shape, e.g. a bias row), in one call.
    pub fn addmm(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(Tensor(self.0.f_addmm(&a.0, &b.0)?))
    }

    /// The slice `start .. start + len` along `dim` (a view, no copy).
    pub fn narrow(&self, dim: i64, start: i64, len: i64) -> Result<Tensor> {
        Ok(Tensor(self.0.f_narrow(dim, start, len)?))
    }

    /// Concatenation along `dim`.
    pub fn cat(ts: &[&Tensor], dim: i64) -> Result<Tensor> {
        let inner: Vec<&tch::Tensor> = ts.iter().map(|t| &t.0).collect();
        Ok(Tensor(tch::Tensor::f_cat(&inner, dim)?))
    }

    /// The same values with another shape (`-1` infers one dimension).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        Ok(Tensor(self.0.f_reshape(shape)?))
    }

    /// Back-propagate from this scalar.
    pub fn backward(&self) -> Result<()> {
        Ok(self.0.f_backward()?)
    }

    /// The accumulated gradient of a leaf, if any.
    pub fn grad(&self) -> Option<Tensor> {
        let g = self.0.grad();
        g.defined().then_some(Tensor(g))
    }

    /// A second handle to the same tensor (same storage and autograd identity).
    pub fn shallow_clone(&self) -> Tensor {
        Tensor(self.0.shallow_clone())
    }
}

/// Seed libtorch's generator.
pub fn manual_seed(seed: u64) -> Result<()> {
    tch::manual_seed(seed as i64);
    Ok(())
}

/// Set libtorch's intra-op thread count.
pub fn set_num_threads(n: usize) -> Result<()> {
    tch::set_num_threads(n.max(1) as i32);
    Ok(())
}

/// libtorch's intra-op thread count.
pub fn num_threads() -> usize {
    tch::get_num_threads().max(1) as usize
}

/// Turns gradient recording off until dropped (inference).
pub struct NoGrad(#[allow(dead_code)] tch::NoGradGuard);

impl NoGrad {
    /// Disable autograd on this thread until the guard is dropped.
    pub fn new() -> NoGrad {
        NoGrad(tch::no_grad_guard())
    }
}

impl Default for NoGrad {
    fn default() -> Self {
        NoGrad::new()
    }
}

/// Clip the global gradient norm of `params` to `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> Result<f64> {
    let _g = tch::no_grad_guard();
    let grads: Vec<tch::Tensor> = params.iter().map(|p| p.0.grad()).filter(|g| g.defined()).collect();
    let mut total = 0.0f64;
    for g in &grads {
        total += g.f_pow_tensor_scalar(2)?.f_sum(Kind::Double)?.double_value(&[]);
    }
    let norm = total.sqrt();
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.f_mul_scalar_(scale)?;
        }
    }
    Ok(norm)
}

/// AdamW (decoupled weight decay; betas 0.9, 0.999; eps 1e-8) over a fixed list of
/// parameters, updated in place.
pub struct AdamW {
    params: Vec<tch::Tensor>,
    m: Vec<tch::Tensor>,
    v: Vec<tch::Tensor>,
    lr: f64,
    weight_decay: f64,
    t: i32,
}

impl AdamW {
    /// An optimiser over `params` (leaves with `requires_grad`).
    pub fn new(params: &[Tensor], lr: f64, weight_decay: f64) -> Result<AdamW> {
        let params: Vec<tch::Tensor> = params.iter().map(|p| p.0.shallow_clone()).collect();
        let m = params.iter().map(|p| p.f_zeros_like()).collect::<std::result::Result<Vec<_>, _>>()?;
        let v = params.iter().map(|p| p.f_zeros_like()).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(AdamW { params, m, v, lr, weight_decay, t: 0 })
    }

    /// One update from the accumulated gradients.
    pub fn step(&mut self) -> Result<()> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        self.t += 1;
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        let _g = tch::no_grad_guard();
        for ((p, m), v) in self.params.iter_mut().zip(self.m.iter_mut()).zip(self.v.iter_mut()) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            if self.weight_decay > 0.0 {
                let _ = p.f_mul_scalar_(1.0 - self.lr * self.weight_decay)?;
            }
            let _ = m.f_mul_scalar_(b1)?;
            let _ = m.f_add_(&g.f_mul_scalar(1.0 - b1)?)?;
            let _ = v.f_mul_scalar_(b2)?;
            let _ = v.f_add_(&g.f_mul(&g)?.f_mul_scalar(1.0 - b2)?)?;
            let denom = v.f_div_scalar(bc2)?.f_sqrt()?.f_add_scalar(eps)?;
            let update = m.f_div(&denom)?.f_mul_scalar(self.lr / bc1)?;
            let _ = p.f_sub_(&update)?;
        }
        Ok(())
    }

    /// Clear the gradients of the parameters.
    pub fn zero_grad(&mut self) -> Result<()> {
        for p in self.params.iter_mut() {
            p.zero_grad();
        }
        Ok(())
    }

    /// Set the learning rate.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.lr = lr;
        Ok(())
    }
}
