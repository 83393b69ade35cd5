//! `mart completions SHELL`: clap's completion script, and for bash, zsh
//! and fish the model names after `-s`, `--select` and `--exclude`, asked
//! of `mart ls` in the project at hand as the user types.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;

/// The names `mart ls` lists, one a line (its first column).
const BASH_MODELS: &str =
    r#"COMPREPLY=($(compgen -W "$(mart ls 2>/dev/null | cut -d' ' -f1)" -- "${cur}"))"#;
const ZSH_MODELS: &str = r#"_mart_models() {
    local -a models
    models=(${(f)"$(mart ls 2>/dev/null | cut -d' ' -f1)"})
    _describe -t models 'model' models
}
"#;
const FISH_MODELS: &str = r#"complete -c mart -n "__fish_seen_subcommand_from build test ls graph" -s s -l select -l exclude -x -a "(mart ls 2>/dev/null | string replace -r ' .*' '')""#;

pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mart", &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => {
            // Each `case` label of a selector is followed by the line that
            // completes its value (file names, by default): models instead.
            let mut lines: Vec<String> = Vec::new();
            let mut selector = false;
            for line in script.lines() {
                match selector && line.contains("COMPREPLY=") {
                    true => lines.push(format!("{}{BASH_MODELS}", indent(line))),
                    false => lines.push(line.to_string()),
                }
                selector = matches!(line.trim(), "--select)" | "-s)" | "--exclude)");
            }
            lines.join("\n") + "\n"
        }
        Shell::Zsh => {
            // A selector's value is completed by `_mart_models`, defined
            // before the script's last lines call `_mart`.
            let script = script.replace(":SELECTOR:_default'", ":SELECTOR:_mart_models'");
            let call = script
                .rfind("if [ \"$funcstack[1]\" = \"_mart\" ]")
                .unwrap_or(script.len());
            format!("{}{ZSH_MODELS}\n{}", &script[..call], &script[call..])
        }
        Shell::Fish => format!("{script}{FISH_MODELS}\n"),
        _ => script,
    }
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}
