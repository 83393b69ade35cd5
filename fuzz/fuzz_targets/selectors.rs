//! The selector grammar: any `-s` / `--exclude` text over a fixed project
//! must select nodes of that project or be refused, never panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mart::spec::select::Selector;
use mart::spec::dag::Dag;
use mart::spec::project::Project;

fn project() -> &'static (Project, Dag) {
    static PROJECT: OnceLock<(Project, Dag)> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("mart-fuzz-selectors-{}", std::process::id()));
        let files: &[(&str, &str)] = &[
            (
                "marts/p.yml",
                "sources:\n  - name: orders\n    path: o.csv\nmodels:\n  - name: stg\n    tags: [a]\n  - name: mid\n    tags: [a, b]\n  - name: top\n",
            ),
            ("sql/stg.sql", "select * from raw.orders"),
            ("sql/mid.sql", "select * from stg"),
            ("sql/sub/top.sql", "select * from mid join stg using (id)"),
        ];
        for (path, text) in files {
            let path: PathBuf = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let project = Project::load(&root).unwrap();
        let dag = Dag::build(&project).unwrap();
        (project, dag)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (select, exclude) = text.split_once('\n').unwrap_or((text, ""));
    let args = Selector {
        select: select.split('\t').map(str::to_string).collect(),
        exclude: exclude.split('\t').filter(|s| !s.is_empty()).map(str::to_string).collect(),
    };
    let (project, dag) = project();
    if let Ok(selection) = mart::spec::select::select(project, dag, &args) {
        assert!(selection.nodes.len() <= project.models.len() + project.sources.len());
    }
});
