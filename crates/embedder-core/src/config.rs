//! What the sentence-transformers configs of a model folder say (which files it has, and how
//! they are read, is [`files`](crate::files)'s).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::files::{read_json, read_modules};
use crate::modules::{Dense, Module};
use crate::pooling::PoolingConfig;

/// The one rule for the truncation length, from `sentence_bert_config.json` or the `maxLength`
/// option: an integer from 2 up to the tokens the model's positions allow ([`position_limit`]);
/// past that limit the graph fails on every long text. `limit` is `None` when the model gives none.
pub fn check_max_seq_length(value: f64, limit: Option<usize>) -> std::result::Result<usize, String> {
    let max = limit.unwrap_or(u32::MAX as usize);
    if value.fract() != 0.0 || !(2.0..=max as f64).contains(&value) {
        let bound = limit.map_or(String::new(), |l| format!(" (the model's position embeddings allow {l} tokens)"));
        return Err(format!("{value} is not an integer from 2 to {max}{bound}"));
    }
    Ok(value as usize)
}

/// Model types whose embeddings number positions from `padding_idx + 1` (transformers'
/// `create_position_ids_from_input_ids`, taken from fairseq), so the first `pad_token_id + 1` rows
/// of the position table are never used by a token.
const POSITIONS_AFTER_PADDING: [&str; 4] = ["roberta", "xlm-roberta", "camembert", "mpnet"];

/// The longest input (special tokens included) `config.json` allows: `max_position_embeddings`,
/// less `pad_token_id + 1` for the RoBERTa family (514 - 1 - 1 = 512 for roberta-base).
fn position_limit(model_cfg: &Option<Value>, path: &Path) -> Result<Option<usize>> {
    let Some(positions) = optional_usize(model_cfg, "max_position_embeddings", path)? else {
        return Ok(None);
    };
    let model_type = model_cfg.as_ref().and_then(|j| j.get("model_type")).and_then(Value::as_str);
    if !model_type.is_some_and(|t| POSITIONS_AFTER_PADDING.contains(&t)) {
        return Ok(Some(positions));
    }
    // RobertaConfig's default pad_token_id, as checkpoint.rs reads it
    let pad = match model_cfg.as_ref().and_then(|j| j.get("pad_token_id")) {
        None | Some(Value::Null) => 1,
        Some(v) => {
            v.as_u64().ok_or_else(|| Error::invalid(path, format!("`pad_token_id` must be a non-negative integer, found {v}")))? as usize
        }
    };
    match positions.checked_sub(pad + 1) {
        Some(limit) if limit >= 2 => Ok(Some(limit)),
        _ => Err(Error::invalid(
            path,
            format!(
                "`max_position_embeddings` {positions} leaves no room for a text after the {} positions up to `pad_token_id` {pad}",
                pad + 1
            ),
        )),
    }
}

fn optional_usize(json: &Option<Value>, key: &str, path: &Path) -> Result<Option<usize>> {
    match json.as_ref().and_then(|j| j.get(key)) {
        None | Some(Value::Null) => Ok(None),
        // tokenizer_config.json writes "no limit" as a huge float (1e30)
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v > 0 => Ok(Some(v as usize)),
            _ => match n.as_f64() {
                Some(f) if f >= 1.0 => Ok(Some(f.min(usize::MAX as f64) as usize)),
                _ => Err(Error::invalid(path, format!("`{key}` must be a positive integer, found {n}"))),
            },
        },
        Some(other) => Err(Error::invalid(path, format!("`{key}` must be a positive integer, found {other}"))),
    }
}

fn optional_bool(json: &Option<Value>, key: &str, path: &Path) -> Result<Option<bool>> {
    match json.as_ref().and_then(|j| j.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::invalid(path, format!("`{key}` must be a boolean, found {other}"))),
    }
}

/// The prompts by name (`query`, `document`, …) of `config_sentence_transformers.json`.
pub fn read_prompts(dir: &Path) -> Result<BTreeMap<String, String>> {
    let st_path = dir.join("config_sentence_transformers.json");
    let mut prompts = BTreeMap::new();
    if let Some(Value::Object(st)) = read_json(&st_path)? {
        match st.get("prompts") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, prompt) in map {
                    let prompt = prompt.as_str().ok_or_else(|| Error::invalid(&st_path, format!("prompt `{name}` must be a string")))?;
                    prompts.insert(name.clone(), prompt.to_string());
                }
            }
            Some(other) => return Err(Error::invalid(&st_path, format!("`prompts` must be an object, found {other}"))),
        }
    }
    Ok(prompts)
}

