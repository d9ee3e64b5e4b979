//! BERT's WordPiece tokenizer, natively: the ids `tokenizers` gives for a `tokenizer.json` made of
//! a `BertNormalizer`, a `BertPreTokenizer`, a `WordPiece` model and added tokens matched as they
//! are written, without a `tokenizers::Tokenizer` in memory.
//!
//! A static model's tokenizer is all it runs besides one table lookup per token, and
//! `tokenizers` keeps each vocabulary twice (token → id and id → token, a heap block per entry)
//! plus its added-token machinery: 7.6 MB for a 30,000-token BERT vocabulary, half as much again
//! as the model's F16 table of 256-d vectors. Here the vocabulary is one table over one buffer of
//! bytes (about 1 MB), and a text is tokenized in one pass over its characters with buffers the
//! caller reuses: no allocation per text, and no per-character alignment bookkeeping.
//!
//! What `tokenizers` 0.22 does, and this module repeats step by step:
//! 1. Added tokens (`[UNK]`, `[CLS]`, …) are split out of the raw text first, leftmost match
//!    first and the longest there, case-sensitively; each gives its own id.
//! 2. Each piece between them is normalised (`BertNormalizer`): with `clean_text`, NUL, U+FFFD and
//!    control/format/private-use characters are removed and whitespace becomes a space; with
//!    `handle_chinese_chars`, CJK ideographs get a space on either side; with `strip_accents`
//!    (default: `lowercase`), canonical decomposition (NFD) and nonspacing marks removed; with
//!    `lowercase`, each character lowercased. The same Unicode crates decide every property.
//! 3. `BertPreTokenizer` splits at whitespace and isolates each punctuation character.
//! 4. `WordPiece` takes the longest vocabulary entry from the left, `##`-prefixed after the
//!    first, and makes the whole word its unknown token when a part matches nothing or the word is
//!    longer than `max_input_chars_per_word` characters.
//!
//! Tokenizers with anything else (another normalizer or pre-tokenizer, a `Sequence`, added tokens
//! that are normalised, strip spaces or match single words, truncation at the left) are not
//! taken: [`BertWordPiece::for_tokenizer`] returns `None` and the caller keeps `tokenizers`.

use std::ops::ControlFlow;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{PaddingParams, TruncationDirection, TruncationParams, TruncationStrategy};
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// A BERT WordPiece tokenizer, read from a `tokenizers::Tokenizer` that can then be dropped.
pub struct BertWordPiece {
    vocab: VocabTable,
    unk_id: u32,
    prefix: Vec<u8>,
    max_chars: usize,
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
    /// Added tokens as written, with their ids.
    added: Vec<(Box<[u8]>, u32)>,
    /// The bytes added tokens start with, one bit each.
    added_first: [u64; 4],
}

/// A BERT WordPiece `tokenizer.json`, read.
pub struct WordPieceFile {
    pub tokenizer: BertWordPiece,
    /// Tokens its truncation keeps (at the right), when it truncates.
    pub truncation: Option<usize>,
    /// What it adds around a text's tokens when asked for special tokens.
    pub post_processor: Option<PostProcessorWrapper>,
}

/// Buffers a thread reuses from text to text.
#[derive(Default)]
pub struct WordBuffers {
    /// The current word, normalised.
    word: Vec<u8>,
    /// A lookup key: the continuing-subword prefix and part of a word.
    key: Vec<u8>,
}

