//! TF-IDF vectors, computed as scikit-learn's `TfidfVectorizer` computes them with its defaults:
//! lowercase, token pattern `(?u)\b\w\w+\b`, smooth idf `ln((1 + n) / (1 + df)) + 1`, raw term
//! counts, l2 normalisation, columns in sorted vocabulary order, and `max_features` keeping the
//! terms most frequent over the whole corpus.
//!
//! One difference is deliberate: scikit-learn breaks ties between equally frequent terms at the
//! `max_features` cut-off with numpy's unstable `argsort`, whose order depends on the CPU (on an
//! AVX-512 machine numpy sorts with x86-simd-sort, elsewhere with introsort, and the kept terms
//! differ). We keep the tied terms that come first in sorted vocabulary order, which is what
//! scikit-learn gives when the sort is stable. Give `vocabulary` to reproduce a particular
//! scikit-learn vocabulary exactly.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::error::{Error, Result};

/// How to fit; the defaults are scikit-learn's `TfidfVectorizer()` defaults.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TfidfOptions {
    /// Keep only the `max_features` terms most frequent over the corpus (default: all terms).
    pub max_features: Option<usize>,
    /// Lowercase texts before tokenizing (default true).
    pub lowercase: bool,
    /// Drop terms found in fewer than `min_df` documents (a count, default 1).
    pub min_df: usize,
    /// `ln((1 + n) / (1 + df)) + 1` when true (default), `ln(n / df) + 1` when false.
    pub smooth_idf: bool,
    /// Use `1 + ln(tf)` instead of the raw count `tf` (default false).
    pub sublinear_tf: bool,
    /// A fixed vocabulary, in column order; `max_features` and `min_df` then do not apply (as in
    /// scikit-learn). The idf is still fitted on the corpus.
    pub vocabulary: Option<Vec<String>>,
}

impl Default for TfidfOptions {
    fn default() -> Self {
        TfidfOptions { max_features: None, lowercase: true, min_df: 1, smooth_idf: true, sublinear_tf: false, vocabulary: None }
    }
}

impl TfidfOptions {
    pub fn with_max_features(mut self, max_features: Option<usize>) -> Self {
        self.max_features = max_features;
        self
    }

    pub fn with_lowercase(mut self, lowercase: bool) -> Self {
        self.lowercase = lowercase;
        self
    }

    pub fn with_min_df(mut self, min_df: usize) -> Self {
        self.min_df = min_df;
        self
    }

    pub fn with_smooth_idf(mut self, smooth_idf: bool) -> Self {
        self.smooth_idf = smooth_idf;
        self
    }

    pub fn with_sublinear_tf(mut self, sublinear_tf: bool) -> Self {
        self.sublinear_tf = sublinear_tf;
        self
    }

    pub fn with_vocabulary(mut self, vocabulary: Option<Vec<String>>) -> Self {
        self.vocabulary = vocabulary;
        self
    }
}

/// Python's `\w` for `str` patterns is `str.isalnum()` or `_`: the letter categories (Lu, Ll, Lt,
/// Lm, Lo) and characters with a numeric value (Nd, Nl, No), but not combining marks, which the
/// regex crate's `\w` would include. Since `\b` is defined by `\w`, `\b\w\w+\b` matches exactly
/// the maximal runs of such characters that are at least two characters long.
fn word_runs() -> &'static Regex {
    static WORD_RUNS: OnceLock<Regex> = OnceLock::new();
    WORD_RUNS.get_or_init(|| Regex::new(r"[\p{L}\p{N}_]+").expect("a valid pattern. This is a bug."))
}

/// The tokens of `text` under scikit-learn's default token pattern `(?u)\b\w\w+\b`, in order.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    word_runs().find_iter(text).map(|m| m.as_str()).filter(|t| t.chars().nth(1).is_some())
}

fn preprocess(text: &str, lowercase: bool) -> Cow<'_, str> {
    // Python's str.lower(): full Unicode lowercasing, final sigma included, as Rust's.
    if lowercase {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// How often a term occurs in a corpus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TermCount {
    /// Occurrences over all documents.
    pub total: u64,
    /// Documents it occurs in.
    pub documents: u64,
}

