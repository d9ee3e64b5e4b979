//! Static embedding models: one vector per token, and a text's embedding is the mean of its
//! tokens' vectors, with no transformer and no ONNX Runtime.
//!
//! Two forms of the same model are read, each embedding as its own library does:
//! - sentence-transformers' `StaticEmbedding` (`modules.json` names it first; its folder holds
//!   `model.safetensors` with `embedding.weight` and `tokenizer.json`; modules such as `Normalize`
//!   follow). `StaticEmbedding.tokenize` calls `encode_batch(texts, add_special_tokens=False)` with
//!   whatever truncation the tokenizer.json carries, and `EmbeddingBag(mode="mean")` averages every
//!   id, `[UNK]` included.
//! - model2vec's own (`config.json` with `model_type: model2vec`, `model.safetensors` with
//!   `embeddings`, `tokenizer.json`). `StaticModel.encode` cuts each text to
//!   `max_length × median token length` characters, tokenizes without special tokens, drops the
//!   unknown token's id, keeps `max_length` ids (512 by default), averages them and normalises when
//!   `config.json` says `normalize`.
//!
//! A text with no tokens gives the zero vector in both (the mean of an empty bag is 0, and
//! normalising leaves 0 at 0).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::models::ModelWrapper;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};
use crate::files::{open_model_file, read_json, read_model_file, FileKind};
use crate::modules::{normalize, Dense, Module};
use crate::tokenize::{encode_prefix, splits_at_spaces, TokenizedText};
use crate::wordpiece::{BertWordPiece, WordBuffers};

/// `StaticModel.encode`'s default `max_length`.
pub const MODEL2VEC_MAX_LENGTH: usize = 512;

/// Which library's `encode` a static model folder follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticForm {
    /// sentence-transformers `StaticEmbedding`: `[UNK]` ids are averaged like any other.
    SentenceTransformers,
    /// model2vec `StaticModel`: unknown-token ids are dropped.
    Model2Vec,
}

impl StaticForm {
    pub fn name(self) -> &'static str {
        match self {
            StaticForm::SentenceTransformers => "sentence-transformers",
            StaticForm::Model2Vec => "model2vec",
        }
    }
}

/// A static model folder as its configs describe it; nothing is loaded yet.
#[derive(Clone, Debug)]
pub struct StaticFolder {
    pub form: StaticForm,
    pub dir: PathBuf,
    /// The safetensors file holding the token matrix.
    pub weights: PathBuf,
    /// The tensor in `weights`: `embedding.weight` (sentence-transformers) or `embeddings`.
    pub tensor: &'static str,
    pub tokenizer: PathBuf,
    /// Module folders after the static module (sentence-transformers) that the loader reads: each
    /// `(class name, folder)`.
    modules: Vec<(String, PathBuf)>,
    /// model2vec's `config.json` `normalize`.
    normalize: bool,
}

impl StaticFolder {
    /// Files a load reads, relative to the folder: what a hub download must fetch.
    pub fn required_files(&self) -> Vec<String> {
        let relative = |p: &Path| p.strip_prefix(&self.dir).unwrap_or(p).to_string_lossy().replace('\\', "/");
        let mut files = vec![relative(&self.weights), relative(&self.tokenizer)];
        for (class, dir) in &self.modules {
            if class == "Dense" {
                files.push(relative(&dir.join("config.json")));
                files.push(relative(&dir.join("model.safetensors")));
            }
        }
        files
    }
}