impl BertWordPiece {
    /// The native tokenizer a `tokenizer.json` describes, when it is exactly the pipeline this
    /// module repeats. Read with `serde` straight into the vocabulary table: loading `tokenizers`
    /// only to drop it would leave its maps' memory to the allocator, and take longer.
    pub fn from_json(bytes: &[u8]) -> Option<WordPieceFile> {
        let file: TokenizerFile = serde_json::from_slice(bytes).ok()?;
        if file.version.as_deref().is_some_and(|v| v != "1.0") {
            return None;
        }
        let Some(NormalizerWrapper::BertNormalizer(normalizer)) = file.normalizer else {
            return None;
        };
        if !matches!(file.pre_tokenizer, Some(PreTokenizerWrapper::BertPreTokenizer(_))) {
            return None;
        }
        let model = file.model;
        if model.kind != "WordPiece" {
            return None;
        }
        let truncation = match file.truncation {
            None => None,
            Some(t)
                if t.direction == TruncationDirection::Right
                    && matches!(t.strategy, TruncationStrategy::LongestFirst | TruncationStrategy::OnlyFirst)
                    && t.stride < t.max_length =>
            {
                Some(t.max_length)
            }
            Some(_) => return None,
        };
        let vocab = model.vocab;
        let mut added = Vec::new();
        let mut added_first = [0u64; 4];
        for token in &file.added_tokens {
            // `tokenizers` gives an added token the id its content has in the vocabulary: one
            // outside it would get a new id, which a static model has no vector for
            if token.content.is_empty() || token.normalized || token.single_word || token.lstrip || token.rstrip {
                return None;
            }
            let id = vocab.get(token.content.as_bytes())?;
            if added.iter().any(|(content, _): &(Box<[u8]>, u32)| **content == *token.content.as_bytes()) {
                continue;
            }
            let b = token.content.as_bytes()[0];
            added_first[usize::from(b >> 6)] |= 1 << (b & 63);
            added.push((token.content.as_bytes().into(), id));
        }
        let unk_id = vocab.get(model.unk_token.as_bytes())?;
        let tokenizer = BertWordPiece {
            vocab,
            unk_id,
            prefix: model.continuing_subword_prefix.into_bytes(),
            max_chars: model.max_input_chars_per_word,
            clean_text: normalizer.clean_text,
            chinese_chars: normalizer.handle_chinese_chars,
            strip_accents: normalizer.strip_accents.unwrap_or(normalizer.lowercase),
            lowercase: normalizer.lowercase,
            added,
            added_first,
        };
        Some(WordPieceFile { tokenizer, truncation, post_processor: file.post_processor })
    }

    /// The unknown token's id.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Every token of the vocabulary (added tokens are part of it), with its id.
    pub fn tokens(&self) -> impl Iterator<Item = (&str, u32)> {
        self.vocab.entries()
    }

    /// Appends the ids of `text` to `ids`, stopping once `ids` holds `limit` (truncation at the
    /// right, as `tokenizers` truncates).
    pub fn encode(&self, text: &str, limit: usize, ids: &mut Vec<u32>, buffers: &mut WordBuffers) {
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut i = 0;
        if !self.added.is_empty() {
            while i < bytes.len() {
                if self.added_first[usize::from(bytes[i] >> 6)] & (1 << (bytes[i] & 63)) != 0 {
                    if let Some((len, id)) = self.added_at(&bytes[i..]) {
                        // a match of a whole UTF-8 token starts and ends at character boundaries
                        if self.piece(&text[start..i], limit, ids, buffers).is_break() || ids.len() >= limit {
                            ids.truncate(limit);
                            return;
                        }
                        ids.push(id);
                        i += len;
                        start = i;
                        continue;
                    }
                }
                i += 1;
            }
        }
        let _ = self.piece(&text[start..], limit, ids, buffers);
        ids.truncate(limit);
    }

    /// The longest added token `rest` starts with: its length and id.
    fn added_at(&self, rest: &[u8]) -> Option<(usize, u32)> {
        self.added
            .iter()
            .filter(|(token, _)| rest.starts_with(token))
            .max_by_key(|(token, _)| token.len())
            .map(|(token, id)| (token.len(), *id))
    }

