//! Status: the one value every view renders. `model` is the `Status` value and how it is
//! built, `health` the pure judgement of levels and reasons, `render` the CLI's text, Waybar
//! and one-line renderings, `source` where `redline status` gets it (the running engine first),
//! `vocabulary` the words views print for its ids (levels, causes, providers, windows).

pub mod health;
pub mod model;
pub mod render;
pub mod source;
pub mod vocabulary;