/// The static model `dir` holds, if it is one: model2vec's `config.json` (`model_type: model2vec`)
/// first, since model2vec also writes a `modules.json` for sentence-transformers; else a
/// `modules.json` whose first module is a `StaticEmbedding`, at any path (`0_StaticEmbedding/`,
/// or `""` at the folder root as sentence-transformers 6.2 saves it). Reads only the configs.
pub fn detect(dir: &Path) -> Result<Option<StaticFolder>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let config_path = dir.join("config.json");
    if let Some(config) = read_json(&config_path)? {
        if config.get("model_type").and_then(Value::as_str) == Some("model2vec") {
            let normalize = match config.get("normalize") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(Error::invalid(&config_path, format!("`normalize` must be a boolean, found {other}"))),
            };
            return Ok(Some(StaticFolder {
                form: StaticForm::Model2Vec,
                dir: dir.to_path_buf(),
                weights: dir.join("model.safetensors"),
                tensor: "embeddings",
                tokenizer: dir.join("tokenizer.json"),
                modules: Vec::new(),
                normalize,
            }));
        }
    }
    let modules_path = dir.join("modules.json");
    let Some(json) = read_json(&modules_path)? else {
        return Ok(None);
    };
    let Some(entries) = json.as_array() else {
        return Ok(None);
    };
    let class = |entry: &Value| entry.get("type").and_then(Value::as_str).map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
    if entries.first().and_then(class).as_deref() != Some("StaticEmbedding") {
        return Ok(None);
    }
    let module_dir = |i: usize, entry: &Value| -> Result<PathBuf> {
        let path = entry.get("path").and_then(Value::as_str).unwrap_or("");
        // a module's files are in the model's folder: no absolute path, no `..`
        if !Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)) {
            return Err(Error::invalid(&modules_path, format!("module {i} has path {path:?}, which leaves the model folder")));
        }
        Ok(dir.join(path))
    };
    let static_dir = module_dir(0, &entries[0])?;
    let mut modules = Vec::new();
    for (i, entry) in entries.iter().enumerate().skip(1) {
        let name = class(entry).unwrap_or_default();
        match name.as_str() {
            "Dense" | "Normalize" => modules.push((name, module_dir(i, entry)?)),
            _ => {
                return Err(Error::invalid(
                    &modules_path,
                    format!("module {i} of type `{name}` is not supported after a StaticEmbedding (supported: Dense, Normalize)"),
                ))
            }
        }
    }
    Ok(Some(StaticFolder {
        form: StaticForm::SentenceTransformers,
        dir: dir.to_path_buf(),
        weights: static_dir.join("model.safetensors"),
        tensor: "embedding.weight",
        tokenizer: static_dir.join("tokenizer.json"),
        modules,
        normalize: false,
    }))
}

/// The token matrix, in the precision the file holds it: F16 and BF16 stay 2 bytes a value and
/// are widened while summing.
#[derive(Debug)]
enum Rows {
    F32(Vec<f32>),
    F16(Vec<u16>),
    Bf16(Vec<u16>),
}

impl Rows {
    fn dtype(&self) -> &'static str {
        match self {
            Rows::F32(_) => "F32",
            Rows::F16(_) => "F16",
            Rows::Bf16(_) => "BF16",
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Rows::F32(v) => v.len() * 4,
            Rows::F16(v) | Rows::Bf16(v) => v.len() * 2,
        }
    }
}

/// An IEEE half's value as f32, exactly. The weights were checked finite at load, so only normal
/// and subnormal halves arrive here: their exponent and mantissa bits, moved into an f32, read as
/// the value times 2^-112, which one multiplication puts right (subnormals included). Branch-free,
/// so the row sums vectorise.
#[inline(always)]
fn f16_to_f32(h: u16) -> f32 {
    const TWO_POW_112: f32 = 5.192_297e33;
    let magnitude = f32::from_bits(((h & 0x7fff) as u32) << 13) * TWO_POW_112;
    f32::from_bits(magnitude.to_bits() | (((h & 0x8000) as u32) << 16))
}