/// Every term of `corpus` with its counts, in sorted (code point) order, as scikit-learn sorts
/// its vocabulary.
pub fn term_counts<S: AsRef<str>>(corpus: &[S], lowercase: bool) -> Vec<(String, TermCount)> {
    let mut counts: HashMap<String, TermCount> = HashMap::new();
    for doc in corpus {
        let text = preprocess(doc.as_ref(), lowercase);
        let mut in_doc: HashMap<&str, u64> = HashMap::new();
        for token in tokens(&text) {
            *in_doc.entry(token).or_insert(0) += 1;
        }
        for (token, n) in in_doc {
            if let Some(c) = counts.get_mut(token) {
                c.total += n;
                c.documents += 1;
            } else {
                counts.insert(token.to_string(), TermCount { total: n, documents: 1 });
            }
        }
    }
    let mut terms: Vec<(String, TermCount)> = counts.into_iter().collect();
    terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    terms
}

/// A fitted TF-IDF model: the vocabulary (column order) and the idf of each column.
#[derive(Clone, Debug)]
pub struct Tfidf {
    options: TfidfOptions,
    vocabulary: Vec<String>,
    columns: HashMap<String, usize>,
    idf: Vec<f64>,
}

impl Tfidf {
    /// Builds the vocabulary and idf from `corpus`, as `TfidfVectorizer.fit` does.
    pub fn fit<S: AsRef<str>>(corpus: &[S], options: &TfidfOptions) -> Result<Self> {
        if corpus.is_empty() {
            return Err(Error::InvalidData("the corpus is empty; fit needs at least one document".into()));
        }
        let n = corpus.len() as u64;
        let (vocabulary, document_counts): (Vec<String>, Vec<u64>) = match &options.vocabulary {
            Some(fixed) => {
                check_vocabulary(fixed)?;
                let counts: HashMap<String, TermCount> = term_counts(corpus, options.lowercase).into_iter().collect();
                (fixed.clone(), fixed.iter().map(|t| counts.get(t).map_or(0, |c| c.documents)).collect())
            }
            None => select_terms(term_counts(corpus, options.lowercase), options)?.into_iter().map(|(t, c)| (t, c.documents)).unzip(),
        };
        let idf = document_counts
            .iter()
            .zip(&vocabulary)
            .map(|(&df, term)| {
                let s = u64::from(options.smooth_idf);
                if df + s == 0 {
                    return Err(Error::InvalidData(format!(
                        "the vocabulary term {term:?} occurs in no document; its idf is infinite without smoothIdf"
                    )));
                }
                Ok(((n + s) as f64 / (df + s) as f64).ln() + 1.0)
            })
            .collect::<Result<Vec<f64>>>()?;
        Tfidf::from_parts(vocabulary, idf, TfidfOptions { vocabulary: None, ..options.clone() })
    }

    /// A fitted model from its parts, as saved by `vocabulary()` and `idf()`.
    pub fn from_parts(vocabulary: Vec<String>, idf: Vec<f64>, options: TfidfOptions) -> Result<Self> {
        check_vocabulary(&vocabulary)?;
        if idf.len() != vocabulary.len() {
            return Err(Error::InvalidData(format!("{} idf values for {} vocabulary terms", idf.len(), vocabulary.len())));
        }
        if let Some(i) = idf.iter().position(|x| !x.is_finite() || *x <= 0.0) {
            return Err(Error::InvalidData(format!("idf {i} ({}) is not a positive number", idf[i])));
        }
        let columns = vocabulary.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        Ok(Tfidf { options: TfidfOptions { vocabulary: None, ..options }, vocabulary, columns, idf })
    }

    pub fn dimension(&self) -> usize {
        self.vocabulary.len()
    }

    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    pub fn options(&self) -> &TfidfOptions {
        &self.options
    }

