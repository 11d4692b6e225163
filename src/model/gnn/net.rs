//! The edge-gated graph network (CGCNN / ALIGNN family) and its batched forward pass.
//!
//! Layer `l` (edge-gated graph convolution with residuals and layer normalisation):
//!
//! ```text
//! m_ij  = A h_j + B h_i + C e_ij + b          (edge j -> i)
//! s_ij  = sigmoid(m_ij)
//! h_i  <- h_i + SiLU(LN(D h_i + sum_j s_ij * E h_j / (sum_j s_ij + eps)))
//! e_ij <- e_ij + SiLU(LN(m_ij))
//! ```
//!
//! (The last layer skips the edge update: nothing reads it.)
//!
//! With the line graph (ALIGNN, [`NetConfig::line_graph`]) each layer first runs the same
//! convolution on the line graph, whose nodes are the edges (state `e`) and whose edges are the
//! angle triplets (state `t`, input: SiLU of a linear map of a Gaussian basis of the cosine), then
//! the convolution on the atom graph with the updated `e`.
//!
//! Node input: element embedding + linear map of the node features; edge input: SiLU of a
//! linear map of a Gaussian radial-basis expansion of the length. With global features
//! ([`NetConfig::global`], e.g. the standardised hop descriptors: a fused network) the head
//! also reads SiLU of a linear map of them. Readout: mean pooling, or
//! attention pooling (MODEL-4: softmax-like weights `exp(3 tanh(w.h / 3))` per graph). For the
//! endpoint input the two pooled vectors are concatenated (MODEL-1) or joined as
//! `[initial, final - initial]` (MODEL-2). Head: `Linear -> SiLU -> Linear` to one value;
//! with auxiliary outputs ([`NetConfig::aux`], multi-task pre-training) a second linear map of
//! the same hidden layer gives them.

use super::graph::{Graph, NODE_FEATURES};
use super::tensor::{Result, Tensor, TorchError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Element embedding rows (atomic numbers 0..=103; 0 is the `X` node).
pub const N_ELEMENTS: usize = 104;

/// How pooled graph vectors become the head's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Readout {
    /// One graph per hop, mean pooling.
    Mean,
    /// One graph per hop, attention pooling (MODEL-4).
    Attention,
    /// Two graphs, `[p_initial, p_final]` (MODEL-1).
    Concat,
    /// Two graphs, `[p_initial, p_final - p_initial]` (MODEL-2).
    Delta,
}

impl Readout {
    /// Graphs per hop this readout expects.
    pub fn graphs_per_hop(self) -> usize {
        match self {
            Readout::Mean | Readout::Attention => 1,
            Readout::Concat | Readout::Delta => 2,
        }
    }
}

/// Which nodes the mean readouts average over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pool {
    /// Every node (MODEL-3).
    All,
    /// The path nodes only (the mobile ion at its sites and images, or the `X` node).
    Path,
    /// Both, concatenated (twice the width).
    Both,
}

impl Pool {
    /// Name as accepted by the `pool` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::All => "all",
            Pool::Path => "path",
            Pool::Both => "both",
        }
    }

    /// Parse `all`, `path` or `both`.
    pub fn parse(s: &str) -> Option<Pool> {
        match s.trim() {
            "all" => Some(Pool::All),
            "path" => Some(Pool::Path),
            "both" => Some(Pool::Both),
            _ => None,
        }
    }

    fn width(self) -> usize {
        if self == Pool::Both {
            2
        } else {
            1
        }
    }
}

/// Network shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Hidden width.
    pub hidden: usize,
    /// Graph convolution layers.
    pub layers: usize,
    /// Radial basis functions on [0, cutoff].
    pub rbf: usize,
    /// Cutoff the radial basis spans (A).
    pub cutoff: f64,
    /// Readout.
    pub readout: Readout,
    /// Nodes the mean readouts average over.
    pub pool: Pool,
    /// ALIGNN layers: a line-graph (bond-angle) convolution before each atom-graph one.
    pub line_graph: bool,
    /// Gaussian basis functions of the angle cosine on [-1, 1] (line graph only).
    pub angle_rbf: usize,
    /// Global (per-hop) input features fed to the head (0 = none).
    pub global: usize,
    /// Auxiliary outputs (multi-task pre-training: points of the BVSE energy profile), read off
    /// the head's hidden layer by their own linear map (`aux.w`, `aux.b`); 0 = none. Serialised
    /// in the blob's version-4 extension, not in this struct's body (see `GnnBlob::to_bytes`).
    #[serde(skip)]
    pub aux: usize,
}

