//! The native BERT WordPiece tokenizer against `tokenizers` itself: the same ids for every text,
//! on real vocabularies, under every `BertNormalizer` setting, with added tokens and truncation.

mod common;

use common::*;
use embedder_core::tokenize::TextTokenizer;
use embedder_core::wordpiece::{BertWordPiece, WordBuffers};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

/// Pieces random texts are made of: ASCII, controls, accents precomposed and combining (marks of
/// several combining classes, to be reordered), letters whose lowercase or decomposition is more
/// than one character, CJK (unified, compatibility, extension B), kana, Hangul (decomposed by NFD),
/// scripts with nonspacing and spacing marks, Unicode punctuation and spaces, format and
/// private-use characters, emoji, and the added tokens, whole and broken.
const PIECES: &[&str] = &[
    "a",
    "b",
    "z",
    "Q",
    "the",
    "ing",
    "un",
    "##",
    "7",
    "42",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\0",
    "\x01",
    "\x1f",
    "\x7f",
    "!",
    ".",
    ",",
    "-",
    "'",
    "(",
    "]",
    "[",
    "$",
    "+",
    "<",
    "=",
    "^",
    "`",
    "|",
    "~",
    "é",
    "e\u{301}",
    "E\u{301}",
    "a\u{323}\u{301}",
    "a\u{301}\u{323}",
    "o\u{308}\u{327}",
    "Å",
    "Å",
    "ñ",
    "ß",
    "İ",
    "ı",
    "Σ",
    "ς",
    "ΣΑΣ",
    "ﬁ",
    "K",
    "Ǆ",
    "ǅ",
    "中",
    "国",
    "語",
    "\u{f900}",
    "\u{2f800}",
    "\u{20000}",
    "あ",
    "カ",
    "한국어",
    "ᄀ",
    "क",
    "ि",
    "\u{903}",
    "\u{1d165}",
    "\u{1d16e}",
    "ا",
    "\u{64b}",
    "ש\u{5b0}",
    "ก",
    "\u{e31}",
    "²",
    "Ⅻ",
    "“",
    "”",
    "‘",
    "’",
    "—",
    "–",
    "…",
    "«",
    "»",
    "¿",
    "¡",
    "。",
    "、",
    "・",
    "€",
    "©",
    "™",
    "°",
    "±",
    "×",
    "😀",
    "👍🏽",
    "\u{200d}",
    "\u{200b}",
    "\u{feff}",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{85}",
    "\u{fffd}",
    "\u{e000}",
    "\u{378}",
    "\u{10ffff}",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "[PAD]",
    "[unk]",
    "[UNK",
    "UNK]",
    "[MASKED]",
    "<中>",
];

fn random_texts(count: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % 40) as usize;
            (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect()
        })
        .collect()
}

/// Texts every tokenizer is checked on: edge cases, long words, MS MARCO passages and random texts.
fn texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        " ",
        "\0\x01\u{fffd}",
        "Hello, World! How are you?",
        "Café crème brûlée à la carte — naïve résumé",
        "İstanbul ΣΟΦΟΣ Straße ﬁnance Kelvin",
        "野口里佳 Noguchi Rika 東京 한국어 テスト",
        "[UNK] and [pad] tokens, [Unk] [[UNK]] [CLS][SEP]",
        "[MASK] [MASKED] <中> a<中>b",
        "ab\x01cd\x0bef\x7fgh",
        "emoji 😀👍🏽 zero\u{200b}width joiner\u{200d}here",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
    ]
    .map(String::from)
    .to_vec();
    texts.push("x".repeat(100));
    texts.push("x".repeat(101));
    texts.push("é".repeat(100));
    texts.push("é".repeat(101));
    texts.push(format!("{} tail", "e\u{301}".repeat(150)));
    texts.push("hello wörld ".repeat(300));
    let corpus = std::fs::read_to_string(shared_dir().join("data/msmarco-5k/corpus.jsonl")).unwrap();
    for line in corpus.lines().filter(|l| !l.trim().is_empty()).take(1000) {
        let v: Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
    }
    texts.extend(random_texts(6000, 0x2545_f491_4f6c_dd1d));
    texts
}

