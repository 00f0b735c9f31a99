//! A host's commands, swapped: a directory of links to every command on
//! this machine with one replaced by a script (a slow `rm`, a `tar` that
//! stalls), handed to one sshd through `SetEnv PATH=`.

use std::path::{Path, PathBuf};

/// `dir/wrapbin`: links to every command, with `name` replaced by `wrapper`.
pub fn path_with_wrapped(dir: &Path, name: &str, wrapper: &str) -> PathBuf {
    let bin = dir.join("wrapbin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(d) else { continue };
        for e in entries.flatten() {
            let n = e.file_name();
            if n == name || bin.join(&n).symlink_metadata().is_ok() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), bin.join(&n));
        }
    }
    let w = bin.join(name);
    std::fs::write(&w, wrapper).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The real path of a command on this machine.
pub fn which(cmd: &str) -> String {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
