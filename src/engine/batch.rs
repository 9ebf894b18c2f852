//! Packing sentences into batches by padded size, as CTranslate2's `rebatch_input` does.
//!
//! A batch costs what its padded rectangle costs: `sentences × longest`. Sorting longest first
//! and filling each batch up to a token budget keeps the padding small and the matrices large;
//! the caller restores the input order from the indices the batches carry.

/// Indices into the input, grouped into batches, longest sentences first.
///
/// Each batch satisfies `batch.len() · longest ≤ batch_tokens` and `batch.len() ≤ max_sentences`,
/// except that a sentence longer than the budget still gets a batch of its own. Entries of length 0 are left out (the caller
/// answers them without running a model). Equal lengths keep their input order, so the packing is
/// deterministic.
pub fn pack(lengths: &[usize], batch_tokens: usize, max_sentences: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).filter(|&i| lengths[i] > 0).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for index in order {
        let len = lengths[index];
        // Sorted longest first, so the first sentence of a batch sets its padded width.
        let width = if current.is_empty() { len } else { longest };
        if !current.is_empty()
            && ((current.len() + 1) * width > batch_tokens || current.len() >= max_sentences)
        {
            batches.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            longest = len;
        }
        current.push(index);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Runs `run` on each batch of [`pack`] and returns its results in input order; entries of length
/// 0 get `empty(index)`.
///
/// `run` receives the input indices of one batch and must return one result per index, in order.
pub fn run_in_order<T, E>(
    lengths: &[usize],
    batch_tokens: usize,
    max_sentences: usize,
    mut empty: impl FnMut(usize) -> T,
    mut run: impl FnMut(&[usize]) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, E> {
    let mut results: Vec<Option<T>> = (0..lengths.len()).map(|_| None).collect();
    for batch in pack(lengths, batch_tokens, max_sentences) {
        let outputs = run(&batch)?;
        for (index, output) in batch.into_iter().zip(outputs) {
            results[index] = Some(output);
        }
    }
    Ok(results
        .into_iter()
        .enumerate()
        .map(|(index, result)| result.unwrap_or_else(|| empty(index)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_longest_first_within_budget() {
        let lengths = [3, 10, 0, 4, 10, 2];
        let batches = pack(&lengths, 20, usize::MAX);
        assert_eq!(batches, vec![vec![1, 4], vec![3, 0, 5]]);
        for batch in &batches {
            let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(batch.len() * longest <= 20);
        }
    }

    #[test]
    fn oversized_sentence_gets_its_own_batch() {
        assert_eq!(pack(&[50, 5, 5], 20, 8), vec![vec![0], vec![1, 2]]);
        assert_eq!(pack(&[5, 5], 1, 8), vec![vec![0], vec![1]]);
    }

    #[test]
    fn sentence_cap_splits_batches() {
        assert_eq!(
            pack(&[1, 1, 1, 1, 1], 100, 2),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
    }

    #[test]
    fn results_come_back_in_input_order() {
        let lengths = [1, 3, 0, 2];
        let out: Result<Vec<String>, ()> = run_in_order(
            &lengths,
            4,
            8,
            |i| format!("empty{i}"),
            |batch| Ok(batch.iter().map(|i| format!("s{i}")).collect()),
        );
        assert_eq!(out.unwrap(), vec!["s0", "s1", "empty2", "s3"]);
    }
}