#[inline(always)]
fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A static embedding model, loaded.
pub struct StaticModel {
    folder: StaticFolder,
    tokenizer: TextTokenizer,
    rows: Rows,
    width: usize,
    vocab_rows: usize,
    /// Ids dropped before averaging (model2vec drops its unknown token).
    dropped_id: Option<u32>,
    /// model2vec: characters kept of a text before tokenizing, and ids kept after dropping.
    model2vec_limits: Option<(usize, usize)>,
    /// Tokens kept by the tokenizer's own truncation (at the right), if any.
    max_tokens: Option<usize>,
    /// Modules applied to the mean, in order (`Normalize`, `Dense`, `truncateDim`'s `Truncate`).
    pub modules: Vec<Module>,
    /// Threads a call spreads its texts over.
    threads: usize,
}

/// What turns a text into ids.
enum TextTokenizer {
    /// BERT WordPiece, natively ([`crate::wordpiece`]), read from the tokenizer.json without
    /// `tokenizers`.
    Native(BertWordPiece),
    /// Any other `tokenizer.json`, through `tokenizers`.
    Library {
        tokenizer: Box<Tokenizer>,
        /// Bytes of a long text tokenized first (see [`encode_prefix`]).
        prefix_bytes: Option<usize>,
    },
}

/// A tokenizer's vocabulary (added tokens included) as tokens and ids.
enum Vocabulary<'a> {
    Native(&'a BertWordPiece),
    Library(std::collections::HashMap<String, u32>),
}

impl Vocabulary<'_> {
    fn iter(&self) -> Box<dyn Iterator<Item = (&str, u32)> + '_> {
        match self {
            Vocabulary::Native(wordpiece) => Box::new(wordpiece.tokens()),
            Vocabulary::Library(map) => Box::new(map.iter().map(|(token, &id)| (token.as_str(), id))),
        }
    }
}

impl TextTokenizer {
    fn vocabulary(&self) -> Vocabulary<'_> {
        match self {
            TextTokenizer::Native(wordpiece) => Vocabulary::Native(wordpiece),
            TextTokenizer::Library { tokenizer, .. } => Vocabulary::Library(tokenizer.get_vocab(true)),
        }
    }

    /// The id of the model's unknown token, when it has one (a Unigram model has none).
    fn unk_id(&self) -> Option<u32> {
        match self {
            TextTokenizer::Native(wordpiece) => Some(wordpiece.unk_id()),
            TextTokenizer::Library { tokenizer, .. } => {
                let unk = match tokenizer.get_model() {
                    ModelWrapper::WordPiece(m) => Some(m.unk_token.clone()),
                    ModelWrapper::WordLevel(m) => Some(m.unk_token.clone()),
                    ModelWrapper::BPE(m) => m.unk_token.clone(),
                    ModelWrapper::Unigram(_) => None,
                };
                unk.and_then(|u| tokenizer.token_to_id(&u))
            }
        }
    }
}