    /// Text between added tokens: normalised, split into words, each word into pieces.
    fn piece(&self, piece: &str, limit: usize, ids: &mut Vec<u32>, buffers: &mut WordBuffers) -> ControlFlow<()> {
        let WordBuffers { word, key } = buffers;
        word.clear();
        let mut words = Words { model: self, ids, limit, word, chars: 0, key };
        if piece.is_ascii() {
            // the same steps, on bytes: ASCII has no CJK ideographs, no decompositions and no marks
            for &b in piece.as_bytes() {
                let b = match b {
                    b'\t' | b'\n' | b'\r' if self.clean_text => b' ',
                    0..=0x1f | 0x7f if self.clean_text => continue,
                    _ if self.lowercase => b.to_ascii_lowercase(),
                    _ => b,
                };
                words.push(b as char)?;
            }
            return words.flush();
        }
        let clean = self.clean_text;
        let chinese = self.chinese_chars;
        let chars = piece
            .chars()
            .filter(move |&c| !(clean && (c == '\0' || c == '\u{fffd}' || is_control(c))))
            .map(move |c| if clean && is_bert_whitespace(c) { ' ' } else { c })
            .flat_map(move |c| match chinese && is_chinese_char(c) {
                true => [' ', c, ' '].into_iter().take(3),
                false => [c, ' ', ' '].into_iter().take(1),
            });
        match (self.strip_accents, self.lowercase) {
            (true, true) => words.feed(chars.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()).flat_map(char::to_lowercase))?,
            (true, false) => words.feed(chars.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()))?,
            (false, true) => words.feed(chars.flat_map(char::to_lowercase))?,
            (false, false) => words.feed(chars)?,
        }
        words.flush()
    }

    /// `WordPiece::tokenize` on one normalised word of `chars` characters.
    fn word_ids(&self, word: &[u8], chars: usize, ids: &mut Vec<u32>, key: &mut Vec<u8>) {
        if chars > self.max_chars {
            ids.push(self.unk_id);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                if end == start {
                    break None;
                }
                let id = if start == 0 {
                    self.vocab.get(&word[..end])
                } else {
                    key.clear();
                    key.extend_from_slice(&self.prefix);
                    key.extend_from_slice(&word[start..end]);
                    self.vocab.get(key)
                };
                if id.is_some() {
                    break id;
                }
                // one character shorter
                end -= 1;
                while end > start && word[end] & 0xc0 == 0x80 {
                    end -= 1;
                }
            };
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(first);
                    ids.push(self.unk_id);
                    return;
                }
            }
        }
    }
}

/// `BertPreTokenizer` over a stream of normalised characters: words go to WordPiece as they end.
struct Words<'a> {
    model: &'a BertWordPiece,
    ids: &'a mut Vec<u32>,
    limit: usize,
    word: &'a mut Vec<u8>,
    /// Characters in the word; past `max_input_chars_per_word` they are counted, not kept.
    chars: usize,
    key: &'a mut Vec<u8>,
}