fn tokenizer_json(model_file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(shared_dir().join("models").join(model_file)).unwrap()).unwrap()
}

/// Checks the native tokenizer built from `json` against `tokenizers` on `texts`.
fn check(json: &Value, texts: &[String], what: &str) {
    let mut reference = Tokenizer::from_bytes(serde_json::to_vec(json).unwrap()).unwrap();
    // as a static model calls it (MiniLM's tokenizer.json pads to 128)
    reference.with_padding(None);
    let file = BertWordPiece::from_json(&serde_json::to_vec(json).unwrap()).unwrap_or_else(|| panic!("{what}: not taken natively"));
    let (native, truncation) = (file.tokenizer, file.truncation);
    assert_eq!(truncation, reference.get_truncation().map(|t| t.max_length), "{what}");
    let limit = truncation.unwrap_or(usize::MAX);
    let mut ids = Vec::new();
    let mut buffers = WordBuffers::default();
    for text in texts {
        let want = reference.encode(text.as_str(), false).unwrap();
        ids.clear();
        native.encode(text, limit, &mut ids, &mut buffers);
        assert_eq!(ids, want.get_ids(), "{what}: {text:?}");
    }
}

#[test]
fn the_ids_of_tokenizers_on_real_vocabularies() {
    let texts = texts();
    check(&tokenizer_json("static-minilm-256/0_StaticEmbedding/tokenizer.json"), &texts, "static-minilm-256");
    check(&tokenizer_json("static-minilm-256/model2vec/tokenizer.json"), &texts, "static-minilm-256 (model2vec)");
    check(&tokenizer_json("all-MiniLM-L6-v2/tokenizer.json"), &texts, "all-MiniLM-L6-v2");
}

