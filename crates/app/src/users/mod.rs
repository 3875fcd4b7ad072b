//! `authd user …`: accounts from the shell, one made by hand (`create`), or all of them
//! moved in or out (`import`, `export`, in the JSON-lines format of `line`).

mod create;
mod export;
mod import;
mod line;

pub(crate) use create::create;
pub(crate) use export::export;
pub(crate) use import::import;
