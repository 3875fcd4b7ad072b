//! The `file:<dir>` transport: one JSON file per message (`to`, `subject`, `text`,
//! `html`), for tests and local tools that read the mail a flow sent.

use std::path::PathBuf;

use anyhow::Context as _;
use auth_ports::MailMessage;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use uuid::Uuid;

use super::transport::Transport;

/// Writes each message to `<dir>/<uuid-v7>.json`. A version 7 UUID starts with the
/// time, so file names sort in the order the messages were written.
pub(super) struct FileTransport {
    /// Created on first use if missing.
    dir: PathBuf,
}

/// The file's content.
#[derive(Serialize)]
struct MailFile<'a> {
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    html: &'a str,
}

impl FileTransport {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

impl Transport for FileTransport {
    async fn deliver(&self, message: &MailMessage) -> anyhow::Result<()> {
        // Named before the first await: the worker starts a batch's deliveries in the
        // order the mail was written, and the names keep that order.
        let name = Uuid::now_v7();
        let json = serde_json::to_vec_pretty(&MailFile {
            to: message.to.as_str(),
            subject: &message.subject,
            text: &message.text,
            html: &message.html,
        })?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        // Written under a name readers skip, then renamed (atomic within a directory),
        // so a reader never sees half a message.
        let partial = self.dir.join(format!(".{name}.json.partial"));
        let path = self.dir.join(format!("{name}.json"));
        // Owner-only: the files hold live one-time links.
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .await
            .with_context(|| format!("cannot create {}", partial.display()))?;
        // tokio's `write_all` may return while its write still runs on a blocking thread;
        // `flush` waits for it, so the file is whole before it gets its name.
        file.write_all(&json)
            .await
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.flush()
            .await
            .with_context(|| format!("cannot write {}", partial.display()))?;
        if let Err(err) = tokio::fs::rename(&partial, &path).await {
            // Best effort: the rename's error is the one worth reporting.
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(err).with_context(|| format!("cannot rename to {}", path.display()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::message;
    use super::*;
    use std::path::Path;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn each_message_is_one_json_file_of_exactly_four_fields() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("not/there/yet");
        let transport = FileTransport::new(dir.clone());

        transport.deliver(&message()).await.unwrap();

        let names = entries(&dir);
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(".json"), "{names:?}");
        let content: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(&names[0])).unwrap()).unwrap();
        let sent = message();
        assert_eq!(
            content,
            serde_json::json!({
                "to": "ada@example.com",
                "subject": "Verify your email",
                "text": sent.text,
                "html": sent.html,
            })
        );
        let mode = std::fs::metadata(dir.join(&names[0]))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "live links are for the owner only"
        );
    }

    #[tokio::test]
    async fn file_names_sort_in_the_order_messages_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let transport = FileTransport::new(dir.path().to_owned());
        let subjects = ["first", "second", "third"];

        for subject in subjects {
            let message = MailMessage {
                subject: subject.into(),
                ..message()
            };
            transport.deliver(&message).await.unwrap();
        }

        let read: Vec<String> = entries(dir.path())
            .iter()
            .map(|name| {
                let content: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
                content["subject"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(read, subjects);
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();

        let err = FileTransport::new(blocker.join("mail"))
            .deliver(&message())
            .await
            .unwrap_err();

        assert!(format!("{err:#}").contains("cannot create"), "{err:#}");
    }
}
