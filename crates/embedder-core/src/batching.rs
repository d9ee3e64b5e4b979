//! Length-sorted batching: texts of similar length share a batch, so little compute is spent on
//! padding. Results are written back by input index, so callers see input order.

use crate::runtime::BatchInputs;
use crate::tokenize::TokenizedText;

/// Groups input indices into batches, longest texts first. A batch holds at most `max_rows`
/// texts and, when `max_tokens` is set, at most `max_tokens` padded tokens (rows × longest);
/// a single text longer than the budget still gets a batch of its own.
pub fn plan_batches(lengths: &[usize], max_rows: usize, max_tokens: Option<usize>) -> Vec<Vec<usize>> {
    let max_rows = max_rows.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // stable, so equal lengths keep input order
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for i in order {
        let fits_rows = current.len() < max_rows;
        let fits_tokens = max_tokens.is_none_or(|budget| (current.len() + 1) * longest.max(lengths[i]) <= budget);
        let fits = fits_rows && fits_tokens;
        if !fits && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            longest = lengths[i];
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Pads the given texts to the longest of them (pad id 0, mask 0 on padding).
pub fn pad(texts: &[&TokenizedText]) -> BatchInputs {
    let rows = texts.len();
    let seq = texts.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut input_ids = vec![0i64; rows * seq];
    let mut attention_mask = vec![0i64; rows * seq];
    let mut token_type_ids = vec![0i64; rows * seq];
    for (r, t) in texts.iter().enumerate() {
        let row = r * seq;
        for (j, (&id, &ty)) in t.ids.iter().zip(&t.type_ids).enumerate() {
            input_ids[row + j] = id as i64;
            token_type_ids[row + j] = ty as i64;
            attention_mask[row + j] = 1;
        }
    }
    BatchInputs { rows, seq, input_ids, attention_mask, token_type_ids }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_sorted_longest_first_and_capped_by_rows() {
        let lengths = [3, 10, 5, 10, 1];
        assert_eq!(plan_batches(&lengths, 2, None), vec![vec![1, 3], vec![2, 0], vec![4]]);
    }

    #[test]
    fn every_index_appears_once() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 7919) % 257 + 2).collect();
        let mut seen: Vec<usize> = plan_batches(&lengths, 32, Some(2048)).into_iter().flatten().collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn token_budget_caps_padded_tokens() {
        let lengths = [100, 100, 100, 10, 10, 10, 10];
        let batches = plan_batches(&lengths, 32, Some(250));
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4, 5, 6]]);
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() * longest <= 250);
        }
        // a text over the budget still goes through, alone
        assert_eq!(plan_batches(&[500, 5], 32, Some(100)), vec![vec![0], vec![1]]);
    }

    #[test]
    fn empty_input_gives_no_batches() {
        assert!(plan_batches(&[], 32, None).is_empty());
    }

    #[test]
    fn pad_masks_padding() {
        let a = TokenizedText { ids: vec![101, 7, 102], type_ids: vec![0, 0, 0] };
        let b = TokenizedText { ids: vec![101, 102], type_ids: vec![0, 0] };
        let batch = pad(&[&a, &b]);
        assert_eq!((batch.rows, batch.seq), (2, 3));
        assert_eq!(batch.input_ids, vec![101, 7, 102, 101, 102, 0]);
        assert_eq!(batch.attention_mask, vec![1, 1, 1, 1, 1, 0]);
    }
}
