//! `authd users import FILE`: accounts from a JSON-lines file, in batches of one
//! transaction each, with a progress bar on a terminal and a summary at the end.

use super::line::Line;
use anyhow::{Context as _, bail};
use auth_domain::{Importer, TransferService};
use auth_ports::{AccountToImport, Imported};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};

/// Accounts written per transaction: large enough that a transaction's cost is spread
/// thin, small enough to stay far below either database's limit of bound values.
const BATCH: usize = 500;

/// Longest line read; a longer one is reported and skipped.
const MAX_LINE: usize = 64 * 1024;

/// What a run did.
#[derive(Debug, Default)]
struct Summary {
    created: u64,
    present: u64,
    bad_lines: u64,
    clashes: u64,
    links_taken: u64,
}

impl Summary {
    fn skipped(&self) -> u64 {
        self.bad_lines + self.clashes + self.links_taken
    }
}

/// Imports `path`; with `strict`, checks every line first and writes nothing if one is
/// bad.
///
/// # Errors
/// An unreadable file, a bad line under `strict`, lines skipped (after importing the
/// rest), or a storage failure (batches before it stay imported; a re-run skips them).
pub(crate) async fn import(
    transfer: &TransferService,
    path: &Path,
    strict: bool,
) -> anyhow::Result<()> {
    if strict {
        let mut importer = transfer.importer().await?;
        let (mut lines, progress) = Lines::open(path, "checking")?;
        let mut bad = 0u64;
        while let Some((number, line)) = lines.next(&progress)? {
            if check(&mut importer, number, line, &progress).is_none() {
                bad += 1;
            }
        }
        progress.finish_and_clear();
        if bad > 0 {
            bail!("{bad} bad lines (listed above); nothing was imported");
        }
    }
    let mut importer = transfer.importer().await?;
    let (mut lines, progress) = Lines::open(path, "importing")?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut summary = Summary::default();
    while let Some((number, line)) = lines.next(&progress)? {
        match check(&mut importer, number, line, &progress) {
            Some(user) => batch.push((number, user)),
            None => summary.bad_lines += 1,
        }
        if batch.len() == BATCH {
            write(transfer, &mut batch, &mut summary, &progress).await?;
        }
    }
    write(transfer, &mut batch, &mut summary, &progress).await?;
    progress.finish_and_clear();
    println!(
        "created {}, already present {}, skipped {} (bad lines {}, email or id of another \
         account {}, provider account linked to another account {})",
        summary.created,
        summary.present,
        summary.skipped(),
        summary.bad_lines,
        summary.clashes,
        summary.links_taken,
    );
    if summary.skipped() > 0 {
        bail!(
            "{} lines were not imported (listed above)",
            summary.skipped()
        );
    }
    Ok(())
}

/// Imports `batch` in one transaction, reporting the accounts it could not take.
async fn write(
    transfer: &TransferService,
    batch: &mut Vec<(u64, AccountToImport)>,
    summary: &mut Summary,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (numbers, accounts): (Vec<u64>, Vec<AccountToImport>) =
        std::mem::take(batch).into_iter().unzip();
    let first = numbers.first().copied().unwrap_or_default();
    let outcomes = transfer.import(accounts).await.with_context(|| {
        format!("cannot import the batch from line {first}; the lines before it are imported")
    })?;
    for (number, outcome) in numbers.into_iter().zip(outcomes) {
        let problem = match outcome {
            Imported::Created => {
                summary.created += 1;
                continue;
            }
            Imported::Present => {
                summary.present += 1;
                continue;
            }
            Imported::Clashes => {
                summary.clashes += 1;
                "the email or the id belongs to another account"
            }
            Imported::LinkTaken => {
                summary.links_taken += 1;
                "a provider account is linked to another account"
            }
        };
        progress.suspend(|| eprintln!("line {number}: {problem}; skipped"));
    }
    Ok(())
}

/// Parses and checks one line; reports what is wrong with it.
fn check(
    importer: &mut Importer,
    number: u64,
    line: Result<&[u8], TooLong>,
    progress: &ProgressBar,
) -> Option<AccountToImport> {
    let checked = line
        .map_err(|TooLong| "longer than 64 KiB".to_owned())
        .and_then(|line| Line::parse(line).map_err(|e| e.to_string()))
        .and_then(|incoming| importer.check(incoming).map_err(|e| e.to_string()));
    checked
        .map_err(|problem| progress.suspend(|| eprintln!("line {number}: {problem}")))
        .ok()
}

/// A line over [`MAX_LINE`], skipped unread.
struct TooLong;

/// A line's number and its bytes (without reading one that is too long).
type Numbered<'a> = (u64, Result<&'a [u8], TooLong>);

/// The non-blank lines of a file with their numbers.
struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
    number: u64,
    buffer: Vec<u8>,
}

impl Lines {
    /// The file's lines, and a progress bar over its bytes.
    fn open(path: &Path, what: &'static str) -> anyhow::Result<(Self, ProgressBar)> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let lines = Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 16, file),
            number: 0,
            buffer: Vec::new(),
        };
        Ok((lines, progress_bar(size, what)))
    }

    /// The next non-blank line and its number (from 1), `None` at the end; `progress`
    /// advances by the bytes read.
    fn next(&mut self, progress: &ProgressBar) -> anyhow::Result<Option<Numbered<'_>>> {
        let failed = |path: &Path| format!("cannot read {}", path.display());
        loop {
            self.buffer.clear();
            self.number += 1;
            let n = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buffer)
                .with_context(|| failed(&self.path))?;
            if n == 0 {
                return Ok(None);
            }
            progress.inc(n as u64);
            if self.buffer.len() > MAX_LINE && self.buffer.last() != Some(&b'\n') {
                let rest = self
                    .reader
                    .skip_until(b'\n')
                    .with_context(|| failed(&self.path))?;
                progress.inc(rest as u64);
                return Ok(Some((self.number, Err(TooLong))));
            }
            if !self.buffer.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.number, Ok(&self.buffer))));
            }
        }
    }
}

/// A bar over the file's bytes, drawn only when stderr is a terminal.
fn progress_bar(bytes: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(bytes);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}