/// The names of one convolution's parameters under `prefix`.
const CONV_PARAMS: [&str; 11] = ["A", "B", "C", "D", "E", "gate_b", "node_b", "ln_node.w", "ln_node.b", "ln_edge.w", "ln_edge.b"];

/// Named parameter values (the serialisable form of a network).
pub type ParamValues = Vec<(String, Vec<i64>, Vec<f32>)>;

/// The network's parameters as libtorch leaves.
pub struct Net {
    /// Shape.
    pub cfg: NetConfig,
    names: Vec<String>,
    params: Vec<Tensor>,
}

fn param_shapes(cfg: &NetConfig) -> Vec<(String, Vec<i64>)> {
    let h = cfg.hidden as i64;
    let mut v: Vec<(String, Vec<i64>)> = vec![
        ("embed".into(), vec![N_ELEMENTS as i64, h]),
        ("node_in".into(), vec![NODE_FEATURES as i64, h]),
        ("edge_in.w".into(), vec![cfg.rbf as i64, h]),
        ("edge_in.b".into(), vec![h]),
    ];
    if cfg.line_graph {
        v.push(("angle_in.w".into(), vec![cfg.angle_rbf as i64, h]));
        v.push(("angle_in.b".into(), vec![h]));
    }
    let conv = |v: &mut Vec<(String, Vec<i64>)>, prefix: &str| {
        for m in CONV_PARAMS {
            let shape = if m.len() == 1 { vec![h, h] } else { vec![h] };
            v.push((format!("{prefix}.{m}"), shape));
        }
    };
    for l in 0..cfg.layers {
        if cfg.line_graph {
            conv(&mut v, &format!("lconv{l}"));
        }
        conv(&mut v, &format!("conv{l}"));
    }
    v.push(("attn.w".into(), vec![h, 1]));
    if cfg.global > 0 {
        v.push(("global_in.w".into(), vec![cfg.global as i64, h]));
        v.push(("global_in.b".into(), vec![h]));
    }
    let pool_width = if cfg.readout == Readout::Attention { 1 } else { cfg.pool.width() as i64 };
    let p = (cfg.readout.graphs_per_hop() as i64) * h * pool_width + if cfg.global > 0 { h } else { 0 };
    v.push(("head.w1".into(), vec![p, h]));
    v.push(("head.b1".into(), vec![h]));
    v.push(("head.w2".into(), vec![h, 1]));
    v.push(("head.b2".into(), vec![1]));
    if cfg.aux > 0 {
        v.push(("aux.w".into(), vec![h, cfg.aux as i64]));
        v.push(("aux.b".into(), vec![cfg.aux as i64]));
    }
    v
}

/// Seeded initial values: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for matrices, N(0,1)-like
/// for the embedding, ones for norm weights, zeros for biases.
pub fn init_values(cfg: &NetConfig, seed: u64) -> ParamValues {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e6e_7769_6e69_7400);
    param_shapes(cfg)
        .into_iter()
        .map(|(name, shape)| {
            let n: i64 = shape.iter().product();
            let vals: Vec<f32> = if name.ends_with(".b") || name.ends_with("_b") || name.ends_with(".b1") || name.ends_with(".b2") {
                vec![0.0; n as usize]
            } else if name.ends_with("ln_node.w") || name.ends_with("ln_edge.w") {
                vec![1.0; n as usize]
            } else if name == "embed" {
                (0..n).map(|_| rng.gen_range(-1.0f32..1.0) * 0.5).collect()
            } else {
                let fan_in = shape[0] as f32;
                let a = 1.0 / fan_in.sqrt();
                (0..n).map(|_| rng.gen_range(-a..a)).collect()
            };
            (name, shape, vals)
        })
        .collect()
}

