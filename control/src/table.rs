//! Metric tables on a terminal: the header and cells that `coordinator
//! watch` and `worker train --standalone` both print, so their columns line
//! up the same way.

/// The header cells of a metrics table, right-aligned to `width`.
pub fn metric_header(columns: &[&str], width: usize) -> String {
    columns.iter().map(|c| format!(" {c:>width$}")).collect()
}

/// One row's cells: each metric with 4 decimals, `-` when missing.
pub fn metric_cells(columns: &[&str], width: usize, value: impl Fn(&str) -> Option<f64>) -> String {
    columns
        .iter()
        .map(|c| match value(c) {
            Some(v) => format!(" {v:>width$.4}"),
            None => format!(" {:>width$}", "-"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_line_up_with_the_header() {
        let cols = ["ndcg@10", "auc"];
        let header = metric_header(&cols, 8);
        let cells = metric_cells(&cols, 8, |c| (c == "auc").then_some(0.5));
        assert_eq!(header.len(), cells.len());
        assert!(cells.ends_with("  0.5000") && cells.contains('-'), "{cells:?}");
    }
}
