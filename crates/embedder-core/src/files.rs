//! The model folder's layout: which files an embedder reads (graphs, checkpoints, configs,
//! `modules.json` and the module folders it names), and the one rule every file of a model folder
//! is read under. The hub client fetches by these rules and the loaders read by them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// The weights file of a checkpoint folder (`SentenceTransformer.save`, `save_pretrained`).
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Which graph of the model to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dtype {
    #[default]
    Fp32,
    /// int8: the graph derived from the fp32 one with per-row activation scales (`onnx::q8`), or
    /// the folder's `model_quantized.onnx` when it has no fp32 graph.
    Q8,
}

impl Dtype {
    pub const ALL: [Dtype; 2] = [Dtype::Fp32, Dtype::Q8];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Q8 => "q8",
        }
    }
}

/// How a graph file found in a model folder is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphUse {
    /// Loaded as it is.
    AsIs,
    /// The fp32 graph whose int8 graph is derived and loaded (`dtype: 'q8'`).
    DeriveQ8,
    /// A checkpoint (`model.safetensors` + `config.json`) whose encoder graph is built (the
    /// `checkpoint` module); with `q8`, then its int8 graph derived.
    Build { q8: bool },
}

/// The graph files an embedder may load, relative to the model folder, in order of preference:
/// `model_file` alone when given; else `onnx/<name>` (the Hugging Face / transformers.js layout)
/// then `<name>` at the root, of the fp32 graph; then the checkpoint `model.safetensors` a graph
/// is built from (a folder `SentenceTransformer.save` wrote); and for `q8` last the shipped int8
/// file `model_quantized.onnx`, loaded as it is when there is nothing to derive from. The one
/// list of graph files: the hub client fetches from it and [`ModelFiles::locate`] looks for it.
pub fn graph_candidates(dtype: Dtype, model_file: Option<&str>) -> Vec<(String, GraphUse)> {
    if let Some(file) = model_file {
        return vec![(file.to_string(), GraphUse::AsIs)];
    }
    let q8 = dtype == Dtype::Q8;
    let onnx_use = if q8 { GraphUse::DeriveQ8 } else { GraphUse::AsIs };
    let mut candidates = vec![
        ("onnx/model.onnx".to_string(), onnx_use),
        ("model.onnx".to_string(), onnx_use),
        (WEIGHTS_FILE.to_string(), GraphUse::Build { q8 }),
    ];
    if q8 {
        candidates
            .extend([("onnx/model_quantized.onnx".to_string(), GraphUse::AsIs), ("model_quantized.onnx".to_string(), GraphUse::AsIs)]);
    }
    candidates
}

/// The files an embedder loads from a model folder.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    pub dir: PathBuf,
    /// The graph file found: loaded as it is, or the fp32 graph of a derived one (`graph_use`).
    pub onnx: PathBuf,
    pub graph_use: GraphUse,
    pub tokenizer: PathBuf,
}

impl ModelFiles {
    /// Finds the graph (the first of [`graph_candidates`] that exists) and `tokenizer.json`.
    pub fn locate(dir: &Path, dtype: Dtype, model_file: Option<&str>) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::ModelNotFound { what: "model folder".into(), looked_at: vec![dir.to_path_buf()] });
        }
        let candidates = graph_candidates(dtype, model_file);
        let found = candidates.iter().map(|(file, u)| (dir.join(file), *u)).find(|(p, _)| p.is_file());
        let Some((onnx, graph_use)) = found else {
            if let Some(refusal) = refusal(dir).filter(|_| model_file.is_none()) {
                return Err(refusal);
            }
            return Err(Error::ModelNotFound {
                what: format!("ONNX model ({}) or a model.safetensors checkpoint", dtype.name()),
                looked_at: candidates.iter().map(|(f, _)| dir.join(f)).collect(),
            });
        };
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(Error::ModelNotFound { what: "tokenizer (tokenizer.json)".into(), looked_at: vec![tokenizer] });
        }
        Ok(ModelFiles { dir: dir.to_path_buf(), onnx, graph_use, tokenizer })
    }
}

/// What a file of a model folder holds, which bounds its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `config.json`, `sentence_bert_config.json`, `modules.json`, a module's `config.json`.
    Config,
    /// `tokenizer.json` (large vocabularies are tens of megabytes).
    Tokenizer,
    /// An ONNX graph or a `model.safetensors`.
    Weights,
}

impl FileKind {
    pub fn max_bytes(self) -> u64 {
        match self {
            FileKind::Config => 16 << 20,
            FileKind::Tokenizer => 256 << 20,
            FileKind::Weights => 8 << 30,
        }
    }
}

