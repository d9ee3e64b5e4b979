//! Parity with scikit-learn's `TfidfVectorizer(max_features=2048)` fitted on the first 2,000
//! passages of msmarco-5k (`reference-tfidf.json`).

mod common;

use std::collections::HashMap;

use common::*;
use embedder_core::lexical::{term_counts, Tfidf, TfidfOptions};
use serde_json::Value;

/// The passage text sklearn was fed: `title + ' ' + text`, or `text` when the title is empty
/// (every title in msmarco-5k is; the fixture's vocabulary and idf match `text`).
fn first_passages(limit: usize) -> Vec<String> {
    let path = shared_dir().join("data/msmarco-5k/corpus.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .take(limit)
        .map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            let (title, text) = (doc["title"].as_str().unwrap_or(""), doc["text"].as_str().unwrap());
            if title.is_empty() {
                text.to_string()
            } else {
                format!("{title} {text}")
            }
        })
        .collect()
}

fn assert_weights(tfidf: &Tfidf, fx: &Value) {
    let texts = strings(&fx["texts"]);
    for (i, (text, want)) in texts.iter().zip(fx["weights"].as_array().unwrap()).enumerate() {
        let want: HashMap<&str, f64> = want.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_f64().unwrap())).collect();
        let got: HashMap<&str, f64> = tfidf.weights(text).into_iter().map(|(c, w)| (tfidf.vocabulary()[c].as_str(), w)).collect();
        let mut terms: Vec<&&str> = got.keys().collect();
        terms.sort();
        assert_eq!(got.len(), want.len(), "text {i}: terms {terms:?}");
        for (term, w) in &want {
            let g = got.get(term).unwrap_or_else(|| panic!("text {i}: no weight for {term:?}"));
            assert!((g - w).abs() <= 1e-6, "text {i} term {term:?}: {g} vs {w}");
        }
        let dense = tfidf.transform(&[text]);
        assert_eq!(dense.len(), tfidf.dimension());
        assert_eq!(dense.iter().filter(|x| **x != 0.0).count(), want.len());
    }
}

fn assert_idf(tfidf: &Tfidf, fx: &Value) {
    let vocabulary = strings(&fx["vocabulary"]);
    let idf: HashMap<&str, f64> =
        vocabulary.iter().map(String::as_str).zip(fx["idf"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect();
    let mut compared = 0;
    for (term, got) in tfidf.vocabulary().iter().zip(tfidf.idf()) {
        if let Some(want) = idf.get(term.as_str()) {
            assert!((got - want).abs() <= 1e-6, "idf of {term:?}: {got} vs {want}");
            compared += 1;
        }
    }
    assert!(compared > 1900);
}

#[test]
fn the_reference_vocabulary_gives_scikit_learns_idf_and_weights() {
    let fx = fixture("reference-tfidf.json");
    let vocabulary = strings(&fx["vocabulary"]);
    let tfidf = Tfidf::fit(&first_passages(2000), &TfidfOptions::default().with_vocabulary(Some(vocabulary.clone()))).unwrap();
    assert_eq!(tfidf.vocabulary(), vocabulary.as_slice());
    assert_idf(&tfidf, &fx);
    assert_weights(&tfidf, &fx);
}

#[test]
fn max_features_selects_scikit_learns_terms_up_to_ties_at_the_cut_off() {
    let fx = fixture("reference-tfidf.json");
    let corpus = first_passages(2000);
    let tfidf = Tfidf::fit(&corpus, &TfidfOptions::default().with_max_features(Some(2048))).unwrap();
    let ours = tfidf.vocabulary();
    assert_eq!(ours.len(), 2048);
    assert!(ours.windows(2).all(|w| w[0] < w[1]), "columns are in sorted vocabulary order");
    assert_idf(&tfidf, &fx);

    // Every term more frequent than the cut-off frequency is kept by both; only terms exactly at
    // it (scikit-learn's unstable argsort picks among those) may differ, and as many are kept.
    let totals: HashMap<String, u64> = term_counts(&corpus, true).into_iter().map(|(t, c)| (t, c.total)).collect();
    let theirs = strings(&fx["vocabulary"]);
    let cut = theirs.iter().map(|t| totals[t]).min().unwrap();
    let above = |v: &[String]| v.iter().filter(|t| totals[*t] > cut).cloned().collect::<Vec<_>>();
    assert_eq!(above(ours), above(&theirs));
    assert!(ours.iter().all(|t| totals[t] >= cut));
    let tied = totals.values().filter(|&&t| t == cut).count();
    let kept_tied = ours.iter().filter(|t| totals[*t] == cut).count();
    assert_eq!(kept_tied, theirs.iter().filter(|t| totals[*t] == cut).count());
    assert!(kept_tied < tied, "the cut-off falls inside a group of {tied} tied terms");
    // Ours are the first tied terms in sorted order.
    let mut all_tied: Vec<&String> = totals.iter().filter(|(_, &t)| t == cut).map(|(k, _)| k).collect();
    all_tied.sort();
    let ours_tied: Vec<&String> = ours.iter().filter(|t| totals[*t] == cut).collect();
    assert_eq!(ours_tied, all_tied[..kept_tied].to_vec());

    // Texts without any of the terms the two selections disagree on get scikit-learn's weights.
    let differing: Vec<&String> = ours.iter().filter(|t| !theirs.contains(t)).chain(theirs.iter().filter(|t| !ours.contains(t))).collect();
    let texts = strings(&fx["texts"]);
    let mut checked = 0;
    for (i, text) in texts.iter().enumerate() {
        let lower = text.to_lowercase();
        let toks: Vec<&str> = embedder_core::lexical::tokens(&lower).collect();
        if differing.iter().any(|t| toks.contains(&t.as_str())) {
            continue;
        }
        let want = fx["weights"][i].as_object().unwrap();
        let got: HashMap<&str, f64> = tfidf.weights(text).into_iter().map(|(c, w)| (ours[c].as_str(), w)).collect();
        assert_eq!(got.len(), want.len(), "text {i}");
        for (term, w) in want {
            assert!((got[term.as_str()] - w.as_f64().unwrap()).abs() <= 1e-6, "text {i} term {term:?}");
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} texts avoid the differing terms");
}
