//! Graphs of hops for the graph network, built in Rust (rayon) and cached per process.
//!
//! Three inputs ([`Input`]):
//!
//! * **band** (MODEL-3): the host plus the mobile ion at the initial site, the three linearly
//!   interpolated images and the final site, each of the five marked by its own flag;
//! * **centroid** (LiTraj / the pre-training proposal): the host plus an `X` node at the hop
//!   midpoint; the mobile ion itself is left out;
//! * **endpoints** (MODEL-1 / MODEL-2): two graphs per hop, the host with the ion at the
//!   initial site and the host with the ion at the final site.
//!
//! Every node carries its atomic number (0 for `X`) and [`NODE_FEATURES`] floats: six flags
//! (host, initial, image 1, image 2, image 3, final), the `X` flag, and the distance to the hop
//! midpoint in units of 10 A. Edges run from a neighbour `j` to a centre `i` when
//! `d(i, j) <= cutoff`, keeping the `max_neighbors` nearest per centre (all when 0); each edge
//! stores its length and its vector (centre to neighbour, periodic image included).
//!
//! With [`GraphConfig::line_graph`] the graph also carries the bond-angle line graph of ALIGNN:
//! its nodes are the edges, and two edges that meet at the same centre `i` (`j -> i` and
//! `k -> i`, `j != k`) are joined in both directions, labelled with the cosine of the angle
//! `j-i-k`. A centre with `k` incoming edges gives `k (k - 1)` line-graph edges
//! ([`GraphConfig::line_neighbors`] caps `k` at the nearest edges of the centre).
//!
//! Two geometries ([`GraphConfig::radius`]):
//!
//! * **local** (`radius > 0`, the default): a finite cluster of the host atom images within
//!   `radius` of any path point (the five band points, or the midpoint for the centroid input),
//!   found with [`PointLocator`], plus the path nodes; edges among the cluster;
//! * **periodic** (`radius = 0`): every site of the cell once, edges to all periodic images
//!   within the cutoff from [`NeighborList`] (minimum image and beyond).

use crate::record::{HopRecord, BAND_POINTS};
use crate::structure::neighbors::{NeighborList, PointLocator};
use crate::structure::{add, norm, sub, Structure, Vec3};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Float features per node: 6 path flags, the `X` flag, distance to the midpoint / 10 A.
pub const NODE_FEATURES: usize = 8;

/// Which structure(s) a hop becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Input {
    /// Host + ion at initial, 3 images, final.
    Band,
    /// Host + `X` at the midpoint.
    Centroid,
    /// Two graphs: ion at the initial site, ion at the final site.
    Endpoints,
}

/// Graph construction settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphConfig {
    /// Input kind.
    pub input: Input,
    /// Edge cutoff (A).
    pub cutoff: f64,
    /// Cluster radius around the path (A); 0 for the whole periodic cell.
    pub radius: f64,
    /// Nearest neighbours kept per centre (0 = all within the cutoff).
    pub max_neighbors: usize,
    /// Build the bond-angle line graph too (ALIGNN).
    pub line_graph: bool,
    /// Angles only among the nearest `line_neighbors` edges of each centre (0 = all of them).
    pub line_neighbors: usize,
}

impl GraphConfig {
    fn key(&self) -> String {
        format!("{:?}|{}|{}|{}|{}|{}", self.input, self.cutoff, self.radius, self.max_neighbors, self.line_graph, self.line_neighbors)
    }
}

/// One graph: nodes with atomic numbers and features, directed edges with distances.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// Atomic number per node (0 for the `X` node).
    pub z: Vec<i64>,
    /// `NODE_FEATURES` floats per node, row-major.
    pub feat: Vec<f32>,
    /// Cartesian position per node (A), for inspection and tests.
    pub pos: Vec<Vec3>,
    /// Edge sources (the neighbour).
    pub src: Vec<i64>,
    /// Edge destinations (the centre that receives the message).
    pub dst: Vec<i64>,
    /// Edge lengths (A).
    pub dist: Vec<f32>,
    /// Edge vectors (A), from the centre (`dst`) to the neighbour image (`src`).
    pub vec: Vec<[f32; 3]>,
    /// Line-graph edge sources: the edge whose state is sent (empty without the line graph).
    pub line_src: Vec<i64>,
    /// Line-graph edge destinations: the edge that receives it (same centre as the source).
    pub line_dst: Vec<i64>,
    /// Cosine of the angle between the two edges of each line-graph edge.
    pub cos: Vec<f32>,
}