impl Words<'_> {
    fn feed(&mut self, chars: impl Iterator<Item = char>) -> ControlFlow<()> {
        for c in chars {
            self.push(c)?;
        }
        ControlFlow::Continue(())
    }

    #[inline]
    fn push(&mut self, c: char) -> ControlFlow<()> {
        let (space, punctuation) =
            if c.is_ascii() { (matches!(c, ' ' | '\t'..='\r'), c.is_ascii_punctuation()) } else { (c.is_whitespace(), c.is_punctuation()) };
        if space {
            return self.flush();
        }
        if punctuation {
            self.flush()?;
            self.keep(c);
            return self.flush();
        }
        self.keep(c);
        ControlFlow::Continue(())
    }

    #[inline]
    fn keep(&mut self, c: char) {
        self.chars += 1;
        if self.chars <= self.model.max_chars {
            let mut utf8 = [0; 4];
            self.word.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }

    /// Ends the current word; breaks once the ids reach the limit.
    fn flush(&mut self) -> ControlFlow<()> {
        if self.ids.len() >= self.limit {
            return ControlFlow::Break(());
        }
        if self.chars > 0 {
            self.model.word_ids(self.word, self.chars, self.ids, self.key);
            self.word.clear();
            self.chars = 0;
        }
        if self.ids.len() >= self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// `BertNormalizer`'s whitespace: tab, newline, carriage return and Unicode White_Space.
fn is_bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// `BertNormalizer`'s control characters: categories Cc, Cf and Co, except tab, newline and
/// carriage return.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// `BertNormalizer`'s CJK ideographs.
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// A `tokenizer.json` as `tokenizers` reads it (unknown fields ignored, as it ignores them), with
/// its own types for every part but the model, whose vocabulary goes straight into the table: a
/// file it would refuse is refused here too, and left to it to say why.
#[derive(Deserialize)]
struct TokenizerFile {
    version: Option<String>,
    truncation: Option<TruncationParams>,
    #[allow(dead_code)]
    padding: Option<PaddingParams>,
    #[serde(default)]
    added_tokens: Vec<AddedTokenFile>,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    model: ModelFile,
    #[allow(dead_code)]
    decoder: Option<DecoderWrapper>,
    post_processor: Option<PostProcessorWrapper>,
}

/// `WordPiece`'s fields, its `type` included: without one, `tokenizers` tries other models first.
#[derive(Deserialize)]
struct ModelFile {
    #[serde(rename = "type")]
    kind: String,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
    vocab: VocabTable,
}

/// An entry of `added_tokens`, every field required as `tokenizers` requires them.
#[derive(Deserialize)]
struct AddedTokenFile {
    #[allow(dead_code)]
    id: u32,
    content: String,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    #[allow(dead_code)]
    special: bool,
}

/// A vocabulary as one open-addressing table over one buffer of key bytes: about 1 MB for 30,000
/// tokens where a `HashMap<String, u32>` takes 2.7 MB (a heap block per key).
struct VocabTable {
    bytes: Vec<u8>,
    /// `(start, length, id)`; length 0 marks an empty slot (no token is empty: a vocabulary with
    /// one is not read).
    slots: Vec<(u32, u32, u32)>,
    mask: usize,
}

impl VocabTable {
    /// A table of `entries` (`(start, length, id)` in `bytes`); a later entry for the same token
    /// replaces an earlier one, as it does in a JSON object read into a map.
    fn new(bytes: Vec<u8>, entries: &[(u32, u32, u32)]) -> Self {
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let mut table = VocabTable { bytes, slots: vec![(0, 0, 0); size], mask: size - 1 };
        for &(start, len, id) in entries {
            let key = &table.bytes[start as usize..(start + len) as usize];
            let mut i = Self::hash(key) & table.mask;
            loop {
                let slot = table.slots[i];
                if slot.1 == 0 || &table.bytes[slot.0 as usize..(slot.0 + slot.1) as usize] == key {
                    break;
                }
                i = (i + 1) & table.mask;
            }
            table.slots[i] = (start, len, id);
        }
        table
    }

    fn hash(key: &[u8]) -> usize {
        use std::hash::Hasher;
        let mut h = FxHasher::default();
        h.write(key);
        // the high bits mix best
        (h.finish() >> 20) as usize
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<u32> {
        let mut i = Self::hash(key) & self.mask;
        loop {
            let (start, len, id) = self.slots[i];
            if len == 0 {
                return None;
            }
            if len as usize == key.len() && &self.bytes[start as usize..(start + len) as usize] == key {
                return Some(id);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots.iter().filter(|slot| slot.1 != 0).map(|&(start, len, id)| {
            let key = &self.bytes[start as usize..(start + len) as usize];
            (std::str::from_utf8(key).expect("vocabulary keys are JSON strings"), id)
        })
    }
}

/// A JSON object of tokens and ids, read into one buffer of key bytes as it is parsed.
impl<'de> Deserialize<'de> for VocabTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = VocabTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of tokens and ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<VocabTable, A::Error> {
                let mut bytes = Vec::new();
                let mut entries = Vec::new();
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    let id: u32 = map.next_value()?;
                    if key.is_empty() {
                        // `tokenizers` keeps it (a token no text matches, but counted by the
                        // checks of the vocabulary): left to it
                        return Err(serde::de::Error::custom("an empty token"));
                    }
                    let (start, len) = (u32::try_from(bytes.len()), u32::try_from(key.len()));
                    let (Ok(start), Ok(len)) = (start, len) else {
                        return Err(serde::de::Error::custom("vocabulary over 4 GiB"));
                    };
                    bytes.extend_from_slice(key.as_bytes());
                    entries.push((start, len, id));
                }
                Ok(VocabTable::new(bytes, &entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A map key, borrowed from the JSON text unless it holds escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a token")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(v.to_owned().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The Fx hash (rustc's): a multiply and a rotate per 8 bytes. Vocabulary lookups of short keys
/// are most of a static model's work; the keys in the table come from the model, not from input.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
