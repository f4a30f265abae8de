//! Stage 4: the judgement of each listener. A socket with its owners, joined with its IANA records, becomes a
//! [`Listener`]: range tier, exposure, flags with reasons, severity (`classify.rs`); many make a [`Report`]
//! ([`listener`]); [`story`] tells the whole story of one port for `explain`.

// Before the modules that use it: macro_rules are in scope from their definition on.
/// A reason, written once into a buffer with room for the usual sentence (thousands are made per listing; growing
/// a string as it is formatted costs more than the formatting).
macro_rules! reason {
    ($($t:tt)*) => {{
        let mut s = String::with_capacity(200);
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!($($t)*));
        s
    }};
}

mod classify;
mod judge;
pub mod knowledge;
mod listener;
pub mod pipeline;
mod profile;
mod story;

pub use classify::{
    is_silent, obscure_share, obscure_signals, port_flags, related, socket_flags, stem, Exposure, Flag, FlagKind, Iana,
    ObscureShare, Range, Severity, Signal,
};
pub use judge::{Judge, Judgement, Verdict};
pub use listener::{
    build, by_severity, listener, severity_order, sort_by_severity, Listener, Report, SeverityOrder, Summary,
    SCHEMA_VERSION,
};
pub use pipeline::{Order, Sink};
pub use story::{story, PortSpec, Story, RELATED_WINDOW};
