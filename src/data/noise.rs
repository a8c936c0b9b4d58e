//! Input corruption for denoising autoencoders (items 3.2a–e).

use rand_distr::{Distribution, StandardNormal};

use crate::ir::Noise;

/// Corrupts `x` in place.
/// - `Mask { keep }`: x̃ᵢ = xᵢ·ξᵢ with ξᵢ = 1 with probability `keep` (else 0), so
///   `keep = 0.75` zeroes about 25% of the inputs.
/// - `Gaussian { sigma, clip }`: x̃ᵢ = xᵢ + ξᵢ, ξᵢ ~ N(0, σ²) (additive, as the text says),
///   clipped to [0, 1] when `clip`.
pub fn apply_noise(noise: &Noise, x: &mut [f32], rng: &mut impl rand::Rng) {
    match *noise {
        Noise::Mask { keep } => {
            for v in x.iter_mut() {
                // gen::<f32>() is uniform in [0, 1): P(u < keep) = keep.
                if rng.gen::<f32>() >= keep {
                    *v = 0.0;
                }
            }
        }
        Noise::Gaussian { sigma, clip } => {
            for v in x.iter_mut() {
                let z: f32 = StandardNormal.sample(rng);
                let y = *v + sigma * z;
                *v = if clip { y.clamp(0.0, 1.0) } else { y };
            }
        }
    }
}