/// Opens a file of a model folder: a regular file (symlinks followed) of at most `kind`'s size;
/// `Ok(None)` when it does not exist. This is the one rule for every file taken from a model
/// folder: a config linked to `/dev/zero` would read until memory runs out, and a FIFO would
/// block the load forever. The file is opened non-blocking and checked again once open, so a FIFO
/// swapped in after the first look cannot hang either.
pub fn open_model_file(path: &Path, kind: FileKind) -> Result<Option<(std::fs::File, u64)>> {
    let check = |meta: &std::fs::Metadata| -> Result<u64> {
        if !meta.is_file() {
            return Err(Error::invalid(path, "not a regular file"));
        }
        if meta.len() > kind.max_bytes() {
            return Err(Error::invalid(path, format!("{} bytes is more than the {} allowed for this file", meta.len(), kind.max_bytes())));
        }
        Ok(meta.len())
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::invalid(path, e)),
    };
    check(&meta)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::invalid(path, e))?;
    let len = check(&file.metadata().map_err(|e| Error::invalid(path, e))?)?;
    Ok(Some((file, len)))
}

/// The bytes of a file of a model folder, under the rule of [`open_model_file`].
pub fn read_model_file(path: &Path, kind: FileKind) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let Some((file, len)) = open_model_file(path, kind)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(len as usize);
    // a file that grows while it is read stops at the limit
    file.take(kind.max_bytes() + 1).read_to_end(&mut bytes).map_err(|e| Error::invalid(path, e))?;
    if bytes.len() as u64 > kind.max_bytes() {
        return Err(Error::invalid(path, format!("more than the {} bytes allowed for this file", kind.max_bytes())));
    }
    Ok(Some(bytes))
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json(path: &Path) -> Result<Option<Value>> {
    match read_model_file(path, FileKind::Config)? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::invalid(path, format!("not valid JSON: {e}"))),
        None => Ok(None),
    }
}

/// A path inside a model folder, as `modules.json` and `modelFile` give one: `/`-separated, with
/// no empty, `..` or absolute part and no `\\`, `:` or NUL (so it stays inside the folder, and
/// is a valid part of a hub URL). This is the one path rule for both.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains(['\\', ':', '\0']))
}

/// One entry of `modules.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleEntry {
    pub index: usize,
    /// The full type (`sentence_transformers.models.Dense`, `sentence_transformers.base.modules.dense.Dense`…).
    pub type_name: String,
    /// The class name, the last part of the type: what identifies the module, since class paths
    /// moved between sentence-transformers versions.
    pub class: String,
    /// The module's folder relative to the model folder, `./` parts dropped; `""` for the root.
    pub folder: String,
}

/// The modules of `dir/modules.json` in order, `None` without one. A module folder must stay
/// inside the model folder ([`is_safe_path`], after dropping `./` parts).
pub fn read_modules(dir: &Path) -> Result<Option<Vec<ModuleEntry>>> {
    let path = dir.join("modules.json");
    let Some(json) = read_json(&path)? else { return Ok(None) };
    let entries = json.as_array().ok_or_else(|| Error::invalid(&path, "expected a JSON array of modules"))?;
    let mut modules = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let type_name = entry
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(&path, format!("module {index} has no string `type`")))?;
        let raw = entry.get("path").and_then(Value::as_str).unwrap_or("");
        let folder = raw.split('/').filter(|part| *part != ".").collect::<Vec<_>>().join("/");
        if !folder.is_empty() && !is_safe_path(&folder) {
            return Err(Error::invalid(&path, format!("module {index} has path {raw:?}, which is not a folder inside the model")));
        }
        let class = type_name.rsplit('.').next().unwrap_or(type_name).to_string();
        modules.push(ModuleEntry { index, type_name: type_name.to_string(), class, folder });
    }
    Ok(Some(modules))
}