impl Graph {
    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.z.len()
    }

    /// Number of directed edges.
    pub fn edges(&self) -> usize {
        self.src.len()
    }

    /// Number of line-graph edges (angle triplets).
    pub fn triplets(&self) -> usize {
        self.line_src.len()
    }

    /// Join every two edges that end at the same centre (both directions), with the cosine of
    /// their angle: the line graph of [`GraphConfig::line_graph`]. With `nearest > 0`, only
    /// the `nearest` shortest edges of each centre take part (the edges of a centre are stored
    /// nearest first).
    fn add_line_graph(&mut self, nearest: usize) {
        let mut by_centre: Vec<Vec<usize>> = vec![Vec::new(); self.nodes()];
        for (e, &d) in self.dst.iter().enumerate() {
            let list = &mut by_centre[d as usize];
            if nearest == 0 || list.len() < nearest {
                list.push(e);
            }
        }
        // Destination-major order: the line-graph edges come sorted by the edge they feed.
        for edges in &by_centre {
            for &b in edges {
                for &a in edges {
                    if a == b {
                        continue;
                    }
                    let (u, v) = (self.vec[a], self.vec[b]);
                    let dot = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
                    let len = (self.dist[a] * self.dist[b]).max(1e-6);
                    self.line_src.push(a as i64);
                    self.line_dst.push(b as i64);
                    self.cos.push((dot / len).clamp(-1.0, 1.0));
                }
            }
        }
    }
}

/// The graphs of one hop: one, or two for [`Input::Endpoints`].
pub type HopGraphs = Vec<Graph>;

#[derive(Clone, Copy, PartialEq)]
enum Marker {
    Host,
    Path(usize),
    X,
}

struct Node {
    z: i64,
    marker: Marker,
    pos: Vec3,
}

fn features(marker: Marker, d_mid: f64) -> [f32; NODE_FEATURES] {
    let mut f = [0f32; NODE_FEATURES];
    match marker {
        Marker::Host => f[0] = 1.0,
        Marker::Path(k) => f[1 + k] = 1.0,
        Marker::X => f[6] = 1.0,
    }
    f[7] = (d_mid / 10.0) as f32;
    f
}

/// The path nodes of one graph of a hop: (marker, fractional position).
fn path_nodes(r: &HopRecord, input: Input, which: usize) -> Vec<(Marker, Vec3)> {
    match input {
        Input::Band => r.band_positions().iter().enumerate().map(|(k, p)| (Marker::Path(k), *p)).collect(),
        Input::Centroid => vec![(Marker::X, r.centroid())],
        Input::Endpoints => {
            if which == 0 {
                vec![(Marker::Path(0), r.initial)]
            } else {
                vec![(Marker::Path(BAND_POINTS - 1), r.final_site)]
            }
        }
    }
}

/// Build the graph(s) of one hop in its host.
pub fn build_hop(r: &HopRecord, host: &Structure, cfg: &GraphConfig) -> HopGraphs {
    let n_graphs = if cfg.input == Input::Endpoints { 2 } else { 1 };
    let mid = host.lattice.to_cart(r.centroid());
    let locator = (cfg.radius > 0.0).then(|| PointLocator::new(host, cfg.radius));
    let nl = (cfg.radius <= 0.0).then(|| {
        // The host part of the periodic graph does not depend on the path: one list per hop.
        NeighborList::build(host, cfg.cutoff)
    });
    (0..n_graphs)
        .map(|which| {
            let path = path_nodes(r, cfg.input, which);
            let z_of = |m: Marker| if m == Marker::X { 0 } else { r.ion.z() as i64 };
            match &locator {
                Some(loc) => local_graph(r, host, cfg, loc, &path, mid, z_of),
                None => periodic_graph(host, cfg, nl.as_ref().expect("list"), &path, mid, z_of),
            }
        })
        .collect()
}

fn local_graph(
    r: &HopRecord,
    host: &Structure,
    cfg: &GraphConfig,
    loc: &PointLocator,
    path: &[(Marker, Vec3)],
    mid: Vec3,
    z_of: impl Fn(Marker) -> i64,
) -> Graph {
    let _ = r;
    let mut nodes: Vec<Node> = path.iter().map(|(m, f)| Node { z: z_of(*m), marker: *m, pos: host.lattice.to_cart(*f) }).collect();
    // Cluster centres: every band point, so the cluster is the same for all inputs of a hop.
    let centres: Vec<Vec3> = r.band_positions().iter().map(|f| host.lattice.to_cart(*f)).collect();
    let mut seen: HashSet<(usize, [i32; 3])> = HashSet::new();
    let mut buf = Vec::new();
    let mut host_nodes: Vec<(usize, [i32; 3], Vec3)> = Vec::new();
    for c in &centres {
        loc.within_into(*c, cfg.radius, &mut buf);
        for nb in &buf {
            if seen.insert((nb.index, nb.image)) {
                host_nodes.push((nb.index, nb.image, add(*c, nb.vector)));
            }
        }
    }
    host_nodes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (i, _, p) in host_nodes {
        nodes.push(Node { z: host.species[i].z() as i64, marker: Marker::Host, pos: p });
    }
    // Edges: brute force over the cluster (a few hundred nodes at most).
    let n = nodes.len();
    let mut g = start_graph(&nodes, mid);
    let mut cand: Vec<(f64, usize, Vec3)> = Vec::new();
    for i in 0..n {
        cand.clear();
        for (j, nj) in nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let v = sub(nj.pos, nodes[i].pos);
            let d = norm(v);
            if d <= cfg.cutoff {
                cand.push((d, j, v));
            }
        }
        push_edges(&mut g, i, &mut cand, cfg.max_neighbors);
    }
    if cfg.line_graph {
        g.add_line_graph(cfg.line_neighbors);
    }
    g
}

