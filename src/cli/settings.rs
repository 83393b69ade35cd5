//! Settings, resolved once: a flag over its environment variable (clap
//! reads both) over the project's `config:`, into the plain options the
//! commands take.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::base::error::{Error, Result};
use crate::cli::args::{BuildArgs, Global, ServeArgs};
use crate::engine::EngineOptions;
use crate::run::build::BuildOptions;
use crate::run::workspace::Dirs;
use crate::serve::{Method, ServeOptions};
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

/// How `mart serve` runs: flags over `config: serve:`; passwords from the
/// environment variables the YAML names.
pub fn serve(args: &ServeArgs, config: &Config, memory_limit: Option<u64>) -> Result<ServeOptions> {
    let declared = &config.serve;
    let listen_text = args
        .listen
        .clone()
        .or_else(|| declared.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:5433".into());
    let listen = resolve(&listen_text)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => declared.tls_cert.clone().zip(declared.tls_key.clone()),
    };
    let mut users = Vec::new();
    for user in &declared.users {
        let password = std::env::var(&user.password_env).map_err(|_| {
            Error::usage(format!(
                "config: serve: the password of user `{}` is read from ${}, which is not set",
                user.name, user.password_env
            ))
            .help(format!(
                "export {}=... before `mart serve`",
                user.password_env
            ))
        })?;
        users.push((user.name.clone(), password));
    }
    let method = match declared.password_method.as_deref() {
        Some("md5") => Method::Md5,
        Some("password") => Method::Cleartext,
        _ => Method::ScramSha256,
    };
    Ok(ServeOptions {
        listen,
        tls,
        users,
        method,
        max_connections: args
            .max_connections
            .or(declared.max_connections)
            .unwrap_or(64),
        statement_timeout: declared.statement_timeout,
        idle_timeout: declared.idle_timeout,
        cache: args
            .cache
            .or(declared.cache)
            .or(memory_limit.map(|limit| limit / 4))
            .unwrap_or(1 << 30) as usize,
    })
}

fn resolve(text: &str) -> Result<SocketAddr> {
    let bad = |why: String| {
        Error::usage(format!("cannot listen on `{text}`: {why}"))
            .help("give --listen HOST:PORT, like 127.0.0.1:5433 or 0.0.0.0:5433")
    };
    text.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the name has no address".into()))
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
