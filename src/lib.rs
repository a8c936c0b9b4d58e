//! archc: the C×P×F architecture notation, compiled to luminal graphs and trained.
//!
//! Data flows one way: `syntax` (text → AST) → `ir` (shapes, parameters) →
//! `summary` / `lower` (luminal graph, backward, update) → `train` → `analysis`,
//! `plot`, `report`.

pub mod analysis;
pub mod atomic;
pub mod bench;
pub mod cli;
pub mod data;
pub mod ir;
pub mod kernels;
pub mod lower;
pub mod memory;
pub mod plot;
pub mod report;
pub mod summary;
pub mod syntax;
pub mod train;