/// A batch of hops as tensors.
pub struct Batch {
    z: Tensor,
    feat: Tensor,
    src: Tensor,
    dst: Tensor,
    /// Edge lengths, `[edges, 1]`.
    dist: Tensor,
    /// Line-graph edges and their cosines `[triplets, 1]` (empty without the line graph).
    line_src: Tensor,
    line_dst: Tensor,
    cos: Tensor,
    /// Global features `[hops, global]`.
    global: Option<Tensor>,
    n_edges: usize,
    node_graph: Tensor,
    inv_count: Tensor,
    path_mask: Tensor,
    inv_path_count: Tensor,
    n_nodes: usize,
    n_graphs: usize,
    hops: usize,
}

impl Batch {
    /// Pack hops (each a list of `graphs_per_hop` graphs) into one disjoint union. Graph `g` of
    /// hop `k` gets index `g * hops + k`, so the pooled vectors of the first graphs come first.
    /// `global` holds each hop's global features when the network reads them
    /// ([`NetConfig::global`] of them per hop).
    pub fn new(hops: &[&[Graph]], global: Option<&[&[f32]]>, cfg: &NetConfig) -> Result<Batch> {
        let per = cfg.readout.graphs_per_hop();
        let nh = hops.len();
        let (mut z, mut feat, mut src, mut dst, mut dist, mut node_graph) = (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut line_src, mut line_dst, mut cos) = (vec![], vec![], vec![]);
        let mut edge_offset = 0i64;
        let mut counts = vec![0f32; nh * per];
        let mut path_counts = vec![0f32; nh * per];
        let mut path_mask = vec![];
        let mut offset = 0i64;
        for g_i in 0..per {
            for (k, gs) in hops.iter().enumerate() {
                let g = gs.get(g_i).ok_or_else(|| TorchError(format!("hop {k} has {} graphs, the readout needs {per}", gs.len())))?;
                let gid = (g_i * nh + k) as i64;
                z.extend_from_slice(&g.z);
                feat.extend_from_slice(&g.feat);
                src.extend(g.src.iter().map(|s| s + offset));
                dst.extend(g.dst.iter().map(|d| d + offset));
                dist.extend_from_slice(&g.dist);
                if cfg.line_graph {
                    line_src.extend(g.line_src.iter().map(|s| s + edge_offset));
                    line_dst.extend(g.line_dst.iter().map(|d| d + edge_offset));
                    cos.extend_from_slice(&g.cos);
                }
                edge_offset += g.edges() as i64;
                node_graph.extend(std::iter::repeat(gid).take(g.nodes()));
                counts[gid as usize] = g.nodes().max(1) as f32;
                // Path nodes: those without the host flag (feature 0).
                let before = path_mask.len();
                path_mask.extend(g.feat.chunks(NODE_FEATURES).map(|f| if f[0] > 0.5 { 0f32 } else { 1f32 }));
                path_counts[gid as usize] = path_mask[before..].iter().sum::<f32>().max(1.0);
                offset += g.nodes() as i64;
            }
        }
        let n = z.len();
        let m = dist.len();
        let global = match (cfg.global, global) {
            (0, _) => None,
            (w, Some(rows)) => {
                if rows.len() != nh {
                    return Err(TorchError(format!("{} rows of global features for {nh} hops", rows.len())));
                }
                let mut flat = Vec::with_capacity(nh * w);
                for (k, r) in rows.iter().enumerate() {
                    if r.len() != w {
                        return Err(TorchError(format!("hop {k} has {} global features, the network reads {w}", r.len())));
                    }
                    flat.extend_from_slice(r);
                }
                Some(Tensor::from_f32(&flat, &[nh as i64, w as i64], false)?)
            }
            (w, None) => return Err(TorchError(format!("the network reads {w} global features per hop, none were given"))),
        };
        let inv: Vec<f32> = counts.iter().map(|c| 1.0 / c).collect();
        let inv_path: Vec<f32> = path_counts.iter().map(|c| 1.0 / c).collect();
        Ok(Batch {
            z: Tensor::index(&z)?,
            feat: Tensor::from_f32(&feat, &[n as i64, NODE_FEATURES as i64], false)?,
            src: Tensor::index(&src)?,
            dst: Tensor::index(&dst)?,
            dist: Tensor::from_f32(&dist, &[m as i64, 1], false)?,
            line_src: Tensor::index(&line_src)?,
            line_dst: Tensor::index(&line_dst)?,
            cos: Tensor::from_f32(&cos, &[cos.len() as i64, 1], false)?,
            global,
            n_edges: m,
            node_graph: Tensor::index(&node_graph)?,
            inv_count: Tensor::from_f32(&inv, &[(nh * per) as i64, 1], false)?,
            path_mask: Tensor::from_f32(&path_mask, &[n as i64, 1], false)?,
            inv_path_count: Tensor::from_f32(&inv_path, &[(nh * per) as i64, 1], false)?,
            n_nodes: n,
            n_graphs: nh * per,
            hops: nh,
        })
    }

