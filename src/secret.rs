//! Secret values (`[hooks] secret_env`, webhook URLs, a pull URL's
//! credentials) never leave ship unmasked: the reporter passes everything
//! it prints through [`mask`] (JSON through [`mask_json`], string by string
//! before encoding), and so does every notification body. A process-wide
//! list is used so that no path a secret might take into a message (a hook
//! echoing it, `set -x`, an error quoting a command's stderr) can bypass
//! the mask.
//!
//! Masking always comes before any encoding or escaping: a secret holding
//! `"` or `\` is found in the string itself, not in its JSON form (where it
//! would read `\"` and `\\` and no longer match).

use serde_json::Value;
use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Values shorter than this are not masked: replacing every `a` or `1` in
/// the output would garble it and hide nothing.
pub(crate) const MIN_MASKED_LEN: usize = 4;

/// Adds values to mask (settings register theirs once resolved; a deploy
/// adds its filled pull URL's credentials).
pub(crate) fn register(values: impl IntoIterator<Item = String>) {
    let mut list = SECRETS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    for v in values {
        // A value pasted with a trailing `\r` or blank (a CRLF env file)
        // is printed without it wherever output is split into lines.
        let trimmed = v.trim().to_string();
        for v in [v, trimmed] {
            if v.len() >= MIN_MASKED_LEN && !list.contains(&v) {
                list.push(v);
            }
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    list.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every registered secret replaced by `***`.
pub(crate) fn mask(text: &str) -> Cow<'_, str> {
    let list = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    match mask_with(text, &list) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// `v` with every string in it (object keys too) masked, ready to encode.
pub(crate) fn mask_json(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask(&s).into_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(mask_json).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (mask(&k).into_owned(), mask_json(v))).collect()),
        other => other,
    }
}

/// How many bytes at the start of `text` may be the end of a secret whose
/// beginning was cut off (output kept by its tail): the rest of such a
/// secret no longer matches the mask, so the cut drops them too.
pub(crate) fn cut_at_start(text: &[u8]) -> usize {
    let list = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    partial_start(text, &list)
}

/// How many bytes at the end of `text` may be the start of a secret whose
/// end was cut off (output kept by its head).
pub(crate) fn cut_at_end(text: &[u8]) -> usize {
    let list = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    partial_end(text, &list)
}

// Pieces shorter than a maskable secret say too little to count (and
// would make every cut drop a letter or two).
fn partial_start(text: &[u8], secrets: &[String]) -> usize {
    let part = |s: &[u8]| (MIN_MASKED_LEN..s.len()).rev().find(|&k| text.starts_with(&s[s.len() - k..]));
    secrets.iter().filter_map(|s| part(s.as_bytes())).max().unwrap_or(0)
}

fn partial_end(text: &[u8], secrets: &[String]) -> usize {
    let part = |s: &[u8]| (MIN_MASKED_LEN..s.len()).rev().find(|&k| text.ends_with(&s[..k]));
    secrets.iter().filter_map(|s| part(s.as_bytes())).max().unwrap_or(0)
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

    /// A cut through a secret leaves a piece the mask cannot match: the
    /// cut takes that piece too, and nothing else.
    #[test]
    fn a_cut_drops_the_piece_of_a_secret_it_went_through() {
        let secrets = vec!["tok_4f9a7c".to_string(), "zz99zz".to_string()];
        assert_eq!(partial_start(b"9a7c\"},{\"auth\":\"tok_4f9a7c\"}", &secrets), 4);
        assert_eq!(partial_start(b"z99zz and more", &secrets), 5);
        assert_eq!(partial_start(b"7c and more", &secrets), 0, "too short a piece to count");
        assert_eq!(partial_start(b"tok_4f9a7c whole", &secrets), 0);
        assert_eq!(partial_start(b"plain", &secrets), 0);
        assert_eq!(partial_end(b"\"auth\":\"tok_4f", &secrets), 6);
        assert_eq!(partial_end(b"ends in tok_4f9a7c", &secrets), 0);
    }

    /// A value with a trailing `\r` (a CRLF env file) is masked also where
    /// it is printed without it.
    #[test]
    fn a_secret_is_masked_without_its_trailing_carriage_return_too() {
        register(["crlf-s3cret-value\r".to_string()]);
        assert_eq!(mask("said crlf-s3cret-value."), "said ***.");
    }

    /// The mask runs on the string, before encoding: a secret holding `"`
    /// and `\` is masked, and the JSON stays valid.
    #[test]
    fn json_strings_and_keys_are_masked_before_encoding() {
        register(["q\"u\\ote-s3cret".to_string(), "ab".to_string()]);
        let v = serde_json::json!({"error": "hook said q\"u\\ote-s3cret!", "list": ["q\"u\\ote-s3cret", 1],
                                   "q\"u\\ote-s3cret": null, "short": "ab"});
        let text = mask_json(v).to_string();
        assert_eq!(text, r#"{"***":null,"error":"hook said ***!","list":["***",1],"short":"ab"}"#);
        assert_eq!(mask("x q\"u\\ote-s3cret y"), "x *** y");
    }
}
