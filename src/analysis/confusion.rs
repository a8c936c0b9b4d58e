//! Confusion matrices and the most-confused class pairs.

use serde::Serialize;

/// `counts[t][p]`: examples of true class `t` predicted as `p`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// One off-diagonal cell: `count` examples of `true_class` predicted as `predicted`;
/// `rate` = count / examples of `true_class`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusedPair {
    pub true_class: usize,
    pub predicted: usize,
    pub true_name: String,
    pub predicted_name: String,
    pub count: u64,
    pub rate: f64,
}

pub fn confusion(
    classes: &[String],
    labels: &[u8],
    predictions: &[u8],
) -> miette::Result<Confusion> {
    let n = classes.len();
    if labels.len() != predictions.len() {
        return Err(miette::miette!(
            "{} labels but {} predictions",
            labels.len(),
            predictions.len()
        ));
    }
    let mut counts = vec![vec![0u64; n]; n];
    for (&t, &p) in labels.iter().zip(predictions) {
        if t as usize >= n || p as usize >= n {
            return Err(miette::miette!(
                "label {t} or prediction {p} outside the {n} classes"
            ));
        }
        counts[t as usize][p as usize] += 1;
    }
    Ok(Confusion {
        classes: classes.to_vec(),
        counts,
    })
}

impl Confusion {
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
    pub fn error_rate(&self) -> f64 {
        let total = self.total();
        let right: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        if total == 0 {
            0.0
        } else {
            1.0 - right as f64 / total as f64
        }
    }
    /// Non-zero off-diagonal cells, most frequent first (ties: higher rate, then by
    /// true class, then predicted class).
    pub fn most_confused(&self, limit: usize) -> Vec<ConfusedPair> {
        let mut pairs = Vec::new();
        for (t, row) in self.counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (p, &c) in row.iter().enumerate() {
                if t != p && c > 0 {
                    pairs.push(ConfusedPair {
                        true_class: t,
                        predicted: p,
                        true_name: self.classes[t].clone(),
                        predicted_name: self.classes[p].clone(),
                        count: c,
                        rate: c as f64 / total as f64,
                    });
                }
            }
        }
        pairs.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.rate.total_cmp(&a.rate))
                .then(a.true_class.cmp(&b.true_class))
                .then(a.predicted.cmp(&b.predicted))
        });
        pairs.truncate(limit);
        pairs
    }
}
