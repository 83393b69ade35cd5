//! The project loader: any bytes as a YAML file of marts/ (beside a few SQL
//! files) must load, or be refused with an error, never panic; a project
//! that loads must give a graph or an error.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mart::spec::dag::Dag;
use mart::spec::project::Project;

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("mart-fuzz-yaml-{}", std::process::id()));
        for (path, text) in [
            ("sql/a.sql", "select 1 as id"),
            ("sql/b.sql", "select * from a join raw.s using (id)"),
            ("sql/tests/t.sql", "select * from b where id < 0"),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(root.join("marts")).unwrap();
        root
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    std::fs::write(root.join("marts/p.yml"), data).unwrap();
    if let Ok(project) = Project::load(root) {
        let _ = Dag::build(&project);
    }
});
