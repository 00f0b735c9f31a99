//! `ship completions SHELL` and `ship man`: shell completion scripts and a
//! roff man page, generated from the clap definitions so they never drift
//! from the real flags. Neither needs a hosts.toml.

use crate::cli::Cli;
use clap::CommandFactory;

/// The completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ship", &mut out);
    out
}

/// ship(1), in roff: the top-level page followed by one section per command.
pub(crate) fn man_page() -> Result<Vec<u8>, std::io::Error> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    // One section per command, with its own options.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_long_about().or(sub.get_about()).map(ToString::to_string).unwrap_or_default();
        out.extend_from_slice(
            format!(".SH \"SHIP {}\"\n{}\n", sub.get_name().to_uppercase(), roff_text(&about)).as_bytes(),
        );
        clap_mangen::Man::new(sub.clone()).render_options_section(&mut out)?;
    }
    Ok(out)
}

/// Plain text made safe for roff: a leading `.` or `'` would be a request.
fn roff_text(s: &str) -> String {
    s.lines()
        .map(|l| if l.starts_with(['.', '\'']) { format!("\\&{l}") } else { l.replace('\\', "\\e") })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_name_every_command() {
        let bash = String::from_utf8(completions(clap_complete::Shell::Bash)).unwrap();
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        for cmd in ["deploy", "rollback", "check", "sync", "unlock", "completions"] {
            assert!(bash.contains(cmd), "bash completions lack {cmd}");
            assert!(page.contains(cmd), "man page lacks {cmd}");
        }
        assert!(page.starts_with(".ie") || page.contains(".TH ship"), "{}", &page[..200.min(page.len())]);
    }
}
