//! Text → token ids, the way sentence-transformers' `Transformer.tokenize` prepares them.

use std::path::{Path, PathBuf};

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{Encoding, PostProcessor, Token, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};
use crate::wordpiece::{BertWordPiece, WordBuffers};

/// `max_length` must leave room for the special tokens (`tokenizers` subtracts them unchecked: a
/// shorter length wraps around and disables truncation).
fn check_max_length(path: &Path, max_length: usize, special: usize) -> Result<()> {
    if max_length < special.max(1) {
        return Err(Error::invalid(
            path,
            format!("cannot truncate at {max_length} tokens (max_seq_length): the tokenizer adds {special} special tokens to every text"),
        ));
    }
    Ok(())
}

/// One tokenized text, unpadded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizedText {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl TokenizedText {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

pub struct TextTokenizer {
    inner: Inner,
    path: PathBuf,
    do_lower_case: bool,
}

enum Inner {
    /// BERT WordPiece, natively ([`crate::wordpiece`]): no `tokenizers` tokenizer in memory.
    Native {
        wordpiece: BertWordPiece,
        template: Template,
        /// Tokens of the text itself a sequence keeps: `max_seq_length` less the special tokens.
        limit: usize,
    },
    /// Any other `tokenizer.json`, through `tokenizers`.
    Library {
        tokenizer: Box<Tokenizer>,
        /// Bytes of text tokenized first when a text is much longer (see `encode_one`); `None`
        /// when this tokenizer's parts are not known to keep a prefix's tokens unchanged.
        prefix_bytes: Option<usize>,
    },
}

/// What a post-processor puts around the tokens of one text: `(id, type id)` before and after,
/// and the type id of the text's own tokens.
#[derive(Default)]
struct Template {
    before: Vec<(u32, u32)>,
    after: Vec<(u32, u32)>,
    type_id: u32,
}

