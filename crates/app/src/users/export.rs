//! `authd users export`: every account as JSON lines, page by page in id order, so an
//! export of any size holds one page in memory.

use super::line::Line;
use anyhow::Context as _;
use auth_domain::TransferService;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Accounts read per query.
const PAGE: u32 = 1000;

/// Writes every account to `output` (a new file, readable by its owner only) or stdout.
///
/// # Errors
/// An output that cannot be created or written (an existing file is never overwritten),
/// or a storage failure.
pub(crate) async fn export(
    transfer: &TransferService,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let sink: Box<dyn Write> = match output {
        Some(path) => Box::new(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = BufWriter::new(sink);
    let progress = ProgressBar::new_spinner().with_message("accounts exported");
    if let Ok(style) = ProgressStyle::with_template("{spinner} {human_pos} {msg}") {
        progress.set_style(style);
    }
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page = transfer.export(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for user in page {
            serde_json::to_writer(&mut sink, &Line::of(user)).context("cannot write the export")?;
            sink.write_all(b"\n").context("cannot write the export")?;
            count += 1;
        }
        progress.set_position(count);
    }
    sink.flush().context("cannot write the export")?;
    progress.finish_and_clear();
    eprintln!("exported {count} accounts");
    Ok(())
}