    /// The non-zero weights of `text`, by column: term count (or `1 + ln` of it) times idf, l2
    /// normalised. Empty when no vocabulary term occurs.
    pub fn weights(&self, text: &str) -> Vec<(usize, f64)> {
        let text = preprocess(text, self.options.lowercase);
        let mut counts: HashMap<usize, u32> = HashMap::new();
        for token in tokens(&text) {
            if let Some(&column) = self.columns.get(token) {
                *counts.entry(column).or_insert(0) += 1;
            }
        }
        let mut weights: Vec<(usize, f64)> = counts
            .into_iter()
            .map(|(column, count)| {
                let tf = if self.options.sublinear_tf { (count as f64).ln() + 1.0 } else { count as f64 };
                (column, tf * self.idf[column])
            })
            .collect();
        weights.sort_unstable_by_key(|&(column, _)| column);
        let norm = weights.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut weights {
                *w /= norm;
            }
        }
        weights
    }

    /// Dense vectors of `dimension()` values, one per text, row after row.
    pub fn transform<S: AsRef<str>>(&self, texts: &[S]) -> Vec<f32> {
        let dimension = self.dimension();
        let mut out = vec![0.0f32; texts.len() * dimension];
        for (row, text) in texts.iter().enumerate() {
            for (column, w) in self.weights(text.as_ref()) {
                out[row * dimension + column] = w as f32;
            }
        }
        out
    }
}

fn check_vocabulary(vocabulary: &[String]) -> Result<()> {
    if vocabulary.is_empty() {
        return Err(Error::InvalidData("the vocabulary is empty".into()));
    }
    let mut seen = HashMap::with_capacity(vocabulary.len());
    for (i, term) in vocabulary.iter().enumerate() {
        if let Some(first) = seen.insert(term.as_str(), i) {
            return Err(Error::InvalidData(format!("the vocabulary has {term:?} twice (terms {first} and {i})")));
        }
    }
    Ok(())
}