impl StaticModel {
    /// Loads `folder`. `max_length` replaces the truncation: the tokenizer's (sentence-transformers)
    /// or `StaticModel.encode`'s `max_length` (model2vec).
    pub fn load(folder: StaticFolder, max_length: Option<usize>, threads: usize) -> Result<Self> {
        let bytes = read_model_file(&folder.tokenizer, FileKind::Tokenizer)?.ok_or_else(|| Error::ModelNotFound {
            what: format!("tokenizer of the static model ({})", folder.form.name()),
            looked_at: vec![folder.tokenizer.clone()],
        })?;
        // StaticEmbedding calls `no_padding()` and keeps the tokenizer.json's truncation, which
        // `max_length` replaces; model2vec applies its own `max_length` after tokenizing.
        let replaced = max_length.filter(|_| folder.form == StaticForm::SentenceTransformers);
        let (tokenizer, max_tokens) = match BertWordPiece::from_json(&bytes) {
            Some(file) => (TextTokenizer::Native(file.tokenizer), replaced.or(file.truncation)),
            None => {
                let mut tokenizer = Tokenizer::from_bytes(&bytes)
                    .map_err(|e| Error::invalid(&folder.tokenizer, format!("not a usable tokenizer.json: {e}")))?;
                tokenizer.with_padding(None);
                if let Some(n) = replaced {
                    let params = TruncationParams {
                        max_length: n,
                        strategy: TruncationStrategy::LongestFirst,
                        stride: 0,
                        direction: TruncationDirection::Right,
                    };
                    tokenizer
                        .with_truncation(Some(params))
                        .map_err(|e| Error::InvalidOption { option: "maxLength", reason: e.to_string() })?;
                }
                let max_tokens = tokenizer.get_truncation().filter(|t| t.direction == TruncationDirection::Right).map(|t| t.max_length);
                let prefix_bytes = max_tokens.filter(|_| splits_at_spaces(&tokenizer)).map(|n| n.saturating_mul(16).max(1024));
                (TextTokenizer::Library { tokenizer: Box::new(tokenizer), prefix_bytes }, max_tokens)
            }
        };
        drop(bytes);

        let (rows, [vocab_rows, width]) = read_matrix(&folder.weights, folder.tensor)?;
        let mut largest: Option<(&str, u32)> = None;
        let mut lengths = Vec::new();
        let vocab = tokenizer.vocabulary();
        for (token, id) in vocab.iter() {
            if largest.is_none_or(|(_, most)| id > most) {
                largest = Some((token, id));
            }
            if folder.form == StaticForm::Model2Vec {
                lengths.push(token.chars().count());
            }
        }
        if let Some((token, largest)) = largest {
            if largest as usize >= vocab_rows {
                return Err(Error::invalid(
                    &folder.tokenizer,
                    format!(
                        "token `{token}` has id {largest}, but {} holds {vocab_rows} token vectors: the tokenizer belongs to another model",
                        folder.weights.display()
                    ),
                ));
            }
        }

        let (dropped_id, model2vec_limits) = match folder.form {
            StaticForm::SentenceTransformers => (None, None),
            StaticForm::Model2Vec => {
                // `StaticModel.__init__`: the model's `unk_token` when it has one (Unigram has none),
                // and the median length in characters of the vocabulary's tokens.
                lengths.sort_unstable();
                let n = lengths.len();
                let median = match n {
                    0 => 0,
                    _ if n % 2 == 1 => lengths[n / 2],
                    _ => (lengths[n / 2 - 1] + lengths[n / 2]) / 2,
                };
                let keep = max_length.unwrap_or(MODEL2VEC_MAX_LENGTH);
                (tokenizer.unk_id(), Some((keep.saturating_mul(median), keep)))
            }
        };
        drop(lengths);
        drop(vocab);

        let mut modules = Vec::new();
        let mut dimension = width;
        for (class, dir) in &folder.modules {
            match class.as_str() {
                "Normalize" => modules.push(Module::Normalize),
                _ => {
                    let dense = Dense::load(dir)?;
                    if dense.in_features != dimension {
                        return Err(Error::invalid(
                            dir,
                            format!("a Dense module takes {} values but receives {dimension}", dense.in_features),
                        ));
                    }
                    dimension = dense.out_features;
                    modules.push(Module::Dense(dense));
                }
            }
        }
        if folder.normalize {
            modules.push(Module::Normalize);
        }
        Ok(StaticModel {
            folder,
            tokenizer,
            rows,
            width,
            vocab_rows,
            dropped_id,
            model2vec_limits,
            max_tokens,
            modules,
            threads: threads.max(1),
        })
    }

    /// Whether the engine's own WordPiece tokenizer runs (no `tokenizers` tokenizer in memory).
    pub fn native_tokenizer(&self) -> bool {
        matches!(self.tokenizer, TextTokenizer::Native(_))
    }

    pub fn folder(&self) -> &StaticFolder {
        &self.folder
    }

    /// Values per token vector.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The embedding's dimension after the modules.
    pub fn dimension(&self) -> usize {
        self.modules.iter().fold(self.width, |d, m| m.output_dimension(d))
    }

