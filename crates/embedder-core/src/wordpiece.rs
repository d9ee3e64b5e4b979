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

use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, Tokenizer};
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

/// Buffers a thread reuses from text to text.
#[derive(Default)]
pub struct WordBuffers {
    /// The current word, normalised.
    word: Vec<u8>,
    /// A lookup key: the continuing-subword prefix and part of a word.
    key: Vec<u8>,
}

impl BertWordPiece {
    /// The native tokenizer for `tokenizer`, when it is exactly the pipeline this module repeats.
    pub fn for_tokenizer(tokenizer: &Tokenizer) -> Option<Self> {
        let NormalizerWrapper::BertNormalizer(normalizer) = tokenizer.get_normalizer()? else {
            return None;
        };
        if !matches!(tokenizer.get_pre_tokenizer()?, PreTokenizerWrapper::BertPreTokenizer(_)) {
            return None;
        }
        let ModelWrapper::WordPiece(model) = tokenizer.get_model() else {
            return None;
        };
        if tokenizer.get_encode_special_tokens() {
            return None;
        }
        let mut added = Vec::new();
        let mut added_first = [0u64; 4];
        for (&id, token) in tokenizer.get_added_tokens_decoder().iter() {
            if token.content.is_empty() || token.normalized || token.single_word || token.lstrip || token.rstrip {
                return None;
            }
            let b = token.content.as_bytes()[0];
            added_first[usize::from(b >> 6)] |= 1 << (b & 63);
            added.push((token.content.as_bytes().into(), id));
        }
        let vocab = VocabTable::new(model.get_vocab());
        let unk_id = vocab.get(model.unk_token.as_bytes())?;
        Some(BertWordPiece {
            vocab,
            unk_id,
            prefix: model.continuing_subword_prefix.clone().into_bytes(),
            max_chars: model.max_input_chars_per_word,
            clean_text: normalizer.clean_text,
            chinese_chars: normalizer.handle_chinese_chars,
            strip_accents: normalizer.strip_accents.unwrap_or(normalizer.lowercase),
            lowercase: normalizer.lowercase,
            added,
            added_first,
        })
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

/// A vocabulary as one open-addressing table over one buffer of key bytes: about 1 MB for 30,000
/// tokens where a `HashMap<String, u32>` takes 2.7 MB (a heap block per key).
struct VocabTable {
    bytes: Vec<u8>,
    /// `(start, length, id)`; length 0 marks an empty slot (no token is empty).
    slots: Vec<(u32, u32, u32)>,
    mask: usize,
}

impl VocabTable {
    fn new(vocab: std::collections::HashMap<String, u32>) -> Self {
        let size = (vocab.len() * 2).next_power_of_two().max(16);
        let mut table = VocabTable { bytes: Vec::new(), slots: vec![(0, 0, 0); size], mask: size - 1 };
        table.bytes.reserve_exact(vocab.keys().map(String::len).sum());
        for (token, id) in vocab {
            if token.is_empty() || table.get(token.as_bytes()).is_some() {
                continue;
            }
            let mut i = Self::hash(token.as_bytes()) & table.mask;
            while table.slots[i].1 != 0 {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = (table.bytes.len() as u32, token.len() as u32, id);
            table.bytes.extend_from_slice(token.as_bytes());
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