/// The configuration files an embedder reads when they are present (after `tokenizer.json`).
pub const CONFIG_FILES: [&str; 5] =
    ["config.json", "tokenizer_config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "modules.json"];

/// The files of the modules `modules.json` in `dir` lists, each with whether loading needs it: a
/// Pooling module's `config.json`, a Dense module's `config.json` and `model.safetensors`; other
/// modules' `config.json` when present. The Transformer reads the root files.
pub fn module_files(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut files = Vec::new();
    for entry in read_modules(dir)?.unwrap_or_default() {
        let folder = &entry.folder;
        if folder.is_empty() || entry.class == "Transformer" {
            continue;
        }
        match entry.class.as_str() {
            "Pooling" => files.push((format!("{folder}/config.json"), true)),
            "Dense" => {
                files.push((format!("{folder}/config.json"), true));
                files.push((format!("{folder}/model.safetensors"), true));
            }
            _ => files.push((format!("{folder}/config.json"), false)),
        }
    }
    Ok(files)
}

/// The files of `dir` besides the graph whose content determines its vectors, relative: the
/// tokenizer, the configuration files and the modules' files that exist. Nothing else counts (a
/// README, training leftovers), so copies of a model with other extra files share cache entries.
pub fn vector_files(dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = std::iter::once("tokenizer.json").chain(CONFIG_FILES).map(String::from).collect();
    files.extend(module_files(dir)?.into_iter().map(|(file, _)| file));
    files.retain(|f| dir.join(f).is_file());
    files.sort();
    files.dedup();
    Ok(files)
}

/// What to do instead of loading a checkpoint that cannot be built.
pub const HOW_TO_EXPORT: &str =
    "or export the model to ONNX yourself into onnx/model.onnx (optimum-cli export onnx, or torch.onnx.export of the transformer)";

/// The refusal of a `pytorch_model.bin` (a pickle: unpickling runs code, so it is never loaded),
/// saying how to save the model in `model_dir` as safetensors; `more` adds other ways out.
pub fn pickle_refusal(pickle: &Path, model_dir: &Path, more: &str) -> Error {
    Error::invalid(
        pickle,
        format!(
            "pytorch_model.bin is a pickle, which can run code when it is loaded, so it is never loaded here; convert it to safetensors once with Python: \
             `from sentence_transformers import SentenceTransformer; SentenceTransformer('{0}').save('{0}', safe_serialization=True)`{more}",
            model_dir.display(),
        ),
    )
}

/// Why a folder without a graph or `model.safetensors` cannot run, when it holds weights that are
/// refused: `pytorch_model.bin` is a pickle (unpickling runs code) and is never loaded.
pub fn refusal(dir: &Path) -> Option<Error> {
    if dir.join(WEIGHTS_FILE).is_file() {
        return None;
    }
    if dir.join("model.safetensors.index.json").is_file() {
        return Some(Error::invalid(
            dir.join("model.safetensors.index.json"),
            format!("checkpoints split into several safetensors files are not supported; save the model as one model.safetensors, {HOW_TO_EXPORT}"),
        ));
    }
    let pickle = dir.join("pytorch_model.bin");
    pickle.is_file().then(|| {
        pickle_refusal(
            &pickle,
            dir,
            &format!(
                " (or transformers' `AutoModel.from_pretrained(path).save_pretrained(path, safe_serialization=True)`), {HOW_TO_EXPORT}"
            ),
        )
    })
}

/// A model folder for tests: each `(relative path, content)` written, folders made as needed.
#[cfg(test)]
pub(crate) fn test_folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::files::test_folder as folder;

    #[test]
    fn locate_prefers_onnx_folder_and_reports_where_it_looked() {
        let d = folder(&[("model.onnx", "x"), ("tokenizer.json", "{}")]);
        assert_eq!(ModelFiles::locate(d.path(), Dtype::Fp32, None).unwrap().onnx, d.path().join("model.onnx"));
        // q8 derives from the fp32 graph...
        let q8 = ModelFiles::locate(d.path(), Dtype::Q8, None).unwrap();
        assert_eq!((q8.onnx, q8.graph_use), (d.path().join("model.onnx"), GraphUse::DeriveQ8));
        // ...and takes the shipped int8 file as it is only when there is none
        let d = folder(&[("onnx/model_quantized.onnx", "x"), ("tokenizer.json", "{}")]);
        let q8 = ModelFiles::locate(d.path(), Dtype::Q8, None).unwrap();
        assert_eq!((q8.onnx, q8.graph_use), (d.path().join("onnx/model_quantized.onnx"), GraphUse::AsIs));
        let err = ModelFiles::locate(d.path(), Dtype::Fp32, None).unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
        assert!(err.to_string().contains("onnx/model.onnx"), "{err}");
        let err = ModelFiles::locate(d.path(), Dtype::Q8, Some("other.onnx")).unwrap_err();
        assert!(err.to_string().contains("other.onnx"), "{err}");

        let d = folder(&[("onnx/model.onnx", "x")]);
        let err = ModelFiles::locate(d.path(), Dtype::Fp32, None).unwrap_err();
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn one_path_rule_for_module_folders_and_files() {
        for good in ["1_Pooling", "a/b", "2_Dense/model.safetensors"] {
            assert!(is_safe_path(good), "{good}");
        }
        for bad in ["", "/etc", "../x", "a/../b", "a//b", "a\\b", "C:x", "a/./b"] {
            assert!(!is_safe_path(bad), "{bad}");
        }
        let d = folder(&[(
            "modules.json",
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"./1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
        )]);
        let modules = read_modules(d.path()).unwrap().unwrap();
        assert_eq!(modules[1].folder, "1_Pooling", "./ parts are dropped, the same for every reader");
        assert_eq!((modules[0].folder.as_str(), modules[0].class.as_str()), ("", "Transformer"));
        for bad in ["../x", "/abs", "a/../../b"] {
            let d = folder(&[("modules.json", &format!(r#"[{{"path":{bad:?},"type":"x.Pooling"}}]"#) as &str)]);
            let err = read_modules(d.path()).unwrap_err();
            assert!(err.to_string().contains("not a folder inside the model"), "{err}");
        }
        assert!(read_modules(folder(&[]).path()).unwrap().is_none());
    }
}