/// scikit-learn's `_limit_features`: drop terms below `min_df`, then keep the `max_features` most
/// frequent (ties: earlier in sorted order first), still in sorted order.
fn select_terms(terms: Vec<(String, TermCount)>, options: &TfidfOptions) -> Result<Vec<(String, TermCount)>> {
    if terms.is_empty() {
        return Err(Error::InvalidData("no document has a term (two or more word characters); the vocabulary would be empty".into()));
    }
    let mut kept: Vec<(String, TermCount)> = terms.into_iter().filter(|(_, c)| c.documents >= options.min_df as u64).collect();
    if kept.is_empty() {
        return Err(Error::InvalidData(format!("no term occurs in {} or more documents; lower minDf", options.min_df)));
    }
    if let Some(limit) = options.max_features.filter(|&l| l < kept.len()) {
        let mut order: Vec<usize> = (0..kept.len()).collect();
        order.sort_by(|&a, &b| kept[b].1.total.cmp(&kept[a].1.total));
        let mut keep = vec![false; kept.len()];
        for &i in &order[..limit] {
            keep[i] = true;
        }
        let mut flags = keep.into_iter();
        kept.retain(|_| flags.next().unwrap_or(false));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<&str> {
        tokens(text).collect()
    }

    #[test]
    fn tokens_follow_the_python_word_pattern() {
        assert_eq!(toks("Hello, World! a b2 x_y"), vec!["Hello", "World", "b2", "x_y"]);
        assert_eq!(toks("naïve café — déjà vu"), vec!["naïve", "café", "déjà", "vu"]);
        assert_eq!(toks("東京は日本の首都です。"), vec!["東京は日本の首都です"]);
        // Superscripts and fractions have numeric values (Python's isnumeric), so they are word
        // characters; combining marks are not, and split a word as they do in Python.
        assert_eq!(toks("x² ½a"), vec!["x²", "½a"]);
        assert_eq!(toks("cafe\u{301}s"), vec!["cafe"]);
        assert_eq!(toks("🚀🔥 ok"), vec!["ok"]);
    }

    #[test]
    fn lowercasing_is_full_unicode() {
        assert_eq!(preprocess("ΟΔΟΣ İ", true), "οδος i\u{307}");
        assert_eq!(preprocess("ABC", false), "ABC");
    }

    #[test]
    fn fits_idf_and_weights_like_scikit_learn() {
        // By hand: n = 3; "the" in 3 docs → idf ln(4/4) + 1 = 1; "cat" in 2 → ln(4/3) + 1;
        // "dog" and "sat" in 1 → ln(4/2) + 1.
        let corpus = ["The cat sat", "the dog", "THE CAT"];
        let tfidf = Tfidf::fit(&corpus, &TfidfOptions::default()).unwrap();
        assert_eq!(tfidf.vocabulary(), ["cat", "dog", "sat", "the"]);
        let expected_idf = [(4.0f64 / 3.0).ln() + 1.0, 2f64.ln() + 1.0, 2f64.ln() + 1.0, 1.0];
        for (got, want) in tfidf.idf().iter().zip(expected_idf) {
            assert!((got - want).abs() < 1e-15);
        }
        let w = tfidf.weights("the cat the");
        let (c, t) = (expected_idf[0], 2.0);
        let norm = (c * c + t * t).sqrt();
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].0, w[1].0), (0, 3));
        assert!((w[0].1 - c / norm).abs() < 1e-15 && (w[1].1 - t / norm).abs() < 1e-15);
        assert!(tfidf.weights("unknown words only").is_empty());
        let dense = tfidf.transform(&["dog", ""]);
        assert_eq!(dense, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn unsmoothed_and_sublinear_variants() {
        let corpus = ["aa aa aa bb", "bb"];
        let options = TfidfOptions::default().with_smooth_idf(false).with_sublinear_tf(true);
        let tfidf = Tfidf::fit(&corpus, &options).unwrap();
        assert!((tfidf.idf()[0] - (2f64.ln() + 1.0)).abs() < 1e-15);
        assert_eq!(tfidf.idf()[1], 1.0);
        let w = tfidf.weights("aa aa aa bb");
        let a = (3f64.ln() + 1.0) * (2f64.ln() + 1.0);
        assert!((w[0].1 - a / (a * a + 1.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn max_features_keeps_the_most_frequent_and_breaks_ties_in_sorted_order() {
        // totals: aa 3, bb 2, cc 2, dd 2, ee 1
        let corpus = ["aa bb cc", "aa dd dd", "aa bb cc ee"];
        let tfidf = Tfidf::fit(&corpus, &TfidfOptions::default().with_max_features(Some(3))).unwrap();
        assert_eq!(tfidf.vocabulary(), ["aa", "bb", "cc"]);
        let tfidf = Tfidf::fit(&corpus, &TfidfOptions::default().with_min_df(2)).unwrap();
        assert_eq!(tfidf.vocabulary(), ["aa", "bb", "cc"]);
        let tfidf = Tfidf::fit(&corpus, &TfidfOptions::default().with_max_features(Some(99))).unwrap();
        assert_eq!(tfidf.dimension(), 5);
    }

    #[test]
    fn a_fixed_vocabulary_keeps_its_order() {
        let vocabulary = vec!["dd".to_string(), "aa".to_string(), "zz".to_string()];
        let options = TfidfOptions::default().with_vocabulary(Some(vocabulary.clone())).with_max_features(Some(1));
        let tfidf = Tfidf::fit(&["aa dd", "aa"], &options).unwrap();
        assert_eq!(tfidf.vocabulary(), vocabulary.as_slice());
        assert!((tfidf.idf()[2] - (3f64.ln() + 1.0)).abs() < 1e-15);
        let options = TfidfOptions::default().with_vocabulary(Some(vocabulary)).with_smooth_idf(false);
        assert!(matches!(Tfidf::fit(&["aa dd"], &options).unwrap_err(), Error::InvalidData(_)));
    }

    #[test]
    fn rejects_empty_corpora_and_broken_parts() {
        assert!(matches!(Tfidf::fit::<&str>(&[], &TfidfOptions::default()).unwrap_err(), Error::InvalidData(_)));
        assert!(matches!(Tfidf::fit(&["a b", ""], &TfidfOptions::default()).unwrap_err(), Error::InvalidData(_)));
        assert!(Tfidf::fit(&["aa bb"], &TfidfOptions::default().with_min_df(2)).is_err());
        assert!(Tfidf::from_parts(vec!["a".into()], vec![], TfidfOptions::default()).is_err());
        assert!(Tfidf::from_parts(vec!["a".into(), "a".into()], vec![1.0, 1.0], TfidfOptions::default()).is_err());
        assert!(Tfidf::from_parts(vec!["a".into()], vec![f64::NAN], TfidfOptions::default()).is_err());
        assert!(Tfidf::from_parts(vec!["a".into()], vec![1.5], TfidfOptions::default()).is_ok());
    }
}