    /// Tokens a text keeps: the tokenizer's truncation, or model2vec's `max_length`.
    pub fn max_length(&self) -> Option<usize> {
        self.model2vec_limits.map(|(_, keep)| keep).or(self.max_tokens)
    }

    /// `F32`, `F16` or `BF16`: the precision the token vectors are kept in.
    pub fn weights_dtype(&self) -> &'static str {
        self.rows.dtype()
    }

    /// Bytes the token vectors take in memory.
    pub fn weights_bytes(&self) -> usize {
        self.rows.bytes()
    }

    /// What, beyond the files' content, decides the vectors: for the fingerprint.
    pub fn describe(&self) -> String {
        format!(
            "static:{}:{}:dropped={:?}:limits={:?}:max_tokens={:?}:modules={}",
            self.folder.form.name(),
            self.folder.tensor,
            self.dropped_id,
            self.model2vec_limits,
            self.max_tokens,
            self.modules.iter().map(Module::describe).collect::<Vec<_>>().join(","),
        )
    }

    /// The ids each text's mean is taken over (after model2vec drops its unknown token).
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S], prompt: &str) -> Result<Vec<TokenizedText>> {
        let mut scratch = Scratch::default();
        texts
            .iter()
            .map(|text| {
                self.token_ids(text.as_ref(), prompt, &mut scratch)?;
                let ids = scratch.ids.clone();
                Ok(TokenizedText { type_ids: vec![0; ids.len()], ids })
            })
            .collect()
    }

    /// Embeds `texts` into `out` (`texts.len() × dimension`, row-major), spreading them over the
    /// threads; calls `after_chunk(done)` between chunks, which stops the call by returning an error.
    pub fn embed_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        prompt: &str,
        out: &mut [f32],
        mut after_chunk: impl FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        let dim = self.dimension();
        debug_assert_eq!(out.len(), texts.len() * dim);
        // Progress and abort are checked between chunks; one chunk keeps every thread busy long
        // enough for a spawn to be cheap (a passage takes tens of microseconds to tokenize).
        const CHUNK: usize = 4096;
        const MIN_TEXTS_PER_THREAD: usize = 8;
        let mut done = 0;
        for (texts, out) in texts.chunks(CHUNK).zip(out.chunks_mut(CHUNK * dim)) {
            let threads = self.threads.min(texts.len().div_ceil(MIN_TEXTS_PER_THREAD)).max(1);
            let per_thread = texts.len().div_ceil(threads);
            if threads == 1 {
                self.embed_serial(texts, prompt, out)?;
            } else {
                std::thread::scope(|scope| {
                    let mut parts = texts.chunks(per_thread).zip(out.chunks_mut(per_thread * dim));
                    let first = parts.next().expect("a chunk has texts. This is a bug.");
                    let handles: Vec<_> = parts.map(|(texts, out)| scope.spawn(move || self.embed_serial(texts, prompt, out))).collect();
                    let mut result = self.embed_serial(first.0, prompt, first.1);
                    for handle in handles {
                        let joined = handle.join().unwrap_or_else(|_| Err(Error::Runtime("a static embedding thread panicked".into())));
                        result = result.and(joined);
                    }
                    result
                })?;
            }
            done += texts.len();
            after_chunk(done)?;
        }
        Ok(())
    }

    /// One thread's share, through one [`Scratch`] reused for every text: past the first texts,
    /// the native tokenizer allocates nothing.
    fn embed_serial<S: AsRef<str>>(&self, texts: &[S], prompt: &str, out: &mut [f32]) -> Result<()> {
        let dim = self.dimension();
        let mut scratch = Scratch::default();
        for (text, row) in texts.iter().zip(out.chunks_exact_mut(dim)) {
            self.token_ids(text.as_ref(), prompt, &mut scratch)?;
            let vector = &mut scratch.vector;
            vector.clear();
            vector.resize(self.width, 0.0);
            self.mean_into(&scratch.ids, vector);
            for module in &self.modules {
                match module {
                    Module::Normalize => normalize(vector),
                    Module::Truncate(n) => vector.truncate(*n),
                    Module::Dense(dense) => *vector = dense.forward(vector),
                }
            }
            row.copy_from_slice(vector);
        }
        Ok(())
    }

    /// The mean of the rows of `ids` into `acc` (zeros in, zeros out for a text with no tokens).
    fn mean_into(&self, ids: &[u32], acc: &mut [f32]) {
        let w = self.width;
        let mut count = 0usize;
        for &id in ids {
            // ids were checked against the matrix at load; the tokenizer makes no others
            if id as usize >= self.vocab_rows {
                continue;
            }
            let start = id as usize * w;
            match &self.rows {
                Rows::F32(m) => acc.iter_mut().zip(&m[start..start + w]).for_each(|(a, x)| *a += x),
                Rows::F16(m) => acc.iter_mut().zip(&m[start..start + w]).for_each(|(a, &x)| *a += f16_to_f32(x)),
                Rows::Bf16(m) => acc.iter_mut().zip(&m[start..start + w]).for_each(|(a, &x)| *a += bf16_to_f32(x)),
            }
            count += 1;
        }
        if count > 1 {
            let n = count as f32;
            acc.iter_mut().for_each(|a| *a /= n);
        }
    }

    /// The ids of `prompt + text` the mean is taken over, into `scratch.ids`: the tokenizer without
    /// special tokens, as both libraries call it, then model2vec's dropping and cap.
    fn token_ids(&self, text: &str, prompt: &str, scratch: &mut Scratch) -> Result<()> {
        let mut text = if prompt.is_empty() {
            text
        } else {
            scratch.joined.clear();
            scratch.joined.push_str(prompt);
            scratch.joined.push_str(text);
            scratch.joined.as_str()
        };
        if let Some((chars, _)) = self.model2vec_limits {
            // `sentence[:max_length * median_token_length]`, in characters
            if text.len() > chars {
                if let Some((end, _)) = text.char_indices().nth(chars) {
                    text = &text[..end];
                }
            }
        }
        let ids = &mut scratch.ids;
        ids.clear();
        match &self.tokenizer {
            TextTokenizer::Native(wordpiece) => wordpiece.encode(text, self.max_tokens.unwrap_or(usize::MAX), ids, &mut scratch.words),
            TextTokenizer::Library { tokenizer, prefix_bytes } => {
                let failed = |e| Error::Runtime(format!("tokenizer {} failed: {e}", self.folder.tokenizer.display()));
                let encoding = match prefix_bytes {
                    Some(cut) => encode_prefix(tokenizer, text, *cut, false).map_err(failed)?,
                    None => None,
                };
                let encoding = match encoding {
                    Some(encoding) => encoding,
                    None => tokenizer.encode_fast(text, false).map_err(failed)?,
                };
                ids.extend_from_slice(encoding.get_ids());
            }
        }
        if let Some(dropped) = self.dropped_id {
            ids.retain(|&id| id != dropped);
        }
        if let Some((_, keep)) = self.model2vec_limits {
            ids.truncate(keep);
        }
        Ok(())
    }
}

