//! Which files of a repository an embedder needs: the ONNX graph for its dtype (or a static
//! model's token table instead), the tokenizer, and the files of the modules `modules.json` lists.

use std::path::Path;

use crate::error::Result;
use crate::files::{module_files, Dtype};

/// The files an embedder needs, by what it will load.
pub(super) struct Wanted<'a> {
    pub(super) dtype: Dtype,
    pub(super) model_file: Option<&'a str>,
}

impl Wanted<'_> {
    /// The ONNX files to try, in order.
    pub(super) fn onnx_candidates(&self) -> Vec<String> {
        crate::files::graph_candidates(self.dtype, self.model_file).into_iter().map(|(file, _)| file).collect()
    }

    /// The static model `snapshot`'s configs describe, whose files replace graph and tokenizer.
    pub(super) fn static_folder(&self, snapshot: &Path) -> Result<Option<crate::static_model::StaticFolder>> {
        match self.model_file {
            None => crate::static_model::detect(snapshot),
            Some(_) => Ok(None),
        }
    }

    /// The required files `snapshot` lacks (an empty list when it can be loaded).
    pub(super) fn missing(&self, snapshot: &Path) -> Result<Vec<String>> {
        if let Some(folder) = self.static_folder(snapshot)? {
            return Ok(folder.required_files().into_iter().filter(|f| !snapshot.join(f).is_file()).collect());
        }
        let mut missing = Vec::new();
        let onnx = self.onnx_candidates();
        if !onnx.iter().any(|f| snapshot.join(f).is_file()) {
            missing.push(onnx.join(" or "));
        }
        if !snapshot.join("tokenizer.json").is_file() {
            missing.push("tokenizer.json".into());
        }
        for (file, required) in module_files(snapshot)? {
            if required && !snapshot.join(&file).is_file() {
                missing.push(file);
            }
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_are_checked_and_required_files_listed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |json: &str| std::fs::write(dir.path().join("modules.json"), json).unwrap();
        write(
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},
                {"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"path":"2_Dense","type":"sentence_transformers.base.modules.dense.Dense"},
                {"path":"./3_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        let files = module_files(dir.path()).unwrap();
        assert_eq!(
            files,
            vec![
                ("1_Pooling/config.json".to_string(), true),
                ("2_Dense/config.json".to_string(), true),
                ("2_Dense/model.safetensors".to_string(), true),
                ("3_Normalize/config.json".to_string(), false),
            ]
        );
        for bad in ["../../outside", "/abs", "a\\..\\b", "x/../../y"] {
            write(&serde_json::json!([{"path": bad, "type": "sentence_transformers.models.Pooling"}]).to_string());
            let err = module_files(dir.path()).unwrap_err();
            assert_eq!(err.code(), "ERR_MODEL_INVALID", "{bad}");
            assert!(err.to_string().contains("not a folder inside the model"), "{err}");
        }
    }
}
