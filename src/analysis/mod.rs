//! Analysis of datasets, codes and trained runs: kNN, PCA, t-SNE, confusion matrices,
//! and readers for the files `archc train` writes.

pub mod ae_vs_pca;
pub mod code_units;
pub mod confusion;
pub mod io;
pub mod knn;
pub mod linalg;
pub mod pca;
pub mod recipes;
pub mod tsne;
pub mod tsne_bh;
