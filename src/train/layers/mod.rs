//! Layers with explicit forward and backward passes.
//!
//! In the spirit of llm.c, every layer's `forward` returns its output together with a
//! cache of what its backward pass needs, and `backward` takes that cache explicitly,
//! accumulates parameter gradients into the layer's [`Param`](super::tensor::Param)s and
//! returns the gradient with respect to the input. Nothing is recorded implicitly, so
//! two forward passes (two modalities through shared weights) are just two caches.
//! All heavy arithmetic goes through a [`Backend`](super::backend::Backend).

pub mod activation;
pub mod attention;
pub mod ghostvlad;
pub mod linear;
pub mod norm;

pub use activation::{ActivationCache, activation_backward, activation_forward};
pub use attention::{
    AttentionCache, BlockCache, MultiHeadAttention, SequenceBatch, TransformerBlock,
};
pub use ghostvlad::{GhostVlad, GhostVladCache};
pub use linear::{Linear, LinearCache};
pub use norm::{
    BatchNorm, BatchNormCache, L2Cache, LayerNorm, LayerNormCache, l2_backward, l2_forward,
};
