//! `mart schema`: the JSON Schema of `marts/*.yml` that editors read. It
//! must take every project file mart takes and refuse those bad in shape.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{TestProject, repo_root};

fn schema() -> Value {
    let run = TestProject::empty().mart(&["schema"]);
    run.success();
    serde_json::from_str(&run.stdout).expect("mart schema prints JSON")
}

/// The YAML files of every `marts/` folder under `dir`.
fn yaml_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, into);
        } else if path.components().any(|c| c.as_os_str() == "marts")
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            )
        {
            into.push(path);
        }
    }
}

/// The errors the schema finds in a YAML file, as text.
fn errors(validator: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let value: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_mart_schema_prints() {
    let committed = fs::read_to_string(repo_root().join("docs/mart.schema.json")).unwrap();
    let printed = TestProject::empty().mart(&["schema"]).stdout.clone();
    assert!(
        committed == printed,
        "docs/mart.schema.json is stale: run `mart schema > docs/mart.schema.json`"
    );
    // The example's files point editors at it.
    for path in fs::read_dir(repo_root().join("marts")).unwrap().flatten() {
        let text = fs::read_to_string(path.path()).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../docs/mart.schema.json\n"),
            "{:?} lacks the schema line",
            path.path()
        );
    }
}

#[test]
fn the_schema_takes_the_example_the_fixtures_and_a_new_project() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let p = TestProject::empty();
    p.mart(&["init", "new"]).success();
    let mut files = Vec::new();
    for dir in [
        repo_root().join("marts"),
        repo_root().join("tests/fixtures"),
        p.path().join("new"),
    ] {
        yaml_files(&dir, &mut files);
    }
    assert!(files.len() >= 8, "{files:?}");
    for path in &files {
        assert_eq!(errors(&validator, path), Vec::<String>::new(), "{path:?}");
    }
}

#[test]
fn the_schema_refuses_the_corpus_files_bad_in_shape() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let shape = [
        "yaml-model-without-name",
        "yaml-models-not-a-list",
        "yaml-not-a-mapping",
        "yaml-unknown-top-key",
        "yaml-wrong-type",
        "yaml-empty-name",
        "name-with-space",
        "incremental-without-strategy",
        "test-unknown",
    ];
    for case in shape {
        let mut files = Vec::new();
        yaml_files(&repo_root().join("tests/corpus").join(case), &mut files);
        let found: Vec<String> = files.iter().flat_map(|f| errors(&validator, f)).collect();
        assert!(!found.is_empty(), "{case}: the schema takes it");
    }
}
