//! Graph plumbing shared by the phases: luminal node helpers, moving tensors in and
//! out, allocator tuning.

use luminal::prelude::{Graph, NodeIndex, ShapeTracker, Tensor};

use super::ops::Op;
use super::Weights;

/// Activations of a conv net at batch 128 are tens of MB; glibc serves blocks above
/// its mmap threshold (at most 32 MB) with fresh mappings, so every step would pay
/// page faults to zero them again. Raising the threshold keeps them in the heap.
pub(super) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes allocator tuning parameters.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 1 << 30);
                mallopt(M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// A flat `Vec<f32>` tracker: our ops ignore shapes, so edges carry a rank-0 tracker.
pub(super) fn flat() -> ShapeTracker {
    ShapeTracker::new(&[])
}

pub(super) fn load(cx: &mut Graph, name: &str) -> NodeIndex {
    cx.named_tensor::<()>(name).id
}

pub(super) fn node(cx: &mut Graph, op: Op, inputs: &[NodeIndex]) -> NodeIndex {
    let mut b = cx.add_op(op);
    for &i in inputs {
        b = b.input(i, 0, flat());
    }
    b.finish()
}

pub(super) fn take(cx: &mut Graph, id: NodeIndex) -> Vec<f32> {
    let t = cx
        .get_tensor(id, 0)
        .expect("graph output was not computed (was it kept?)");
    let mut t = t;
    std::mem::take(
        t.data
            .as_any_mut()
            .downcast_mut::<Vec<f32>>()
            .expect("archc tensors are Vec<f32>"),
    )
}

pub(super) fn set_weights(
    cx: &mut Graph,
    params: &[Option<NodeIndex>],
    running: &[Option<NodeIndex>],
    w: Weights,
) {
    for (id, v) in params.iter().zip(w.params) {
        if let Some(id) = id {
            cx.set_tensor(*id, 0, Tensor::new(v));
        }
    }
    for (id, v) in running.iter().zip(w.running) {
        if let Some(id) = id {
            cx.set_tensor(*id, 0, Tensor::new(v));
        }
    }
}

pub(super) fn take_weights(
    cx: &mut Graph,
    params: &[Option<NodeIndex>],
    running: &[Option<NodeIndex>],
) -> Weights {
    let grab = |cx: &mut Graph, ids: &[Option<NodeIndex>]| {
        ids.iter()
            .map(|id| id.map(|id| take(cx, id)).unwrap_or_default())
            .collect()
    };
    Weights {
        params: grab(cx, params),
        running: grab(cx, running),
    }
}
