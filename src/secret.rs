//! Secret values (`[hooks] secret_env`) never reach the terminal: the
//! reporter passes everything it prints through [`mask`]. They are
//! registered once, when settings are resolved; a process-wide list is used
//! so that no path a secret might take into a message (a hook echoing it,
//! `set -x`, an error quoting a command's stderr) can bypass the mask.

use std::borrow::Cow;
use std::sync::OnceLock;

static SECRETS: OnceLock<Vec<String>> = OnceLock::new();

/// Values shorter than this are not masked: replacing every `a` or `1` in
/// the output would garble it and hide nothing.
pub const MIN_MASKED_LEN: usize = 4;

/// Registers the values to mask (the first call wins).
pub fn register(values: Vec<String>) {
    let _ = SECRETS.set(values.into_iter().filter(|v| v.len() >= MIN_MASKED_LEN).collect());
}

/// `text` with every registered secret replaced by `***`.
pub fn mask(text: &str) -> Cow<'_, str> {
    mask_with(text, SECRETS.get().map_or(&[][..], Vec::as_slice))
}

fn mask_with<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), "***"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_and_leaves_other_text() {
        let secrets = vec!["s3cr3t-value".to_string(), "other".to_string()];
        assert_eq!(mask_with("a s3cr3t-value b s3cr3t-value other", &secrets), "a *** b *** ***");
        assert!(matches!(mask_with("nothing here", &secrets), Cow::Borrowed(_)));
    }
}
