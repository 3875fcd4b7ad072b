//! Writing security events to the audit trail (SPEC.md section 5): who did what to
//! what, from where, and whether it worked. Never a password, hash or token.

use crate::error::Failure;
use auth_ports::{AuditRepository, AuditWith, Clock, NewAuditEntry, Session, UserId};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address (from the socket, or `X-Forwarded-For` behind a trusted proxy).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// One security event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Event name, e.g. `auth.login`.
    pub action: &'static str,
    /// Who acted: the account itself for self-service, `None` when unknown.
    pub actor: Option<UserId>,
    /// The subject as `(resource_type, resource_id)`.
    pub subject: Option<(&'static str, String)>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Event-specific facts (a JSON object).
    pub details: Value,
}

impl AuditEvent {
    /// A successful `action` by nobody known, on nothing in particular.
    #[must_use]
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            actor: None,
            subject: None,
            success: true,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A successful `action` by `user` on their own account (self-service).
    #[must_use]
    pub fn self_service(action: &'static str, user: UserId) -> Self {
        Self::new(action).by(user).on("user", user)
    }

    /// The same event, done by `actor`.
    #[must_use]
    pub fn by(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The same event, done to the `kind` resource `id`.
    #[must_use]
    pub fn on(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.subject = Some((kind, id.to_string()));
        self
    }

    /// The same event, failed for `reason` (stored as `details.reason`).
    #[must_use]
    pub fn failed(mut self, reason: &str) -> Self {
        self.success = false;
        self.with("reason", reason)
    }

    /// The same event, naming the session a login opened (`details.session_id`) and how
    /// its user proved who they are (`details.methods`).
    #[must_use]
    pub fn opened(self, session: &Session) -> Self {
        let methods: Vec<&str> = session.auth_methods.iter().map(|m| m.as_str()).collect();
        self.with("session_id", session.id.to_string())
            .with("methods", methods)
    }

    /// The same event with one more detail.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

/// Appends events, stamped with the time and the client.
#[derive(Clone)]
pub struct Auditor {
    repository: Arc<dyn AuditRepository>,
    clock: Arc<dyn Clock>,
}

impl Auditor {
    /// An auditor writing to `repository`.
    #[must_use]
    pub fn new(repository: Arc<dyn AuditRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repository, clock }
    }

    /// Records `event` for a request from `client` on its own: for attempts that write
    /// nothing else (a failed login for an unknown email, say).
    ///
    /// # Errors
    /// When the entry cannot be stored: an action whose trail is lost is not done.
    pub async fn record(&self, event: AuditEvent, client: &ClientInfo) -> Result<(), Failure> {
        self.repository
            .append(entry(event, client, self.clock.now()))
            .await?;
        Ok(())
    }

    /// The entries a write appends in its own transaction: `events` makes them from the
    /// write's outcome.
    pub fn after<T>(
        &self,
        client: &ClientInfo,
        events: impl FnOnce(&T) -> Vec<AuditEvent> + Send + 'static,
    ) -> AuditWith<T> {
        let client = client.clone();
        let at = self.clock.now();
        Box::new(move |outcome| {
            events(outcome)
                .into_iter()
                .map(|event| entry(event, &client, at))
                .collect()
        })
    }

    /// `event`, appended by a write in its own transaction whatever the outcome.
    pub fn event<T>(&self, event: AuditEvent, client: &ClientInfo) -> AuditWith<T> {
        self.after(client, move |_| vec![event])
    }

    /// `event`, appended by a write in its own transaction if it changed something.
    pub fn event_if_changed(&self, event: AuditEvent, client: &ClientInfo) -> AuditWith<bool> {
        self.after(
            client,
            move |changed| {
                if *changed { vec![event] } else { Vec::new() }
            },
        )
    }
}

/// The stored form of `event`, stamped with the client and the time.
pub(crate) fn entry(event: AuditEvent, client: &ClientInfo, at: DateTime<Utc>) -> NewAuditEntry {
    let (resource_type, resource_id) = match event.subject {
        Some((kind, id)) => (Some(kind.to_owned()), Some(id)),
        None => (None, None),
    };
    let error_message = if event.success {
        None
    } else {
        event
            .details
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    NewAuditEntry {
        user_id: event.actor,
        action: event.action.to_owned(),
        resource_type,
        resource_id,
        ip_address: client.ip,
        user_agent: client.user_agent.clone(),
        details: event.details,
        success: event.success,
        error_message,
        created_at: at,
    }
}
