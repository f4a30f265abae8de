//! Output: colour decisions and the renderers (table and explain text; JSON is the serde form of the reports).
//!
//! Every piece of process-supplied text goes through [`crate::text::escape`] before it reaches a terminal.

pub mod check;
pub mod csv;
pub mod events;
pub mod fit;
#[cfg(test)]
mod fixtures;
pub mod json;
pub mod prometheus;
pub mod story;
pub mod table;

use owo_colors::{OwoColorize, Style};
use std::io::{self, Write};

/// When to colour, as the user asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Decides whether to colour: `always`/`never` win; `auto` colours only a terminal, and not when `NO_COLOR` is set
/// to a non-empty value (<https://no-color.org>); `CLICOLOR_FORCE` (non-empty, not "0") forces colour in `auto`.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env_set("NO_COLOR") {
                false
            } else if env_set("CLICOLOR_FORCE") && std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else {
                is_terminal
            }
        }
    }
}

/// Applies styles only when colour is on.
#[derive(Debug, Clone, Copy)]
pub struct Painter {
    pub color: bool,
}

impl Painter {
    pub fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(text, Style::new().bold())
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(text, Style::new().dimmed())
    }

    pub fn warn(&self, text: &str) -> String {
        self.paint(text, Style::new().yellow())
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint(text, Style::new().red().bold())
    }

    pub fn good(&self, text: &str) -> String {
        self.paint(text, Style::new().green())
    }
}

/// Writes each value as one line of compact JSON (NDJSON).
pub fn ndjson<'a, T: serde::Serialize + 'a>(
    out: &mut dyn Write,
    values: impl IntoIterator<Item = &'a T>,
) -> io::Result<()> {
    for v in values {
        serde_json::to_writer(&mut *out, v).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
