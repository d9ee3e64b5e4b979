//! Property tests over the pure-Rust path: model configs (random JSON in the files
//! sentence-transformers reads), tokenization, batching, padding and pooling.
//!
//! 256 cases per property by default; `PROPTEST_CASES=20000 cargo test -p embedder-core --test fuzz`
//! (or `scripts/fuzz.sh`) runs longer. A failing case is shrunk and saved under
//! `tests/fuzz.proptest-regressions`, which is replayed first on the next run.

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::OnceLock;

use embedder_core::batching::{pad, plan_batches};
use embedder_core::config::ModelConfig;
use embedder_core::pooling::{pool, PoolingConfig, PoolingMode};
use embedder_core::tokenize::{TextTokenizer, TokenizedText};
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};

// ---------------------------------------------------------------------------------------------
// Random JSON, biased towards the keys and values the config readers look at

const KEYS: &[&str] = &[
    "max_seq_length",
    "do_lower_case",
    "model_max_length",
    "max_position_embeddings",
    "hidden_size",
    "vocab_size",
    "pooling_mode",
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
    "include_prompt",
    "word_embedding_dimension",
    "embedding_dimension",
    "prompts",
    "query",
    "document",
    "type",
    "path",
    "idx",
    "in_features",
    "out_features",
    "bias",
    "activation_function",
];

const WORDS: &[&str] = &[
    "cls",
    "mean",
    "max",
    "mean_tokens",
    "pooling_mode_cls_token",
    "lasttoken",
    "weightedmean",
    "mean_sqrt_len_tokens",
    "median",
    "",
    "query: ",
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
    "sentence_transformers.models.Dense",
    "sentence_transformers.models.LSTM",
    "Pooling",
    "1_Pooling",
    "torch.nn.modules.activation.Tanh",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![0i64, 1, 2, 32, 128, 256, 512, -1, i64::MAX, i64::MIN]).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![0.5f64, 1.0, 1e30, -1e30, 1e300, 2.0e19]).prop_map(|f| json!(f)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        prop::sample::select(WORDS).prop_map(|s| Value::String(s.to_string())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(KEYS).prop_map(String::from), 1 => "[a-z_]{1,12}"]
}

/// A config object: mostly known keys with random values.
fn config_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// A modules.json entry: a class path and a folder, or anything at all.
fn module_entry() -> impl Strategy<Value = Value> {
    let ty = prop_oneof![prop::sample::select(WORDS).prop_map(|s| json!(s)), json_value()];
    let path = prop::sample::select(vec!["", "1_Pooling", "2_Dense", "2_Normalize", "missing", "../elsewhere", "/nonexistent"]);
    prop_oneof![
        4 => (any::<u8>(), ty, path).prop_map(|(idx, ty, path)| json!({ "idx": idx, "type": ty, "path": path })),
        1 => json_value(),
    ]
}

/// What one file of the folder holds: absent, JSON, or bytes that are not JSON.
#[derive(Clone, Debug)]
enum File {
    Absent,
    Json(Value),
    Bytes(Vec<u8>),
}

fn file(json: impl Strategy<Value = Value>) -> impl Strategy<Value = File> {
    prop_oneof![
        1 => Just(File::Absent),
        6 => json.prop_map(File::Json),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(File::Bytes),
    ]
}

fn model_folder() -> impl Strategy<Value = BTreeMap<&'static str, File>> {
    let modules = prop_oneof![
        // the usual three modules, so that the pooling config is reached often
        3 => Just(json!([
            { "idx": 0, "type": "sentence_transformers.models.Transformer", "path": "" },
            { "idx": 1, "type": "sentence_transformers.models.Pooling", "path": "1_Pooling" },
            { "idx": 2, "type": "sentence_transformers.models.Normalize", "path": "2_Normalize" }
        ])),
        2 => prop::collection::vec(module_entry(), 0..5).prop_map(Value::Array),
        1 => json_value(),
    ];
    (
        file(modules),
        file(config_object()),
        file(config_object()),
        file(config_object()),
        file(config_object()),
        file(config_object()),
        file(config_object()),
    )
        .prop_map(|(modules, pooling, sbert, tok, model, st, dense)| {
            BTreeMap::from([
                ("modules.json", modules),
                ("1_Pooling/config.json", pooling),
                ("sentence_bert_config.json", sbert),
                ("tokenizer_config.json", tok),
                ("config.json", model),
                ("config_sentence_transformers.json", st),
                ("2_Dense/config.json", dense),
            ])
        })
}

fn write_folder(dir: &Path, files: &BTreeMap<&'static str, File>) {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match content {
            File::Absent => {}
            File::Json(v) => std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap(),
            File::Bytes(b) => std::fs::write(&path, b).unwrap(),
        }
    }
}