    /// Number of hops.
    pub fn hops(&self) -> usize {
        self.hops
    }
}

impl Net {
    /// A network with the given values (checked against the shape of `cfg`).
    pub fn from_values(cfg: NetConfig, values: &ParamValues) -> Result<Net> {
        let shapes = param_shapes(&cfg);
        if shapes.len() != values.len() {
            return Err(TorchError(format!("expected {} parameter tensors, got {}", shapes.len(), values.len())));
        }
        let mut names = Vec::new();
        let mut params = Vec::new();
        for ((name, shape), (vn, vs, vals)) in shapes.iter().zip(values) {
            if name != vn || shape != vs {
                return Err(TorchError(format!("parameter {vn} {vs:?} does not match {name} {shape:?}")));
            }
            params.push(Tensor::from_f32(vals, shape, true)?);
            names.push(name.clone());
        }
        Ok(Net { cfg, names, params })
    }

    /// A freshly initialised network.
    pub fn new(cfg: NetConfig, seed: u64) -> Result<Net> {
        Net::from_values(cfg, &init_values(&cfg, seed))
    }

    /// The parameter leaves (for the optimiser).
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Current values of every parameter.
    pub fn values(&self) -> Result<ParamValues> {
        self.names.iter().zip(&self.params).map(|(n, p)| Ok((n.clone(), p.shape(), p.to_vec()?))).collect()
    }

    fn p(&self, name: &str) -> &Tensor {
        let i = self.names.iter().position(|n| n == name).expect("known parameter");
        &self.params[i]
    }

    /// One edge-gated convolution (parameters under `prefix`) on a graph with node states `h`
    /// and edge states `e` (edge `k` runs `src[k] -> dst[k]`). Returns the new node states and,
    /// when `update_edges`, the new edge states.
    #[allow(clippy::too_many_arguments)]
    fn conv(&self, prefix: &str, h: &Tensor, e: &Tensor, src: &Tensor, dst: &Tensor, n: usize, update_edges: bool) -> Result<(Tensor, Option<Tensor>)> {
        let q = |m: &str| self.p(&format!("{prefix}.{m}"));
        let ah = h.matmul(q("A"))?.index_select(0, src)?;
        let bh = h.matmul(q("B"))?.index_select(0, dst)?;
        let m = q("gate_b").addmm(e, q("C"))?.add(&ah)?.add(&bh)?;
        let s = m.sigmoid()?;
        let eh = h.matmul(q("E"))?.index_select(0, src)?;
        let mean = s.mul(&eh)?.segment_sum(dst, n)?.div(&s.segment_sum(dst, n)?.add_scalar(1e-6)?)?;
        let upd = q("node_b").addmm(h, q("D"))?.add(&mean)?;
        let h = h.add(&upd.layer_norm(q("ln_node.w"), q("ln_node.b"))?.silu()?)?;
        let e = if update_edges { Some(e.add(&m.layer_norm(q("ln_edge.w"), q("ln_edge.b"))?.silu()?)?) } else { None };
        Ok((h, e))
    }