/// What the model's own configuration files say about how sentence-transformers embeds with it.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Tokens per text after truncation (special tokens included).
    pub max_seq_length: usize,
    /// The longest input the model's positions allow, when `config.json` gives
    /// `max_position_embeddings`: that number, less `pad_token_id + 1` for the RoBERTa family
    /// (see [`position_limit`]). The bound of [`check_max_seq_length`] for config and option alike.
    pub max_position_embeddings: Option<usize>,
    pub do_lower_case: bool,
    pub pooling: PoolingConfig,
    /// Modules after pooling, in `modules.json` order.
    pub modules: Vec<Module>,
    /// `config_sentence_transformers.json` prompts by name (`query`, `document`, …).
    pub prompts: BTreeMap<String, String>,
    pub hidden_size: Option<usize>,
    /// Rows of the model's token embedding table (`config.json` `vocab_size`), when given.
    pub vocab_size: Option<usize>,
}

impl ModelConfig {
    pub fn load(dir: &Path) -> Result<Self> {
        let sbert_path = dir.join("sentence_bert_config.json");
        let sbert = read_json(&sbert_path)?;
        let tok_cfg_path = dir.join("tokenizer_config.json");
        let tok_cfg = read_json(&tok_cfg_path)?;
        let model_cfg_path = dir.join("config.json");
        let model_cfg = read_json(&model_cfg_path)?;

        let max_position_embeddings = position_limit(&model_cfg, &model_cfg_path)?;
        let model_max_length = optional_usize(&tok_cfg, "model_max_length", &tok_cfg_path)?;
        // sentence-transformers truncates at sentence_bert_config.max_seq_length; without it, at
        // min(tokenizer model_max_length, config max_position_embeddings), where the position limit is
        // the one the model can run (a RoBERTa checkpoint's 514 positions hold 512 tokens).
        let max_seq_length = match sbert.as_ref().and_then(|j| j.get("max_seq_length")) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                check_max_seq_length(n.as_f64().unwrap_or(f64::NAN), max_position_embeddings)
                    .map_err(|reason| Error::invalid(&sbert_path, format!("`max_seq_length` {reason}")))?,
            ),
            Some(other) => return Err(Error::invalid(&sbert_path, format!("`max_seq_length` must be a positive integer, found {other}"))),
        };
        let max_seq_length = match max_seq_length {
            Some(n) => n,
            None => match (model_max_length, max_position_embeddings) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => 512,
            },
        };
        let do_lower_case = optional_bool(&sbert, "do_lower_case", &sbert_path)?.unwrap_or(false);
        let hidden_size = optional_usize(&model_cfg, "hidden_size", &model_cfg_path)?;
        let vocab_size = optional_usize(&model_cfg, "vocab_size", &model_cfg_path)?;

        let (pooling, modules) = Self::load_modules(dir)?;

        let prompts = read_prompts(dir)?;

        Ok(ModelConfig { max_seq_length, max_position_embeddings, do_lower_case, pooling, modules, prompts, hidden_size, vocab_size })
    }

    /// Walks `modules.json`. Without it, sentence-transformers builds Transformer + mean Pooling.
    fn load_modules(dir: &Path) -> Result<(PoolingConfig, Vec<Module>)> {
        let path = dir.join("modules.json");
        let Some(entries) = read_modules(dir)? else {
            return Ok((PoolingConfig::default(), Vec::new()));
        };
        let mut pooling = None;
        let mut modules = Vec::new();
        for entry in &entries {
            let (i, ty) = (entry.index, &entry.type_name);
            let module_dir = dir.join(&entry.folder);
            match entry.class.as_str() {
                "Transformer" if i == 0 => {}
                "Pooling" if pooling.is_none() && modules.is_empty() => {
                    let cfg_path = module_dir.join("config.json");
                    let cfg = read_json(&cfg_path)?
                        .ok_or_else(|| Error::ModelNotFound { what: "pooling config".into(), looked_at: vec![cfg_path.clone()] })?;
                    pooling = Some(PoolingConfig::from_json(&cfg).map_err(|reason| Error::invalid(&cfg_path, reason))?);
                }
                "Dense" if pooling.is_some() => modules.push(Module::Dense(Dense::load(&module_dir)?)),
                "Normalize" if pooling.is_some() => modules.push(Module::Normalize),
                _ => {
                    return Err(Error::invalid(
                        &path,
                        format!(
                            "module {i} of type `{ty}` is not supported here (supported: Transformer, then Pooling, then Dense/Normalize)"
                        ),
                    ))
                }
            }
        }
        let pooling = pooling.ok_or_else(|| Error::invalid(&path, "no Pooling module: the model does not produce sentence embeddings"))?;
        Ok((pooling, modules))
    }

    pub fn normalizes(&self) -> bool {
        matches!(self.modules.last(), Some(Module::Normalize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pooling::PoolingMode;

    use crate::files::test_folder as folder;

    #[test]
    fn max_length_precedence() {
        let d = folder(&[
            ("sentence_bert_config.json", r#"{"max_seq_length": 256, "do_lower_case": true}"#),
            ("tokenizer_config.json", r#"{"model_max_length": 512}"#),
            ("config.json", r#"{"max_position_embeddings": 512, "hidden_size": 384}"#),
        ]);
        let c = ModelConfig::load(d.path()).unwrap();
        assert_eq!((c.max_seq_length, c.do_lower_case, c.hidden_size), (256, true, Some(384)));

        let d =
            folder(&[("tokenizer_config.json", r#"{"model_max_length": 128}"#), ("config.json", r#"{"max_position_embeddings": 512}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_seq_length, 128);

        let d =
            folder(&[("tokenizer_config.json", r#"{"model_max_length": 1e30}"#), ("config.json", r#"{"max_position_embeddings": 514}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_seq_length, 514);
    }

    #[test]
    fn no_modules_json_means_mean_pooling_without_normalize() {
        let d = folder(&[]);
        let c = ModelConfig::load(d.path()).unwrap();
        assert_eq!(c.pooling.modes, vec![PoolingMode::Mean]);
        assert!(!c.normalizes());
    }

    #[test]
    fn modules_in_order_with_any_class_path() {
        let d = folder(&[
            (
                "modules.json",
                r#"[{"idx":0,"path":"","type":"sentence_transformers.base.modules.transformer.Transformer"},
                    {"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                    {"idx":2,"path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
            ),
            ("1_Pooling/config.json", r#"{"pooling_mode": "max"}"#),
        ]);
        let c = ModelConfig::load(d.path()).unwrap();
        assert_eq!(c.pooling.modes, vec![PoolingMode::Max]);
        assert!(c.normalizes());
    }

    #[test]
    fn unknown_module_type_is_named() {
        let d = folder(&[(
            "modules.json",
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"x","type":"sentence_transformers.models.LSTM"}]"#,
        )]);
        let err = ModelConfig::load(d.path()).unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("sentence_transformers.models.LSTM"), "{err}");
    }

    #[test]
    fn module_paths_stay_in_the_model_folder() {
        for bad in ["../elsewhere", "/etc", "1_Pooling/../../x"] {
            let modules = format!(
                r#"[{{"path":"","type":"sentence_transformers.models.Transformer"}},{{"path":{bad:?},"type":"sentence_transformers.models.Pooling"}}]"#
            );
            let d = folder(&[("modules.json", &modules)]);
            let err = ModelConfig::load(d.path()).unwrap_err();
            assert_eq!(err.code(), "ERR_MODEL_INVALID");
            assert!(err.to_string().contains("modules.json") && err.to_string().contains("not a folder inside the model"), "{err}");
        }
    }

    #[test]
    fn wrong_types_and_broken_json_name_the_file() {
        let d = folder(&[("sentence_bert_config.json", r#"{"max_seq_length": "long"}"#)]);
        let err = ModelConfig::load(d.path()).unwrap_err();
        assert!(err.to_string().contains("sentence_bert_config.json") && err.to_string().contains("max_seq_length"), "{err}");

        let d = folder(&[("config.json", "{not json")]);
        let err = ModelConfig::load(d.path()).unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("config.json"), "{err}");

        let d = folder(&[("config_sentence_transformers.json", r#"{"prompts": {"query": 3}}"#)]);
        assert!(ModelConfig::load(d.path()).unwrap_err().to_string().contains("query"));
    }

    /// Runs `f` on a thread and fails the test if it takes more than 10 s (a FIFO would block forever).
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the load blocked")
    }

    #[cfg(unix)]
    #[test]
    fn config_files_must_be_bounded_regular_files() {
        // a symlink to /dev/zero read until the OOM killer; a FIFO blocked forever
        let d = folder(&[]);
        std::os::unix::fs::symlink("/dev/zero", d.path().join("sentence_bert_config.json")).unwrap();
        let path = d.path().to_path_buf();
        let err = within_10s(move || ModelConfig::load(&path).unwrap_err());
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("sentence_bert_config.json") && err.to_string().contains("not a regular file"), "{err}");

        let d = folder(&[]);
        let fifo = std::ffi::CString::new(d.path().join("config.json").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let path = d.path().to_path_buf();
        let err = within_10s(move || ModelConfig::load(&path).unwrap_err());
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("config.json"), "{err}");

        // a sparse file past the JSON limit is refused without being read
        let d = folder(&[]);
        std::fs::File::create(d.path().join("modules.json")).unwrap().set_len(crate::files::FileKind::Config.max_bytes() + 1).unwrap();
        let err = ModelConfig::load(d.path()).unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_INVALID");
        assert!(err.to_string().contains("modules.json") && err.to_string().contains("allowed"), "{err}");

        assert!(crate::files::read_model_file(&d.path().join("absent.json"), crate::files::FileKind::Config).unwrap().is_none());
    }

    #[test]
    fn max_seq_length_is_an_integer_within_the_position_limit() {
        for bad in ["600", "1e30", "12.5", "1", "-3"] {
            let d = folder(&[
                ("sentence_bert_config.json", &format!(r#"{{"max_seq_length": {bad}}}"#) as &str),
                ("config.json", r#"{"max_position_embeddings": 512}"#),
            ]);
            let err = ModelConfig::load(d.path()).unwrap_err();
            assert_eq!(err.code(), "ERR_MODEL_INVALID", "{bad}: {err}");
            assert!(err.to_string().contains("sentence_bert_config.json") && err.to_string().contains("max_seq_length"), "{err}");
        }
        let d =
            folder(&[("sentence_bert_config.json", r#"{"max_seq_length": 512}"#), ("config.json", r#"{"max_position_embeddings": 512}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_seq_length, 512);
        // the option follows the same rule
        assert!(check_max_seq_length(600.0, Some(512)).is_err() && check_max_seq_length(12.5, None).is_err());
        assert_eq!(check_max_seq_length(256.0, Some(512)), Ok(256));
    }

    #[test]
    fn roberta_family_positions_start_after_the_padding_index() {
        let roberta = r#"{"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}"#;
        // no limit from the tokenizer: the positions' limit, 512 rather than 514
        let d = folder(&[("tokenizer_config.json", r#"{"model_max_length": 1e30}"#), ("config.json", roberta)]);
        let c = ModelConfig::load(d.path()).unwrap();
        assert_eq!((c.max_seq_length, c.max_position_embeddings), (512, Some(512)));
        // the option follows the same rule as the config
        assert_eq!(check_max_seq_length(512.0, c.max_position_embeddings), Ok(512));
        for over in [513.0, 514.0] {
            let err = check_max_seq_length(over, c.max_position_embeddings).unwrap_err();
            assert!(err.contains("from 2 to 512"), "{err}");
        }
        for over in ["513", "514"] {
            let d = folder(&[("sentence_bert_config.json", &format!(r#"{{"max_seq_length": {over}}}"#) as &str), ("config.json", roberta)]);
            assert_eq!(ModelConfig::load(d.path()).unwrap_err().code(), "ERR_MODEL_INVALID", "{over}");
        }
        // xlm-roberta without pad_token_id: RobertaConfig's default, 1
        let d = folder(&[("config.json", r#"{"model_type": "xlm-roberta", "max_position_embeddings": 514}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_seq_length, 512);
        let d = folder(&[("config.json", r#"{"model_type": "camembert", "max_position_embeddings": 514, "pad_token_id": 3}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_position_embeddings, Some(510));
        // BERT numbers positions from 0
        let d = folder(&[("config.json", r#"{"model_type": "bert", "max_position_embeddings": 512, "pad_token_id": 0}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap().max_seq_length, 512);
        let d = folder(&[("config.json", r#"{"model_type": "roberta", "max_position_embeddings": 3, "pad_token_id": 1}"#)]);
        assert_eq!(ModelConfig::load(d.path()).unwrap_err().code(), "ERR_MODEL_INVALID");
    }

    #[test]
    fn prompts_are_read() {
        let d = folder(&[("config_sentence_transformers.json", r#"{"prompts": {"query": "query: ", "document": "passage: "}}"#)]);
        let c = ModelConfig::load(d.path()).unwrap();
        assert_eq!(c.prompts.get("query").map(String::as_str), Some("query: "));
    }
}
