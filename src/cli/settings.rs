//! Settings, resolved once: a flag over its environment variable (clap
//! reads both) over the project's `config:`, into the plain options the
//! commands take.

use crate::cli::args::{BuildArgs, Global};
use crate::engine::EngineOptions;
use crate::run::build::BuildOptions;
use crate::run::workspace::Dirs;
use crate::spec::project::Config;

/// Where the project and its warehouse are.
pub fn dirs(global: &Global) -> Dirs {
    let warehouse = global
        .warehouse
        .clone()
        .unwrap_or_else(|| global.project.join("warehouse"));
    Dirs {
        project: global.project.clone(),
        warehouse,
    }
}

/// The engine's settings: `--memory-limit` (or `MART_MEMORY_LIMIT`) over
/// `config: memory_limit`; the Parquet writer's from `config: parquet`.
pub fn engine(global: &Global, config: &Config) -> EngineOptions {
    EngineOptions {
        memory_limit: global.memory_limit.or(config.memory_limit),
        parquet: config.parquet.clone(),
        declared: config.declared.clone(),
    }
}

/// What `mart build` is asked to do; `--threads` defaults to the cores.
pub fn build(args: &BuildArgs) -> BuildOptions {
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    BuildOptions {
        selector: args.selection.selector(),
        full_refresh: args.full_refresh,
        threads,
        test: !args.no_test,
        keep_removed: args.keep_removed,
        wait: !args.no_wait,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use std::path::PathBuf;

    use super::*;
    use crate::cli::args::{Cli, Command};

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from([&["mart"], args].concat()).expect("valid flags")
    }

    #[test]
    fn the_flag_wins_over_the_yaml_and_the_yaml_over_nothing() {
        let declared = Config {
            memory_limit: Some(1 << 30),
            ..Config::default()
        };
        let cli = parse(&["--memory-limit", "2GiB", "ls"]);
        assert_eq!(engine(&cli.global, &declared).memory_limit, Some(2 << 30));
        let cli = parse(&["ls"]);
        if std::env::var_os("MART_MEMORY_LIMIT").is_none() {
            assert_eq!(engine(&cli.global, &declared).memory_limit, Some(1 << 30));
            assert_eq!(engine(&cli.global, &Config::default()).memory_limit, None);
        }
    }

    #[test]
    fn the_warehouse_defaults_to_the_projects() {
        let cli = parse(&["--project", "shop", "ls"]);
        assert_eq!(dirs(&cli.global).warehouse, PathBuf::from("shop/warehouse"));
        let cli = parse(&["--project", "shop", "--warehouse", "/data/w", "ls"]);
        assert_eq!(dirs(&cli.global).warehouse, PathBuf::from("/data/w"));
    }

    #[test]
    fn build_flags_become_options() {
        let cli = parse(&[
            "build",
            "-s",
            "a+",
            "b",
            "--exclude",
            "c",
            "--threads",
            "3",
            "--no-test",
        ]);
        let Command::Build(args) = &cli.command else {
            panic!("a build");
        };
        let options = build(args);
        assert_eq!(options.selector.select, ["a+", "b"]);
        assert_eq!(options.selector.exclude, ["c"]);
        assert_eq!(options.threads, 3);
        assert!(!options.test && options.wait && !options.full_refresh);
    }
}