    /// The head's hidden layer, `[hops, hidden]`: everything up to the output maps.
    fn head_hidden(&self, b: &Batch) -> Result<Tensor> {
        let emb = self.p("embed").index_select(0, &b.z)?;
        let mut h = emb.add(&b.feat.matmul(self.p("node_in"))?)?;
        let rbf = gaussian_basis(&b.dist, 0.0, self.cfg.cutoff, self.cfg.rbf)?;
        let mut e = self.p("edge_in.b").addmm(&rbf, self.p("edge_in.w"))?.silu()?;
        let mut t = if self.cfg.line_graph {
            let basis = gaussian_basis(&b.cos, -1.0, 1.0, self.cfg.angle_rbf)?;
            Some(self.p("angle_in.b").addmm(&basis, self.p("angle_in.w"))?.silu()?)
        } else {
            None
        };
        for l in 0..self.cfg.layers {
            let last = l + 1 == self.cfg.layers;
            if let Some(tt) = t.take() {
                let (e_new, t_new) = self.conv(&format!("lconv{l}"), &e, &tt, &b.line_src, &b.line_dst, b.n_edges, !last)?;
                e = e_new;
                t = t_new;
            }
            let (h_new, e_new) = self.conv(&format!("conv{l}"), &h, &e, &b.src, &b.dst, b.n_nodes, !last)?;
            h = h_new;
            if let Some(e_new) = e_new {
                e = e_new;
            }
        }
        let pooled = match self.cfg.readout {
            Readout::Attention => {
                let s = h.matmul(self.p("attn.w"))?.mul_scalar(1.0 / 3.0)?.tanh()?.mul_scalar(3.0)?.exp()?;
                let num = h.mul(&s)?.segment_sum(&b.node_graph, b.n_graphs)?;
                let den = s.segment_sum(&b.node_graph, b.n_graphs)?;
                num.div(&den)?
            }
            _ => {
                let all = || -> Result<Tensor> { h.segment_sum(&b.node_graph, b.n_graphs)?.mul(&b.inv_count) };
                let path = || -> Result<Tensor> { h.mul(&b.path_mask)?.segment_sum(&b.node_graph, b.n_graphs)?.mul(&b.inv_path_count) };
                match self.cfg.pool {
                    Pool::All => all()?,
                    Pool::Path => path()?,
                    Pool::Both => Tensor::cat(&[&all()?, &path()?], 1)?,
                }
            }
        };
        let x = match self.cfg.readout {
            Readout::Mean | Readout::Attention => pooled,
            Readout::Concat | Readout::Delta => {
                let nh = b.hops as i64;
                let idx_i = Tensor::index(&(0..nh).collect::<Vec<_>>())?;
                let idx_f = Tensor::index(&(nh..2 * nh).collect::<Vec<_>>())?;
                let pi = pooled.index_select(0, &idx_i)?;
                let pf = pooled.index_select(0, &idx_f)?;
                if self.cfg.readout == Readout::Concat {
                    Tensor::cat(&[&pi, &pf], 1)?
                } else {
                    let d = pf.sub(&pi)?;
                    Tensor::cat(&[&pi, &d], 1)?
                }
            }
        };
        let x = match &b.global {
            Some(g) if self.cfg.global > 0 => Tensor::cat(&[&x, &self.p("global_in.b").addmm(g, self.p("global_in.w"))?.silu()?], 1)?,
            _ => x,
        };
        self.p("head.b1").addmm(&x, self.p("head.w1"))?.silu()
    }

    /// The prediction, `[hops, 1]` (standardised target scale).
    pub fn forward(&self, b: &Batch) -> Result<Tensor> {
        let y = self.head_hidden(b)?;
        self.p("head.b2").addmm(&y, self.p("head.w2"))
    }

    /// The prediction `[hops, 1]` and the auxiliary outputs `[hops, aux]` (`None` without
    /// [`NetConfig::aux`]), from one pass.
    pub fn forward_aux(&self, b: &Batch) -> Result<(Tensor, Option<Tensor>)> {
        let y = self.head_hidden(b)?;
        let main = self.p("head.b2").addmm(&y, self.p("head.w2"))?;
        let aux = if self.cfg.aux > 0 { Some(self.p("aux.b").addmm(&y, self.p("aux.w"))?) } else { None };
        Ok((main, aux))
    }
}

/// `exp(-gamma (x - mu_c)^2)` for `k` centres `mu_c` evenly spaced on `[lo, hi]`, width 1.5
/// spacings: `[n, 1]` values become `[n, k]` features.
fn gaussian_basis(x: &Tensor, lo: f64, hi: f64, k: usize) -> Result<Tensor> {
    let span = hi - lo;
    let width = span / k.max(2) as f64 * 1.5;
    let gamma = 1.0 / (width * width);
    let mu: Vec<f32> = (0..k).map(|c| (lo + span * c as f64 / (k - 1).max(1) as f64) as f32).collect();
    let d = x.sub(&Tensor::from_f32(&mu, &[1, k as i64], false)?)?;
    d.mul(&d)?.mul_scalar(-gamma)?.clamp_min(-60.0)?.exp()
}
