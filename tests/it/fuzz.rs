//! The fuzzers' corpora (fuzz/corpus/), replayed through the same code the
//! fuzz targets call: every input that once reached new code must still
//! load, parse or be refused without a panic. Fuzzing itself needs
//! cargo-fuzz and an instrumented build (fuzz/README.md); this runs in CI.

use std::fs;
use std::path::PathBuf;

use mart::spec::dag::Dag;
use mart::spec::project::Project;
use mart::spec::select::Selector;

use crate::common::{TestProject, repo_root};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = repo_root().join("fuzz/corpus").join(target);
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| (e.path(), fs::read(e.path()).unwrap()))
        .collect();
    inputs.sort();
    assert!(inputs.len() > 100, "{target}: only {} inputs", inputs.len());
    // Shown with `cargo test -- --nocapture`, and with any failure.
    println!("fuzz/corpus/{target}: replaying {} inputs", inputs.len());
    inputs
}

#[test]
fn sql_corpus_parses_or_is_refused() {
    for (_, data) in corpus("sql_refs") {
        if let Ok(sql) = std::str::from_utf8(&data)
            && let Ok(refs) = mart::spec::sql::model_refs(sql)
        {
            assert!(refs.iter().all(|r| !r.parts.is_empty()));
        }
    }
}

#[test]
fn selector_corpus_selects_or_is_refused() {
    let p = TestProject::empty();
    p.write(
        "marts/p.yml",
        "sources:\n  - name: orders\n    path: o.csv\nmodels:\n  - name: stg\n    tags: [a]\n  - name: mid\n    tags: [a, b]\n  - name: top\n",
    );
    p.write("sql/stg.sql", "select * from raw.orders");
    p.write("sql/mid.sql", "select * from stg");
    p.write("sql/sub/top.sql", "select * from mid join stg using (id)");
    let project = Project::load(p.path()).unwrap();
    let dag = Dag::build(&project).unwrap();
    for (_, data) in corpus("selectors") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let (select, exclude) = text.split_once('\n').unwrap_or((text, ""));
        let args = Selector {
            select: select.split('\t').map(str::to_string).collect(),
            exclude: exclude
                .split('\t')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        };
        if let Ok(selection) = mart::spec::select::select(&project, &dag, &args) {
            assert!(selection.nodes.len() <= 4);
        }
    }
}

#[test]
fn yaml_corpus_loads_or_is_refused() {
    let p = TestProject::empty();
    p.write("sql/a.sql", "select 1 as id");
    p.write("sql/b.sql", "select * from a join raw.s using (id)");
    p.write("sql/tests/t.sql", "select * from b where id < 0");
    for (_, data) in corpus("project_yaml") {
        fs::create_dir_all(p.path().join("marts")).unwrap();
        fs::write(p.path().join("marts/p.yml"), &data).unwrap();
        if let Ok(project) = Project::load(p.path()) {
            let _ = Dag::build(&project);
        }
    }
}