proptest! {
    /// Whatever the config files hold, loading them returns a config or an error that names a
    /// file of the folder with ERR_MODEL_INVALID / ERR_MODEL_NOT_FOUND; it never panics.
    #[test]
    fn config_loading_never_panics(files in model_folder()) {
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), &files);
        let loaded = catch_unwind(AssertUnwindSafe(|| ModelConfig::load(dir.path())));
        prop_assert!(loaded.is_ok(), "ModelConfig::load panicked on {files:?}");
        match loaded.unwrap() {
            Ok(config) => {
                prop_assert!(!config.pooling.modes.is_empty());
                prop_assert!(config.max_seq_length >= 1);
                prop_assert!(config.pooling.dimension != Some(0));
            }
            Err(err) => {
                prop_assert!(matches!(err.code(), "ERR_MODEL_INVALID" | "ERR_MODEL_NOT_FOUND"), "{}: {err}", err.code());
                // the message names the file: inside the folder, or where a module's `path` led
                let message = err.to_string();
                prop_assert!(
                    message.contains(&dir.path().display().to_string()) || message.contains("/nonexistent"),
                    "{message}"
                );
            }
        }
    }

    /// The pooling config alone: any JSON value parses or gives a reason, never panics.
    #[test]
    fn pooling_config_never_panics(value in prop_oneof![config_object(), json_value()]) {
        let parsed = catch_unwind(|| PoolingConfig::from_json(&value));
        prop_assert!(parsed.is_ok(), "PoolingConfig::from_json panicked on {value}");
        if let Ok(Ok(config)) = parsed {
            prop_assert!(!config.modes.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batching and padding

proptest! {
    /// Every index lands in exactly one batch; a batch holds at most `max_rows` texts and, with a
    /// budget, at most `max_tokens` padded tokens unless it holds a single text.
    #[test]
    fn batches_cover_every_index_once_within_budget(
        lengths in prop::collection::vec(0usize..700, 0..300),
        max_rows in 0usize..70,
        max_tokens in prop::option::of(1usize..5000),
    ) {
        let batches = plan_batches(&lengths, max_rows, max_tokens);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for batch in &batches {
            prop_assert!(!batch.is_empty());
            prop_assert!(batch.len() <= max_rows.max(1));
            let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
            if let Some(budget) = max_tokens {
                prop_assert!(batch.len() == 1 || batch.len() * longest <= budget, "{} × {longest} > {budget}", batch.len());
            }
        }
    }

    /// Padding keeps each text's ids in its row, masks exactly its length, and pads with zeros.
    #[test]
    fn padding_keeps_ids_and_masks_the_rest(texts in prop::collection::vec(prop::collection::vec(any::<u32>(), 0..40), 0..20)) {
        let tokenized: Vec<TokenizedText> =
            texts.iter().map(|ids| TokenizedText { ids: ids.clone(), type_ids: vec![0; ids.len()] }).collect();
        let refs: Vec<&TokenizedText> = tokenized.iter().collect();
        let batch = pad(&refs);
        let seq = texts.iter().map(Vec::len).max().unwrap_or(0);
        prop_assert_eq!((batch.rows, batch.seq), (texts.len(), seq));
        for (r, ids) in texts.iter().enumerate() {
            let row = &batch.input_ids[r * seq..(r + 1) * seq];
            let mask = &batch.attention_mask[r * seq..(r + 1) * seq];
            for j in 0..seq {
                if j < ids.len() {
                    prop_assert_eq!((row[j], mask[j]), (ids[j] as i64, 1));
                } else {
                    prop_assert_eq!((row[j], mask[j]), (0, 0));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling

fn modes() -> impl Strategy<Value = Vec<PoolingMode>> {
    let all = vec![
        PoolingMode::Cls,
        PoolingMode::Max,
        PoolingMode::Mean,
        PoolingMode::MeanSqrtLen,
        PoolingMode::WeightedMean,
        PoolingMode::LastToken,
    ];
    prop::sample::subsequence(all, 1..=6)
}

/// Hidden states of the magnitude transformer layers produce.
fn hidden_value() -> impl Strategy<Value = f32> {
    prop_oneof![-1e4f32..1e4f32, Just(0.0f32), Just(-0.0f32)]
}

proptest! {
    /// Pooled values are finite and of length `hidden × modes`, whatever the mask (any integers).
    #[test]
    fn pooled_values_are_finite(
        (hidden, seq, tokens, mask) in (1usize..12, 0usize..24).prop_flat_map(|(hidden, seq)| (
            Just(hidden),
            Just(seq),
            prop::collection::vec(hidden_value(), seq * hidden),
            prop::collection::vec(prop_oneof![4 => Just(1i64), 2 => Just(0i64), 1 => any::<i64>()], seq),
        )),
        modes in modes(),
    ) {
        let mut out = Vec::new();
        let pooled = catch_unwind(AssertUnwindSafe(|| pool(&modes, &tokens, &mask, hidden, &mut out)));
        prop_assert!(pooled.is_ok(), "pool panicked");
        if seq == 0 {
            // nothing to pool: an error, not a panic or garbage
            prop_assert!(pooled.unwrap().is_err());
            return Ok(());
        }
        prop_assert!(pooled.unwrap().is_ok());
        prop_assert_eq!(out.len(), hidden * modes.len());
        prop_assert!(out.iter().all(|x| x.is_finite()), "{out:?}");
    }

    /// Pooling rows that are all equal gives that row back (the mean of equal rows is the row),
    /// and padding rows, whatever they hold, change nothing.
    #[test]
    fn equal_rows_pool_to_the_row(
        row in prop::collection::vec(hidden_value(), 1..10),
        real in 1usize..20,
        padding in prop::collection::vec(hidden_value(), 0..60),
        modes in modes(),
    ) {
        let hidden = row.len();
        let pad_rows = padding.len() / hidden;
        let mut tokens: Vec<f32> = row.iter().copied().cycle().take(real * hidden).collect();
        tokens.extend_from_slice(&padding[..pad_rows * hidden]);
        let mut mask = vec![1i64; real];
        mask.extend(std::iter::repeat_n(0, pad_rows));
        let mut out = Vec::new();
        pool(&modes, &tokens, &mask, hidden, &mut out).unwrap();
        for (mode, got) in modes.iter().zip(out.chunks_exact(hidden)) {
            let scale = if *mode == PoolingMode::MeanSqrtLen { (real as f32).sqrt() } else { 1.0 };
            for (g, r) in got.iter().zip(&row) {
                let want = r * scale;
                prop_assert!((g - want).abs() <= 1e-5 * want.abs().max(1.0) * real as f32, "{mode:?}: {g} vs {want}");
            }
        }
    }

    /// A mismatch between token values and the mask is an error, never an out-of-bounds panic.
    #[test]
    fn mismatched_shapes_are_errors(values in 0usize..50, seq in 0usize..10, hidden in 0usize..6, modes in modes()) {
        let tokens = vec![0.5f32; values];
        let mask = vec![1i64; seq];
        let mut out = Vec::new();
        let pooled = catch_unwind(AssertUnwindSafe(|| pool(&modes, &tokens, &mask, hidden, &mut out)));
        prop_assert!(pooled.is_ok(), "pool panicked: {values} values, {seq} × {hidden}");
        if values != seq * hidden || hidden == 0 {
            prop_assert!(pooled.unwrap().is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenize → batch → pool, with the tiny-bert-cls tokenizer (a BERT WordPiece tokenizer)

fn tokenizer(max_length: usize, lower: bool) -> embedder_core::Result<TextTokenizer> {
    static PARSED: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    let inner = PARSED.get_or_init(|| {
        let path = common::model_dir("tiny-bert-cls").join("tokenizer.json");
        tokenizers::Tokenizer::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    TextTokenizer::new(inner.clone(), "tokenizer.json".into(), max_length, lower)
}

/// Hostile text: any Unicode, special tokens, long words, combining marks, control characters.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => ".{0,8}",
        2 => prop::sample::select(vec![
            "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", " ", "\t", "\n", "\0", "\u{200b}", "\u{200d}", "\u{202e}", "\u{fffd}",
            "\u{301}", "e\u{301}", "👩‍👩‍👧‍👦", "🇫🇷", "東京", "مرحبا", "a", "word", "ﬁ", "İ",
        ]).prop_map(String::from),
        1 => "[a-z]{50,200}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Stand-in hidden states: a fixed function of the token id and position in the text.
fn fake_hidden(ids: &[i64], mask: &[i64], seq: usize, hidden: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * hidden);
    for (j, (&id, &m)) in ids.iter().zip(mask).enumerate() {
        for d in 0..hidden {
            // padding positions get garbage, which pooling must ignore
            out.push(if m == 0 { 1e3 } else { ((id as f32) * 0.013 + (d as f32) * 0.7 + (j % seq) as f32 * 0.1).sin() });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 2, ..ProptestConfig::default() })]

    /// Texts tokenize within `max_length` (or give an error for an impossible length), every
    /// text lands in one batch, and pooling a padded batch gives what pooling each text alone gives.
    #[test]
    fn tokenize_batch_pool_is_padding_invariant(
        texts in prop::collection::vec(text(), 1..12),
        max_length in 1usize..80,
        lower in any::<bool>(),
        max_rows in 1usize..8,
        budget in prop::option::of(1usize..400),
        modes in modes(),
    ) {
        let tok = match catch_unwind(|| tokenizer(max_length, lower)) {
            Ok(Ok(t)) => t,
            Ok(Err(err)) => {
                // [CLS] and [SEP] do not fit
                prop_assert!(max_length < 2 && err.code() == "ERR_MODEL_INVALID", "max_length {max_length}: {err}");
                return Ok(());
            }
            Err(_) => panic!("building a tokenizer that truncates at {max_length} panicked"),
        };
        let encoded = catch_unwind(AssertUnwindSafe(|| tok.encode_batch("", &texts)));
        prop_assert!(encoded.is_ok(), "tokenizing panicked at max_length {max_length}");
        let tokens = encoded.unwrap().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(tokens.len(), texts.len());
        for t in &tokens {
            prop_assert!((2..=max_length).contains(&t.len()), "{} tokens at max_length {max_length}", t.len());
            prop_assert_eq!(t.ids.len(), t.type_ids.len());
        }

        const HIDDEN: usize = 4;
        let lengths: Vec<usize> = tokens.iter().map(TokenizedText::len).collect();
        let mut pooled: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for rows in plan_batches(&lengths, max_rows, budget) {
            let batch = pad(&rows.iter().map(|&i| &tokens[i]).collect::<Vec<_>>());
            let hidden = fake_hidden(&batch.input_ids, &batch.attention_mask, batch.seq, HIDDEN);
            for (k, &i) in rows.iter().enumerate() {
                let mut v = Vec::new();
                let seq = batch.seq;
                pool(&modes, &hidden[k * seq * HIDDEN..(k + 1) * seq * HIDDEN], &batch.attention_mask[k * seq..(k + 1) * seq], HIDDEN, &mut v)
                    .unwrap();
                prop_assert!(pooled[i].replace(v).is_none(), "text {i} pooled twice");
            }
        }
        for (i, t) in tokens.iter().enumerate() {
            let ids: Vec<i64> = t.ids.iter().map(|&x| x as i64).collect();
            let mask = vec![1i64; ids.len()];
            let mut alone = Vec::new();
            pool(&modes, &fake_hidden(&ids, &mask, ids.len(), HIDDEN), &mask, HIDDEN, &mut alone).unwrap();
            let batched = pooled[i].as_ref().expect("every text is pooled");
            for (a, b) in alone.iter().zip(batched) {
                prop_assert!(a.is_finite() && (a - b).abs() <= 1e-5, "text {i}: {a} alone, {b} in a batch");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Long texts: tokenized from a prefix, the kept tokens must be those of the whole text

fn long_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-zA-Z]{1,12}",
        2 => prop::sample::select(vec![
            " ", " ", " ", "  ", "\t", "\n", "\u{3000}", "\u{a0}", ".", ",", "-", "[CLS]", "[SEP]", "[MASK]", "東京", "\u{301}", "🚀",
            "👩‍👩‍👧", "\0", "\u{200b}", "İ", "ﬁ", "Σ",
        ])
        .prop_map(String::from),
        1 => ".{1,6}",
        1 => "[a-z]{90,300}",
    ];
    prop::collection::vec(piece, 150..1500).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 4, ..ProptestConfig::default() })]

    #[test]
    fn long_texts_keep_the_tokens_of_the_whole_text(text in long_text(), max_length in 2usize..80, model in prop::sample::select(vec!["tiny-bert-cls", "all-MiniLM-L6-v2"])) {
        static PARSED: OnceLock<[tokenizers::Tokenizer; 2]> = OnceLock::new();
        let parsed = PARSED.get_or_init(|| {
            ["tiny-bert-cls", "all-MiniLM-L6-v2"].map(|m| tokenizers::Tokenizer::from_file(common::model_dir(m).join("tokenizer.json")).unwrap())
        });
        let path = common::model_dir(model).join("tokenizer.json");
        let mut whole = parsed[usize::from(model != "tiny-bert-cls")].clone();
        whole.with_padding(None);
        whole
            .with_truncation(Some(tokenizers::TruncationParams { max_length, ..Default::default() }))
            .unwrap();
        // tokenizers from a prefix, and the native WordPiece tokenizer (which stops at the limit)
        let library = TextTokenizer::new(whole.clone(), path.clone(), max_length, false).unwrap();
        let native = TextTokenizer::from_file(&path, max_length, false).unwrap();
        prop_assert!(native.is_native());
        let stripped = text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
        let want = whole.encode(stripped, true).unwrap();
        for tok in [&library, &native] {
            let got = tok.encode_batch("", &[&text]).unwrap().remove(0);
            prop_assert_eq!(&got.ids, &want.get_ids().to_vec(), "{} bytes at max_length {}", text.len(), max_length);
            prop_assert_eq!(&got.type_ids, &want.get_type_ids().to_vec());
        }
    }
}
