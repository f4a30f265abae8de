//! Text safety: decoding process-supplied bytes and escaping attacker-controlled text for a terminal.
//!
//! Process names, command lines, executable paths and user names are chosen by whoever started the process. They
//! may contain ESC/CSI/OSC sequences, CR, BEL, backspace, bidi overrides or bytes that are not UTF-8. We keep them as
//! read (invalid bytes become the text `\xNN`), and escape them whenever they are written to a terminal or table.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Decodes bytes read from the system as UTF-8, replacing each byte that is not part of valid UTF-8 with the
/// four characters `\xNN`, so no information is lost and the result is always valid text.
pub fn decode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// True for characters that must never reach a terminal raw: C0 and C1 controls, DEL, and the Unicode format
/// characters that reorder or hide text (bidi embeddings, overrides and isolates, zero-width and BOM characters,
/// line/paragraph separators).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // line/para separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}' // BOM / zero-width no-break space
            | '\u{061C}' // Arabic letter mark
            | '\u{FFF9}'..='\u{FFFB}') // interlinear annotations
}

/// Escapes text for display on a terminal: every unsafe character is shown as a visible escape (`\e`, `\r`, `\n`,
/// `\t`, `\xNN` for other C0/C1 controls, `\u{NNNN}` for format characters). Borrowed when nothing needs escaping.
///
/// It also breaks the log commands of CI runners, so a process name cannot act on a GitHub Actions log: `##[`
/// anywhere (the runner acts on `##[group]`, `##[set-output ...]`, `##[add-mask]` wherever they appear in a line)
/// becomes `#\#[`, and a leading `::` (after any white space; a line starting with `::name::` is a workflow command)
/// becomes `:\:`. Escaped text can therefore start an output line safely.
pub fn escape(s: &str) -> Cow<'_, str> {
    // Most text is printable ASCII, which holds no unsafe character: told in one pass the compiler vectorises (no
    // early exit), before looking at characters one by one.
    let printable_ascii = !s.bytes().fold(false, |other, b| other | !(b' '..=b'~').contains(&b));
    if (printable_ascii || !s.chars().any(is_unsafe_char)) && !has_ci_command(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\x1b' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(break_ci_commands(out))
}

/// True when text holds something a CI runner would act on: `##[` anywhere, or `::` at its start (after white
/// space).
pub fn has_ci_command(s: &str) -> bool {
    // Most text has no `#` at all, which a byte search tells faster than the substring searcher is set up.
    (s.as_bytes().contains(&b'#') && s.contains("##[")) || s.trim_start().starts_with("::")
}

/// `n` as decimal ASCII digits, written into `digits`: how a listing writes its numbers (ports, PIDs, inodes,
/// uids), as the formatter's machinery costs more than the digits on that path.
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Appends `n` in decimal to `s` (see [`decimal`]).
pub fn push_decimal(s: &mut String, n: u64) {
    // Only ASCII digits are written.
    s.push_str(std::str::from_utf8(decimal(n, &mut [0; 20])).unwrap_or_default());
}

/// Breaks `##[` into `#\#[` everywhere and a leading `::` into `:\:`, leaving other text as it is.
fn break_ci_commands(mut s: String) -> String {
    if s.contains("##[") {
        s = s.replace("##[", "#\\#[");
    }
    let lead = s.len() - s.trim_start().len();
    if s[lead..].starts_with("::") {
        s.insert(lead + 1, '\\');
    }
    s
}

/// Shortens text for display to at most `max` characters, saying how much was left out.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!("{} ... ({} more bytes)", &s[..cut], s.len() - cut)),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_keeps_valid_and_marks_invalid_bytes() {
        assert_eq!(decode_bytes(b"nginx"), "nginx");
        assert_eq!(decode_bytes(b"caf\xc3\xa9"), "café");
        assert_eq!(decode_bytes(b"a\xffb\xc3"), "a\\xffb\\xc3");
    }

    #[test]
    fn truncate_counts_what_it_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 3), "abc ... (3 more bytes)");
        assert_eq!(truncate("ééé", 1), "é ... (4 more bytes)");
    }

    proptest::proptest! {
        #[test]
        fn decimal_writes_what_display_writes(n in proptest::num::u64::ANY) {
            let mut written = String::new();
            push_decimal(&mut written, n);
            proptest::prop_assert_eq!(written, n.to_string());
        }

        /// The printable-ASCII shortcut changes nothing: text is left as it is exactly when no character of it is
        /// unsafe and it holds no CI command (any text, and text of ASCII and controls, where the shortcut decides).
        #[test]
        fn escape_leaves_alone_exactly_what_needs_nothing(any in "(?s).{0,40}", ascii in "[\\x00-\\x7f:#\\[]{0,40}") {
            for s in [any.as_str(), ascii.as_str()] {
                let nothing = !s.chars().any(is_unsafe_char) && !has_ci_command(s);
                proptest::prop_assert_eq!(matches!(escape(s), Cow::Borrowed(_)), nothing, "{:?}", s);
            }
        }
    }

    #[test]
    fn escape_leaves_plain_text_borrowed() {
        assert!(matches!(escape("sshd: /usr/sbin/sshd -D"), Cow::Borrowed(_)));
        assert!(matches!(escape("日本語"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_neutralises_terminal_sequences() {
        let hostile = "\x1b]0;pwned\x07evil\x1b[2J\r\x08\u{202e}txt.exe\u{9b}";
        let shown = escape(hostile);
        assert_eq!(shown, "\\e]0;pwned\\x07evil\\e[2J\\r\\x08\\u{202e}txt.exe\\x9b");
        assert!(!shown.chars().any(is_unsafe_char));
    }

    #[test]
    fn escape_breaks_ci_log_commands() {
        assert_eq!(escape("##[group]x"), "#\\#[group]x");
        assert_eq!(escape("a ###[set-output name=x]y"), "a ##\\#[set-output name=x]y");
        assert_eq!(escape("::add-mask::x"), ":\\:add-mask::x");
        assert_eq!(escape("  ::error::x"), "  :\\:error::x");
        assert_eq!(escape("a::b"), "a::b");
        for hostile in ["##[group]x", "\u{3000}::x", "#\u{200b}#[x", "x\n::error::y", "####[[##["] {
            let shown = escape(hostile);
            assert!(!has_ci_command(&shown), "{hostile:?} -> {shown:?}");
            assert!(!shown.contains("##["), "{shown:?}");
        }
    }
}