/// Buffers one thread reuses from text to text.
#[derive(Default)]
struct Scratch {
    /// The prompt and the text, when there is a prompt.
    joined: String,
    ids: Vec<u32>,
    words: WordBuffers,
    vector: Vec<f32>,
}

/// Safetensors' own bound on the JSON header.
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Reads tensor `name` ([rows, width], F32, F16 or BF16) of a safetensors file, checking every value
/// is finite. Only the header and that tensor are read, straight into the matrix, so a load never
/// holds the file and the matrix at once.
fn read_matrix(path: &Path, name: &str) -> Result<(Rows, [usize; 2])> {
    let (mut file, len) = open_model_file(path, FileKind::Weights)?.ok_or_else(|| Error::ModelNotFound {
        what: "static model weights (model.safetensors)".into(),
        looked_at: vec![path.to_path_buf()],
    })?;
    let invalid = |reason: String| Error::invalid(path, reason);
    let io = |e: std::io::Error| Error::invalid(path, e);
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|_| invalid("not a safetensors file: shorter than its header".into()))?;
    let header_len = u64::from_le_bytes(n);
    if header_len > MAX_HEADER_BYTES || 8 + header_len > len {
        return Err(invalid(format!("not a safetensors file: a header of {header_len} bytes in a file of {len}")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let header: Value =
        serde_json::from_slice(&header).map_err(|e| invalid(format!("not a safetensors file: its header is not JSON ({e})")))?;
    let Some(info) = header.get(name) else {
        let mut names: Vec<&str> =
            header.as_object().map(|o| o.keys().map(String::as_str).filter(|k| *k != "__metadata__").collect()).unwrap_or_default();
        names.sort_unstable();
        return Err(invalid(format!("no tensor `{name}` (it holds {})", if names.is_empty() { "none".into() } else { names.join(", ") })));
    };
    let dtype = info.get("dtype").and_then(Value::as_str).unwrap_or("");
    let shape: Vec<usize> = info
        .get("shape")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect())
        .unwrap_or_default();
    let &[rows, width] = shape.as_slice() else {
        return Err(invalid(format!("tensor `{name}` has shape {shape:?}, expected [tokens, dimension]")));
    };
    if rows == 0 || width == 0 {
        return Err(invalid(format!("tensor `{name}` has shape {shape:?}, expected [tokens, dimension]")));
    }
    let size = match dtype {
        "F32" => 4,
        "F16" | "BF16" => 2,
        other => return Err(invalid(format!("tensor `{name}` is {other}; static models are read in F32, F16 or BF16"))),
    };
    let offsets: Vec<u64> =
        info.get("data_offsets").and_then(Value::as_array).map(|o| o.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let values = rows.checked_mul(width).ok_or_else(|| invalid(format!("tensor `{name}` has shape {shape:?}")))?;
    let expected = (values as u64).saturating_mul(size);
    let data_start = 8 + header_len;
    match offsets.as_slice() {
        &[start, end] if end >= start && end - start == expected && data_start.checked_add(end).is_some_and(|e| e <= len) => {
            file.seek(SeekFrom::Start(data_start + start)).map_err(io)?;
        }
        _ => {
            return Err(invalid(format!(
                "tensor `{name}` has data offsets {offsets:?}, which do not hold {shape:?} {dtype} values in this file"
            )))
        }
    }
    let not_finite = |i: usize| invalid(format!("tensor `{name}` has a non-finite value in row {}", i / width));
    // read in blocks, converted from little-endian as they come
    let mut block = vec![0u8; 1 << 16];
    let mut left = expected as usize;
    let rows_data = match size {
        4 => {
            let mut m = Vec::with_capacity(values);
            while left > 0 {
                let take = left.min(block.len());
                file.read_exact(&mut block[..take]).map_err(io)?;
                m.extend(block[..take].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                left -= take;
            }
            if let Some(i) = m.iter().position(|x| !x.is_finite()) {
                return Err(not_finite(i));
            }
            Rows::F32(m)
        }
        _ => {
            let mut m = Vec::with_capacity(values);
            while left > 0 {
                let take = left.min(block.len());
                file.read_exact(&mut block[..take]).map_err(io)?;
                m.extend(block[..take].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])));
                left -= take;
            }
            // an exponent of all ones is infinity or NaN
            let exponent = if dtype == "F16" { 0x7c00 } else { 0x7f80 };
            if let Some(i) = m.iter().position(|&x| x & exponent == exponent) {
                return Err(not_finite(i));
            }
            if dtype == "F16" {
                Rows::F16(m)
            } else {
                Rows::Bf16(m)
            }
        }
    };
    Ok((rows_data, [rows, width]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_widen_exactly() {
        // 1.0, -2.0, 65504 (largest), 2^-14 (smallest normal), 2^-24 (smallest subnormal), -0.0
        let cases: [(u16, f32); 7] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x7bff, 65504.0),
            (0x0400, 6.103_515_6e-5),
            (0x0001, 5.960_464_5e-8),
            (0x8000, -0.0),
            (0x3555, 0.333_251_95),
        ];
        for (bits, want) in cases {
            assert_eq!(f16_to_f32(bits).to_bits(), want.to_bits(), "{bits:#06x}");
        }
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
    }

    fn write_safetensors(path: &Path, name: &str, dtype: &str, shape: [usize; 2], data: &[u8]) {
        let header = format!(r#"{{"{name}":{{"dtype":"{dtype}","shape":[{},{}],"data_offsets":[0,{}]}}}}"#, shape[0], shape[1], data.len());
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn matrices_are_checked_and_kept_in_their_precision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let halves: Vec<u8> = [0x3c00u16, 0xc000, 0x0000, 0x3800].iter().flat_map(|h| h.to_le_bytes()).collect();
        write_safetensors(&path, "embeddings", "F16", [2, 2], &halves);
        let (rows, shape) = read_matrix(&path, "embeddings").unwrap();
        assert_eq!((rows.dtype(), rows.bytes(), shape), ("F16", 8, [2, 2]));

        let err = read_matrix(&path, "embedding.weight").unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("embeddings"), "{err}");

        // a NaN, a shape the data does not fill, a dtype not read
        let nan: Vec<u8> = [0x3c00u16, 0x7e00, 0, 0].iter().flat_map(|h| h.to_le_bytes()).collect();
        write_safetensors(&path, "embeddings", "F16", [2, 2], &nan);
        assert!(read_matrix(&path, "embeddings").unwrap_err().to_string().contains("non-finite value in row 0"));
        write_safetensors(&path, "embeddings", "F16", [3, 2], &halves);
        assert_eq!(read_matrix(&path, "embeddings").unwrap_err().code(), "ERR_MODEL_INVALID");
        write_safetensors(&path, "embeddings", "I8", [2, 2], &[1, 2, 3, 4]);
        assert!(read_matrix(&path, "embeddings").unwrap_err().to_string().contains("I8"));
        std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7f").unwrap();
        assert_eq!(read_matrix(&path, "embeddings").unwrap_err().code(), "ERR_MODEL_INVALID");
    }

    #[test]
    fn detection_reads_the_configs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(dir.path()).unwrap().is_none());
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"path":"","type":"sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding"},
                {"path":"1_Normalize","type":"sentence_transformers.base.modules.normalize.Normalize"}]"#,
        )
        .unwrap();
        let folder = detect(dir.path()).unwrap().unwrap();
        assert_eq!(folder.form, StaticForm::SentenceTransformers);
        assert_eq!(folder.required_files(), vec!["model.safetensors", "tokenizer.json"]);

        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "model2vec", "normalize": true}"#).unwrap();
        let folder = detect(dir.path()).unwrap().unwrap();
        assert_eq!((folder.form, folder.tensor, folder.normalize), (StaticForm::Model2Vec, "embeddings", true));

        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("modules.json"), r#"[{"path":"","type":"StaticEmbedding"},{"path":"p","type":"Pooling"}]"#).unwrap();
        let err = detect(dir.path()).unwrap_err();
        assert!(err.to_string().contains("modules.json") && err.to_string().contains("Pooling"), "{err}");
        std::fs::write(dir.path().join("modules.json"), r#"[{"path":"../x","type":"StaticEmbedding"}]"#).unwrap();
        assert!(detect(dir.path()).unwrap_err().to_string().contains("leaves the model folder"));
    }
}