impl Template {
    /// `processor`'s template, read from what it does to two stand-in tokens; `None` when it does
    /// anything but add tokens around them, or adds another number of tokens than `tokenizers`
    /// leaves room for when it truncates (a `Sequence` can: its later members see the pieces an
    /// earlier template made as a pair).
    fn of(processor: Option<&PostProcessorWrapper>) -> Option<Template> {
        let Some(processor) = processor else {
            return Some(Template::default());
        };
        const STAND_IN: [u32; 2] = [u32::MAX - 1, u32::MAX];
        let tokens = STAND_IN.iter().map(|&id| Token::new(id, String::new(), (0, 0))).collect();
        // a template naming a special token it does not define panics in `tokenizers`
        let out =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| processor.process(Encoding::from_tokens(tokens, 0), None, true)))
                .ok()?
                .ok()?;
        let (ids, types) = (out.get_ids(), out.get_type_ids());
        let at = ids.windows(2).position(|w| w == STAND_IN)?;
        if types[at] != types[at + 1] {
            return None;
        }
        let specials = |range: std::ops::Range<usize>| -> Option<Vec<(u32, u32)>> {
            range.map(|i| (!STAND_IN.contains(&ids[i])).then_some((ids[i], types[i]))).collect()
        };
        let template = Template { before: specials(0..at)?, after: specials(at + 2..ids.len())?, type_id: types[at] };
        (template.len() == processor.added_tokens(false)).then_some(template)
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.before.iter().chain(&self.after).map(|&(id, _)| id)
    }

    fn len(&self) -> usize {
        self.before.len() + self.after.len()
    }
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_length: usize, do_lower_case: bool) -> Result<Self> {
        let bytes = crate::files::read_model_file(path, crate::files::FileKind::Tokenizer)?
            .ok_or_else(|| Error::ModelNotFound { what: "tokenizer (tokenizer.json)".into(), looked_at: vec![path.to_path_buf()] })?;
        Self::from_bytes(&bytes, path.to_path_buf(), max_length, do_lower_case)
    }

    /// The native tokenizer when the `tokenizer.json` is BERT WordPiece (its own truncation
    /// replaced by `max_length`), else `tokenizers`.
    pub fn from_bytes(bytes: &[u8], path: PathBuf, max_length: usize, do_lower_case: bool) -> Result<Self> {
        if let Some(file) = BertWordPiece::from_json(bytes) {
            if let Some(template) = Template::of(file.post_processor.as_ref()) {
                let special = template.len();
                check_max_length(&path, max_length, special)?;
                let inner = Inner::Native { wordpiece: file.tokenizer, template, limit: max_length - special };
                return Ok(TextTokenizer { inner, path, do_lower_case });
            }
        }
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| Error::invalid(&path, format!("not a usable tokenizer.json: {e}")))?;
        Self::new(inner, path, max_length, do_lower_case)
    }

    /// `tokenizers` running `inner`.
    pub fn new(mut inner: Tokenizer, path: PathBuf, max_length: usize, do_lower_case: bool) -> Result<Self> {
        // Padding is ours to do per batch; truncation follows the model's max_seq_length whatever
        // tokenizer.json carries.
        inner.with_padding(None);
        check_max_length(&path, max_length, inner.get_post_processor().map_or(0, |p| p.added_tokens(false)))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::invalid(&path, format!("cannot truncate at {max_length} tokens: {e}")))?;
        let prefix_bytes = splits_at_spaces(&inner).then(|| max_length.saturating_mul(16).max(1024));
        Ok(TextTokenizer { inner: Inner::Library { tokenizer: Box::new(inner), prefix_bytes }, path, do_lower_case })
    }

    /// Whether the engine's own WordPiece tokenizer runs (no `tokenizers` tokenizer in memory).
    pub fn is_native(&self) -> bool {
        matches!(self.inner, Inner::Native { .. })
    }

    /// Fails when the tokenizer can produce ids past the model's embedding table: a tokenizer.json
    /// from another model, which would otherwise fail (or embed wrong rows) only on some texts.
    pub fn check_vocab_size(&self, vocab_size: Option<usize>) -> Result<()> {
        let Some(vocab_size) = vocab_size else {
            return Ok(());
        };
        // the vocabulary and the special tokens the post-processor adds
        let largest = match &self.inner {
            Inner::Native { wordpiece, template, .. } => wordpiece.tokens().map(|(_, id)| id).chain(template.ids()).max(),
            Inner::Library { tokenizer, .. } => {
                let template = Template::of(tokenizer.get_post_processor()).unwrap_or_default();
                tokenizer.get_vocab(true).into_values().chain(template.ids()).max()
            }
        };
        let Some(largest) = largest else {
            return Ok(());
        };
        if largest as usize >= vocab_size {
            return Err(Error::invalid(
                &self.path,
                format!(
                    "this tokenizer has token ids up to {largest}, but config.json gives the model a vocabulary of {vocab_size} \
                     (vocab_size): the tokenizer belongs to another model"
                ),
            ));
        }
        Ok(())
    }

    /// sentence-transformers strips each text, lowercases it when the model says
    /// `do_lower_case`, and prepends the prompt before that.
    fn prepare(&self, prompt: &str, text: &str) -> String {
        let joined;
        let text = if prompt.is_empty() {
            text
        } else {
            joined = format!("{prompt}{text}");
            &joined
        };
        let text = text.trim_matches(is_python_space);
        if self.do_lower_case {
            text.to_lowercase()
        } else {
            text.to_string()
        }
    }

    /// Tokenizes one text after another. Deliberately not `Tokenizer::encode_batch`: its rayon
    /// threads fight ONNX Runtime's spinning intra-op threads for the same cores and halve
    /// throughput, while tokenizing costs under 1% of inference.
    pub fn encode_batch<S: AsRef<str>>(&self, prompt: &str, texts: &[S]) -> Result<Vec<TokenizedText>> {
        let mut buffers = WordBuffers::default();
        texts
            .iter()
            .map(|text| {
                let text = self.prepare(prompt, text.as_ref());
                match &self.inner {
                    Inner::Native { wordpiece, template, limit } => {
                        let mut ids = Vec::with_capacity(template.len() + (text.len() / 4).min(*limit));
                        ids.extend(template.before.iter().map(|&(id, _)| id));
                        wordpiece.encode(&text, template.before.len() + limit, &mut ids, &mut buffers);
                        let own = ids.len() - template.before.len();
                        ids.extend(template.after.iter().map(|&(id, _)| id));
                        let mut type_ids = Vec::with_capacity(ids.len());
                        type_ids.extend(template.before.iter().map(|&(_, t)| t));
                        type_ids.extend(std::iter::repeat_n(template.type_id, own));
                        type_ids.extend(template.after.iter().map(|&(_, t)| t));
                        Ok(TokenizedText { ids, type_ids })
                    }
                    Inner::Library { tokenizer, prefix_bytes } => {
                        let encoding = encode_one(tokenizer, *prefix_bytes, text)
                            .map_err(|e| Error::Runtime(format!("tokenizer {} failed: {e}", self.path.display())))?;
                        Ok(TokenizedText { ids: encoding.get_ids().to_vec(), type_ids: encoding.get_type_ids().to_vec() })
                    }
                }
            })
            .collect()
    }

    /// Tokens the prompt occupies at the start of a text, the [CLS] token included: what
    /// sentence-transformers masks out of pooling when `include_prompt` is false.
    pub fn prompt_length(&self, prompt: &str) -> Result<usize> {
        if prompt.is_empty() {
            return Ok(0);
        }
        let tokens = self.encode_batch("", &[prompt])?;
        Ok(tokens[0].len().saturating_sub(1))
    }
}

