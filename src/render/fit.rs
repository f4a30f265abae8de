//! Fitting text to a terminal's width: columns sized to their content and the window, cells shortened with an
//! ellipsis, and long lines wrapped with a hanging indent. Widths are display columns (`unicode-width`), and text
//! reaching here is already escaped, so it holds no control characters.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How wide each column may be, given what its cells need, the narrowest each may become, the order in which they
/// give up room (`rank`: lowest first; among equals, the widest first), the space between columns and the window's
/// width. When even the minimums do not fit, the gap closes to one space and the minimums are returned (the caller
/// cuts the line).
pub fn column_widths(natural: &[usize], min: &[usize], rank: &[u8], gap: usize, window: usize) -> (Vec<usize>, usize) {
    let total = |w: &[usize], gap: usize| w.iter().sum::<usize>() + gap * w.len().saturating_sub(1);
    let mut widths = natural.to_vec();
    let mut gap = gap;
    if total(&widths, gap) <= window {
        return (widths, gap);
    }
    let floor: Vec<usize> = natural.iter().zip(min).map(|(n, m)| (*n).min(*m)).collect();
    if total(&floor, gap) > window {
        gap = 1;
    }
    while total(&widths, gap) > window {
        // Of the columns above their floor, the lowest rank gives first, the widest among them, one column's width.
        let Some(i) = (0..widths.len())
            .filter(|&i| widths[i] > floor[i])
            .max_by_key(|&i| (std::cmp::Reverse(rank[i]), widths[i] - floor[i]))
        else {
            break;
        };
        widths[i] -= 1;
    }
    (widths, gap)
}

/// `text` if it fits in `width` columns; otherwise its start and `…`, together at most `width` wide.
pub fn shorten(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if text.width() <= width {
        return text.into();
    }
    let mut out = String::with_capacity(width + 3);
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out.into()
}

/// Splits `text` into lines of at most `width` columns at spaces (a word longer than a line is cut), the first
/// line starting with `first` spaces and every later one with `indent`. `None` for the width: one line.
pub fn wrap(text: &str, width: Option<usize>, first: usize, indent: usize) -> Vec<String> {
    let Some(width) = width.filter(|w| *w > indent.max(first) + 10) else {
        return vec![format!("{}{text}", " ".repeat(first))];
    };
    let text = format!("{}{text}", "\u{a0}".repeat(first));
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let w = word.width();
        let room = width - if lines.is_empty() { 0 } else { indent };
        if used > 0 && used + 1 + w > room {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        let room = width - if lines.is_empty() { 0 } else { indent };
        if w > room - used {
            // A word wider than what is left of an empty line: cut it over several lines.
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                let room = width - if lines.is_empty() { 0 } else { indent };
                if used + cw > room {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        } else {
            line.push_str(word);
            used += w;
        }
    }
    lines.push(line.clone());
    // The first line's indentation was held together by no-break spaces (one column each) until now.
    lines[0] = lines[0].replacen('\u{a0}', " ", first);
    let pad = " ".repeat(indent);
    for l in lines.iter_mut().skip(1) {
        l.insert_str(0, &pad);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_window_widest_first() {
        let same = [0, 0, 0];
        assert_eq!(column_widths(&[5, 20, 30], &[5, 8, 8], &same, 2, 80), (vec![5, 20, 30], 2));
        let (w, gap) = column_widths(&[5, 20, 60], &[5, 8, 8], &same, 2, 60);
        assert_eq!(gap, 2);
        assert_eq!(w.iter().sum::<usize>() + 4, 60);
        assert_eq!(w[0], 5);
        assert!(w[2] >= w[1], "{w:?}");
        // Below the minimums: the gap closes, nothing goes under its minimum.
        assert_eq!(column_widths(&[5, 20, 60], &[5, 8, 8], &same, 2, 10), (vec![5, 8, 8], 1));
        // A column whose content is narrower than its minimum keeps its content's width.
        assert_eq!(column_widths(&[3, 4, 50], &[5, 8, 8], &same, 2, 30), (vec![3, 4, 19], 2));
        // The lower rank gives all it can before the higher one gives anything.
        assert_eq!(column_widths(&[5, 20, 30], &[5, 8, 8], &[0, 1, 0], 2, 40), (vec![5, 20, 11], 2));
    }

    #[test]
    fn shortened_cells_keep_their_start() {
        assert_eq!(shorten("1234/nginx", 20), "1234/nginx");
        assert_eq!(shorten("1234/nginx: worker process", 12), "1234/nginx:…");
        assert_eq!(shorten("1234/nginx: worker process", 12).width(), 12);
        assert_eq!(shorten("日本語のテキスト", 7), "日本語…");
        assert_eq!(shorten("abc", 0), "");
    }

    #[test]
    fn wrapped_lines_fit_and_hang() {
        let text = "22/tcp 0.0.0.0: dangerous: python3 holds the port of ssh, which sshd normally holds: \
                    a stand-in for the service, reachable from every network";
        let lines = wrap(text, Some(40), 2, 4);
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| l.width() <= 40), "{lines:#?}");
        assert!(lines[0].starts_with("  22/tcp"), "{lines:#?}");
        assert!(lines[1..].iter().all(|l| l.starts_with("    ") && !l.starts_with("     ")));
        assert_eq!(lines.join(" ").split_whitespace().collect::<Vec<_>>(), text.split_whitespace().collect::<Vec<_>>());
        assert_eq!(wrap(text, None, 2, 4), vec![format!("  {text}")]);
        let long = wrap(&"x".repeat(100), Some(30), 0, 2);
        assert!(long.iter().all(|l| l.width() <= 30), "{long:#?}");
        assert_eq!(long.concat().replace(' ', "").len(), 100);
    }
}