#[test]
fn the_ids_of_tokenizers_under_every_setting() {
    let texts = texts();
    let base = tokenizer_json("all-MiniLM-L6-v2/tokenizer.json");
    for clean_text in [true, false] {
        for handle_chinese_chars in [true, false] {
            for strip_accents in [json!(null), json!(true), json!(false)] {
                for lowercase in [true, false] {
                    let mut json = base.clone();
                    json["normalizer"] = json!({
                        "type": "BertNormalizer",
                        "clean_text": clean_text,
                        "handle_chinese_chars": handle_chinese_chars,
                        "strip_accents": strip_accents,
                        "lowercase": lowercase,
                    });
                    check(&json, &texts[..3000], &json["normalizer"].to_string());
                }
            }
        }
    }
    // short words, truncation, added tokens of other lengths and scripts
    let mut json = base.clone();
    json["model"]["max_input_chars_per_word"] = json!(5);
    check(&json, &texts, "max_input_chars_per_word 5");
    let mut json = base.clone();
    json["truncation"] = json!({"direction": "Right", "max_length": 7, "strategy": "LongestFirst", "stride": 0});
    check(&json, &texts, "truncation at 7");
    let mut json = base.clone();
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    for (i, content) in ["[MASKED]", "<中>", "é"].iter().enumerate() {
        vocab.entry(*content).or_insert(json!(30522 + i));
    }
    for content in ["[MASKED]", "<中>", "é"] {
        let id = json["model"]["vocab"][content].clone();
        json["added_tokens"].as_array_mut().unwrap().push(json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    }
    check(&json, &texts, "added tokens");
}

#[test]
fn other_pipelines_are_left_to_tokenizers() {
    let base = tokenizer_json("all-MiniLM-L6-v2/tokenizer.json");
    let taken = |json: &Value| {
        let bytes = serde_json::to_vec(json).unwrap();
        // every case is a tokenizer `tokenizers` loads
        Tokenizer::from_bytes(&bytes).unwrap();
        BertWordPiece::from_json(&bytes).is_some()
    };
    assert!(taken(&base));
    let mut json = base.clone();
    json["added_tokens"][0]["lstrip"] = json!(true);
    assert!(!taken(&json), "an added token that strips spaces");
    let mut json = base.clone();
    json["added_tokens"][0]["normalized"] = json!(true);
    assert!(!taken(&json), "a normalised added token");
    let mut json = base.clone();
    json["normalizer"] = json!({"type": "Sequence", "normalizers": [base["normalizer"].clone()]});
    assert!(!taken(&json), "a normalizer sequence");
    let mut json = base.clone();
    json["pre_tokenizer"] = json!({"type": "Whitespace"});
    assert!(!taken(&json), "another pre-tokenizer");
    let mut json = base.clone();
    json["model"]["unk_token"] = json!("<unknown>");
    assert!(!taken(&json), "an unknown token outside the vocabulary");
    let mut json = base.clone();
    json["added_tokens"].as_array_mut().unwrap().push(json!({"id": 30522, "content": "<new>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    assert!(!taken(&json), "an added token outside the vocabulary");
    let mut json = base.clone();
    json["truncation"] = json!({"direction": "Left", "max_length": 7, "strategy": "LongestFirst", "stride": 0});
    assert!(!taken(&json), "truncation at the left");
    let mut json = base.clone();
    json["model"] = json!({"type": "WordLevel", "vocab": base["model"]["vocab"].clone(), "unk_token": "[UNK]"});
    assert!(!taken(&json), "another model");
    // without a type, tokenizers tries BPE first: with `merges` it runs BPE on these fields
    let mut json = base.clone();
    json["model"].as_object_mut().unwrap().remove("type");
    json["model"]["merges"] = json!([]);
    assert!(!taken(&json), "a model without a type");
    // an empty token matches no text but counts in the checks of the vocabulary
    let mut json = base.clone();
    json["model"]["vocab"][""] = json!(40000);
    assert!(!taken(&json), "an empty token");

    // what tokenizers refuses is refused too (and left to it to say why)
    let refused = |json: &Value| {
        let bytes = serde_json::to_vec(json).unwrap();
        Tokenizer::from_bytes(&bytes).is_err() && BertWordPiece::from_json(&bytes).is_none()
    };
    let mut json = base.clone();
    json["version"] = json!("2.0");
    assert!(refused(&json), "another version");
    let mut json = base.clone();
    json["added_tokens"][0].as_object_mut().unwrap().remove("special");
    assert!(refused(&json), "an added token without `special`");
    let mut json = base.clone();
    json["decoder"] = json!({"type": "NoSuchDecoder"});
    assert!(refused(&json), "an unknown decoder");
    let mut json = base.clone();
    json["padding"] = json!({"strategy": "sometimes"});
    assert!(refused(&json), "padding it cannot read");
}

#[test]
fn the_vocabulary_reads_as_tokenizers_reads_it() {
    // a token written with escapes, and one written twice (the later id wins, as in a map)
    let mut text = std::fs::read_to_string(shared_dir().join("models/all-MiniLM-L6-v2/tokenizer.json")).unwrap();
    assert!(text.contains("\"hello\":7592,") && text.contains("\"world\":"));
    text = text.replacen("\"hello\":", "\"h\\u0065llo\":", 1).replacen("\"world\":", "\"world\":7592,\"world\":", 1);
    let mut reference = Tokenizer::from_bytes(text.as_bytes()).unwrap();
    reference.with_padding(None);
    let native = BertWordPiece::from_json(text.as_bytes()).unwrap().tokenizer;
    let mut ids = Vec::new();
    native.encode("hello world", usize::MAX, &mut ids, &mut WordBuffers::default());
    assert_eq!(ids, reference.encode("hello world", false).unwrap().get_ids());
    assert_eq!(native.tokens().count(), reference.get_vocab(true).len());
}

#[test]
fn transformer_models_get_the_ids_and_type_ids_of_tokenizers() {
    // the tokenizer a transformer model runs: special tokens from the post-processor, truncation
    // at max_seq_length, sentence-transformers' stripping and lowercasing; the same tokenizer.json
    // run by tokenizers is the reference
    let texts = texts();
    for model in ["all-MiniLM-L6-v2", "tiny-bert-cls", "tiny-bert-dense", "medical-embedder-v1"] {
        let path = model_dir(model).join("tokenizer.json");
        for (max_length, lower) in [(2, false), (3, true), (9, false), (128, false), (256, true), (512, false)] {
            let native = TextTokenizer::from_file(&path, max_length, lower).unwrap();
            assert!(native.is_native(), "{model}");
            let library = TextTokenizer::new(Tokenizer::from_file(&path).unwrap(), path.clone(), max_length, lower).unwrap();
            let prompt = if lower { "query: " } else { "" };
            let got = native.encode_batch(prompt, &texts).unwrap();
            let want = library.encode_batch(prompt, &texts).unwrap();
            for ((text, got), want) in texts.iter().zip(got).zip(want) {
                assert_eq!(got, want, "{model} at {max_length}: {text:?}");
            }
            assert_eq!(native.prompt_length("Represent this: ").unwrap(), library.prompt_length("Represent this: ").unwrap());
        }
        // [CLS] and [SEP] do not fit in one token
        assert_eq!(TextTokenizer::from_file(&path, 1, false).err().unwrap().code(), "ERR_MODEL_INVALID");
    }
}

#[test]
fn post_processors_it_cannot_read_as_a_template_are_left_to_tokenizers() {
    let path = model_dir("all-MiniLM-L6-v2").join("tokenizer.json");
    let base: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let special = |name: &str, id: u32| json!({"id": name, "ids": [id], "tokens": [name]});
    let template = |single: Value, pair: Value| {
        json!({"type": "TemplateProcessing", "single": single, "pair": pair,
               "special_tokens": {"[CLS]": special("[CLS]", 101), "[SEP]": special("[SEP]", 102)}})
    };
    let sequence_a = |type_id: u32| json!({"Sequence": {"id": "A", "type_id": type_id}});
    let sequence_b = json!({"Sequence": {"id": "B", "type_id": 1}});
    let token = |id: &str, type_id: u32| json!({"SpecialToken": {"id": id, "type_id": type_id}});
    let load = |json: &Value, max_length: usize| {
        TextTokenizer::from_bytes(&serde_json::to_vec(json).unwrap(), path.clone(), max_length, false).unwrap()
    };

    // a Sequence whose second template sees the first one's pieces as a pair: it adds 4 tokens
    // where tokenizers leaves room for 2 when it truncates
    let mut json = base.clone();
    json["post_processor"] = json!({"type": "Sequence", "processors": [
        template(json!([token("[CLS]", 0), sequence_a(0)]), json!([token("[CLS]", 0), sequence_a(0), sequence_b.clone()])),
        template(json!([sequence_a(1), token("[SEP]", 1)]), json!([token("[CLS]", 0), sequence_a(0), token("[SEP]", 0), sequence_b.clone(), token("[SEP]", 1)])),
    ]});
    let tok = load(&json, 7);
    assert!(!tok.is_native());
    let mut reference = Tokenizer::from_bytes(serde_json::to_vec(&json).unwrap()).unwrap();
    reference.with_padding(None);
    reference.with_truncation(Some(tokenizers::TruncationParams { max_length: 7, ..Default::default() })).unwrap();
    let text = "x [SEP] y [CLS] z";
    let got = tok.encode_batch("", &[text]).unwrap().remove(0);
    let want = reference.encode(text, true).unwrap();
    assert_eq!((got.ids, got.type_ids), (want.get_ids().to_vec(), want.get_type_ids().to_vec()));

    // a template naming a special token it does not define: loading does not panic
    let mut json = base.clone();
    json["post_processor"] = template(json!([token("[CLS]", 0), sequence_a(0), token("[NOPE]", 0)]), json!([sequence_a(0)]));
    assert!(!load(&json, 128).is_native());

    // special ids past the model's vocabulary are refused on both paths
    let mut json = base.clone();
    json["post_processor"] = json!({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 40000]});
    let native = load(&json, 128);
    assert!(native.is_native());
    let library = TextTokenizer::new(Tokenizer::from_bytes(serde_json::to_vec(&json).unwrap()).unwrap(), path.clone(), 128, false).unwrap();
    for tok in [&native, &library] {
        let err = tok.check_vocab_size(Some(30522)).unwrap_err();
        assert!(err.to_string().contains("up to 40000"), "{err}");
        tok.check_vocab_size(Some(40001)).unwrap();
    }
}