/// The tokens of `text`, truncated. A text far longer than `max_length` tokens can take is
/// tokenized from a prefix (4× longer on each try) when the prefix's kept tokens end before a
/// space between two words of the prefix: the words before that space tokenize the same
/// whatever follows, so the kept tokens are those of the whole text. Tokenizing all of a
/// 10 MB text took 7 s and 1 GB to keep 256 tokens.
fn encode_one(tokenizer: &Tokenizer, prefix_bytes: Option<usize>, text: String) -> tokenizers::Result<Encoding> {
    if let Some(cut) = prefix_bytes {
        if let Some(encoding) = encode_prefix(tokenizer, &text, cut, true)? {
            return Ok(encoding);
        }
    }
    tokenizer.encode(text, true)
}

/// The tokens of `text` from a prefix of it (`cut` bytes, 4× longer on each try), when the
/// tokenizer truncates (at the right) and the prefix's kept tokens end before a space between two
/// words of the prefix; `None` when no prefix shorter than half the text qualifies. Only for a
/// tokenizer that [`splits_at_spaces`].
pub(crate) fn encode_prefix(
    inner: &Tokenizer,
    text: &str,
    mut cut: usize,
    add_special_tokens: bool,
) -> tokenizers::Result<Option<Encoding>> {
    while cut.saturating_mul(2) <= text.len() {
        let end = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let encoding = inner.encode(&text[..end], add_special_tokens)?;
        if !encoding.get_overflowing().is_empty() {
            let kept_end = encoding.get_offsets().iter().map(|o| o.1).max().unwrap_or(0);
            if text.get(kept_end..end).is_some_and(has_space_between_words) {
                return Ok(Some(encoding));
            }
        }
        cut = cut.saturating_mul(4);
    }
    Ok(None)
}

/// Python's `str.isspace`, which `str.strip()` uses: Unicode White_Space plus the information
/// separators U+001C–U+001F, which Rust's `char::is_whitespace` leaves out.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whether `text` holds a non-space character, then spaces (U+0020), then a non-space character.
fn has_space_between_words(text: &str) -> bool {
    let mut seen_word = false;
    let mut seen_space_after_word = false;
    for c in text.chars() {
        if c == ' ' {
            seen_space_after_word |= seen_word;
        } else if c.is_whitespace() {
            // another kind of space: start over after it
            seen_word = false;
            seen_space_after_word = false;
        } else if seen_space_after_word {
            return true;
        } else {
            seen_word = true;
        }
    }
    false
}

/// Whether every word of a text tokenizes the same whatever follows the next space: the
/// normalizers act on characters one by one (no `Replace` or precompiled maps, which may join
/// words), the pre-tokenizer splits at spaces, and no added token contains a space. Other
/// tokenizers always tokenize the whole text.
pub(crate) fn splits_at_spaces(tokenizer: &Tokenizer) -> bool {
    fn local(n: &NormalizerWrapper) -> bool {
        match n {
            NormalizerWrapper::BertNormalizer(_)
            | NormalizerWrapper::StripNormalizer(_)
            | NormalizerWrapper::StripAccents(_)
            | NormalizerWrapper::NFC(_)
            | NormalizerWrapper::NFD(_)
            | NormalizerWrapper::NFKC(_)
            | NormalizerWrapper::NFKD(_)
            | NormalizerWrapper::Lowercase(_)
            | NormalizerWrapper::Prepend(_) => true,
            NormalizerWrapper::Sequence(s) => s.as_ref().iter().all(local),
            _ => false,
        }
    }
    fn splits(p: &PreTokenizerWrapper) -> bool {
        match p {
            PreTokenizerWrapper::BertPreTokenizer(_) | PreTokenizerWrapper::Whitespace(_) | PreTokenizerWrapper::WhitespaceSplit(_) => true,
            PreTokenizerWrapper::ByteLevel(b) => b.use_regex,
            PreTokenizerWrapper::Metaspace(m) => m.get_split(),
            // later members only split the pieces further
            PreTokenizerWrapper::Sequence(s) => s.as_ref().iter().any(splits),
            _ => false,
        }
    }
    tokenizer.get_normalizer().is_none_or(local)
        && tokenizer.get_pre_tokenizer().is_some_and(splits)
        && tokenizer.get_added_tokens_decoder().values().all(|t| !t.content.chars().any(char::is_whitespace))
}