fn periodic_graph(host: &Structure, cfg: &GraphConfig, nl: &NeighborList, path: &[(Marker, Vec3)], mid: Vec3, z_of: impl Fn(Marker) -> i64) -> Graph {
    let np = path.len();
    let mut nodes: Vec<Node> = path.iter().map(|(m, f)| Node { z: z_of(*m), marker: *m, pos: host.lattice.to_cart(*f) }).collect();
    for (i, f) in host.frac.iter().enumerate() {
        nodes.push(Node { z: host.species[i].z() as i64, marker: Marker::Host, pos: host.lattice.to_cart(*f) });
    }
    // Path nodes see host atoms (and each other) through a point locator over the combined cell.
    let mut all = host.clone();
    let mut frac: Vec<Vec3> = path.iter().map(|(_, f)| *f).collect();
    frac.extend_from_slice(&host.frac);
    all.frac = frac;
    all.species = nodes.iter().map(|_| host.species.first().copied().expect("non-empty host")).collect();
    let loc = PointLocator::new(&all, cfg.cutoff);
    // The path points alone, so host atoms find every periodic image of them.
    let path_only = Structure { lattice: host.lattice.clone(), species: all.species[..np].to_vec(), frac: all.frac[..np].to_vec() };
    let path_loc = PointLocator::new(&path_only, cfg.cutoff);
    let mut g = start_graph(&nodes, mid);
    let mut cand: Vec<(f64, usize, Vec3)> = Vec::new();
    let mut buf = Vec::new();
    for i in 0..nodes.len() {
        cand.clear();
        if i < np {
            loc.within_into(nodes[i].pos, cfg.cutoff, &mut buf);
            for nb in &buf {
                if nb.index == i && nb.image == [0, 0, 0] {
                    continue;
                }
                cand.push((nb.distance, nb.index, nb.vector));
            }
        } else {
            for nb in nl.of(i - np) {
                cand.push((nb.distance, nb.index + np, nb.vector));
            }
            path_loc.within_into(nodes[i].pos, cfg.cutoff, &mut buf);
            for nb in &buf {
                cand.push((nb.distance, nb.index, nb.vector));
            }
        }
        push_edges(&mut g, i, &mut cand, cfg.max_neighbors);
    }
    if cfg.line_graph {
        g.add_line_graph(cfg.line_neighbors);
    }
    g
}

fn start_graph(nodes: &[Node], mid: Vec3) -> Graph {
    let mut g = Graph::default();
    for nd in nodes {
        g.z.push(nd.z);
        g.feat.extend_from_slice(&features(nd.marker, norm(sub(nd.pos, mid))));
        g.pos.push(nd.pos);
    }
    g
}

fn push_edges(g: &mut Graph, i: usize, cand: &mut [(f64, usize, Vec3)], max_neighbors: usize) {
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let keep = if max_neighbors == 0 { cand.len() } else { max_neighbors.min(cand.len()) };
    for &(d, j, v) in &cand[..keep] {
        g.src.push(j as i64);
        g.dst.push(i as i64);
        g.dist.push(d as f32);
        g.vec.push([v[0] as f32, v[1] as f32, v[2] as f32]);
    }
}

/// Process-wide cache of built graphs, keyed by graph settings and record id.
static CACHE: Mutex<Option<HashMap<String, std::sync::Arc<HopGraphs>>>> = Mutex::new(None);

/// Graphs for many hops, built in parallel (rayon) and cached for the life of the process
/// (training folds and seeds reuse them). `hosts` maps host ids to structures.
pub fn build_many(records: &[HopRecord], hosts: &HashMap<String, Structure>, cfg: &GraphConfig) -> Result<Vec<std::sync::Arc<HopGraphs>>, String> {
    use rayon::prelude::*;
    let prefix = cfg.key();
    let cached: Vec<Option<std::sync::Arc<HopGraphs>>> = {
        let guard = CACHE.lock().expect("graph cache");
        records.iter().map(|r| guard.as_ref().and_then(|m| m.get(&format!("{prefix}|{}", r.id)).cloned())).collect()
    };
    let built: Vec<Result<std::sync::Arc<HopGraphs>, String>> = records
        .par_iter()
        .zip(cached.into_par_iter())
        .map(|(r, c)| match c {
            Some(g) => Ok(g),
            None => {
                let host = hosts.get(&r.host.0).ok_or_else(|| format!("record {}: host {} not loaded", r.id, r.host.0))?;
                Ok(std::sync::Arc::new(build_hop(r, host, cfg)))
            }
        })
        .collect();
    let built: Vec<std::sync::Arc<HopGraphs>> = built.into_iter().collect::<Result<_, _>>()?;
    let mut guard = CACHE.lock().expect("graph cache");
    let map = guard.get_or_insert_with(HashMap::new);
    for (r, g) in records.iter().zip(&built) {
        map.entry(format!("{prefix}|{}", r.id)).or_insert_with(|| g.clone());
    }
    Ok(built)
}
