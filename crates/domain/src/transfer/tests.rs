use super::*;
use crate::test_support::{clock_at, new_year, role};
use auth_ports::{MockPasswordHasher, MockRoleRepository, MockUserTransfer};

const BCRYPT: &str = "$2b$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6";

fn service(transfer: MockUserTransfer) -> TransferService {
    let mut roles = MockRoleRepository::new();
    roles
        .expect_list()
        .returning(|| Ok(vec![role("admin", &["*"]), role("user", &["profile:read"])]));
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_accepts()
        .returning(|hash| hash.expose().starts_with("$2b$"));
    TransferService::new(
        Arc::new(transfer),
        Arc::new(roles),
        Arc::new(hasher),
        clock_at(new_year()),
    )
}

async fn importer() -> Importer {
    service(MockUserTransfer::new())
        .importer()
        .await
        .unwrap_or_else(|e| unreachable!("{e}"))
}

fn incoming(email: &str) -> IncomingUser {
    IncomingUser {
        email: email.into(),
        ..IncomingUser::default()
    }
}

fn problems(result: Result<AccountToImport, FieldErrors>) -> Vec<(&'static str, String)> {
    match result {
        Ok(accepted) => unreachable!("accepted {accepted:?}"),
        Err(errors) => errors
            .fields()
            .iter()
            .map(|(field, message)| (*field, message.clone()))
            .collect(),
    }
}

#[tokio::test]
async fn absent_fields_get_what_a_registration_would_have() {
    let mut importer = importer().await;
    let user = importer
        .check(incoming("  Ada@Example.COM "))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!user.id_given);
    let user = user.account;
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.roles, ["user"]);
    assert_eq!(user.created_at, new_year());
    assert!(!user.email_verified && user.password_hash.is_none());
}

#[tokio::test]
async fn given_fields_are_kept_and_roles_sorted_once() {
    let mut importer = importer().await;
    let id = UserId::new();
    let at = new_year() - chrono::Duration::days(900);
    let user = importer
        .check(IncomingUser {
            id: Some(id),
            status: Some("suspended".into()),
            email_verified: true,
            first_name: Some(" Ada ".into()),
            last_name: Some("  ".into()),
            roles: Some(vec!["user".into(), "admin".into(), "user".into()]),
            created_at: Some(at),
            password_hash: Some(BCRYPT.into()),
            oauth_accounts: vec![
                PortableOAuthAccount {
                    provider: "google".into(),
                    provider_user_id: "g".into(),
                    provider_email: None,
                },
                PortableOAuthAccount {
                    provider: "github".into(),
                    provider_user_id: "1".into(),
                    provider_email: None,
                },
            ],
            ..incoming("ada@example.com")
        })
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(user.id_given);
    let user = user.account;
    assert_eq!(user.id, id);
    assert_eq!(user.status, UserStatus::Suspended);
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    assert_eq!(user.last_name, None);
    assert_eq!(user.roles, ["admin", "user"]);
    assert_eq!(user.created_at, at);
    assert_eq!(
        user.password_hash.map(|h| h.expose().to_owned()).as_deref(),
        Some(BCRYPT)
    );
    let providers: Vec<_> = user
        .oauth_accounts
        .iter()
        .map(|l| l.provider.as_str())
        .collect();
    assert_eq!(providers, ["github", "google"]);
}

#[tokio::test]
async fn every_broken_rule_is_named_and_no_hash_is_echoed() {
    let mut importer = importer().await;
    let found = problems(importer.check(IncomingUser {
        status: Some("banned".into()),
        first_name: Some("x".repeat(101)),
        roles: Some(vec!["wizard".into()]),
        password_hash: Some("md5:5f4dcc3b5aa765d61d8327deb882cf99".into()),
        ..incoming("not an email")
    }));
    let fields: Vec<_> = found.iter().map(|(field, _)| *field).collect();
    assert_eq!(
        fields,
        ["email", "first_name", "password_hash", "roles", "status"]
    );
    assert!(
        found
            .iter()
            .all(|(_, message)| !message.contains("5f4dcc3b"))
    );
}

#[tokio::test]
async fn the_same_account_twice_in_one_file_is_refused_the_second_time() {
    let mut importer = importer().await;
    let id = UserId::new();
    let github = |subject: &str| {
        vec![PortableOAuthAccount {
            provider: "github".into(),
            provider_user_id: subject.into(),
            provider_email: None,
        }]
    };
    let first = IncomingUser {
        id: Some(id),
        oauth_accounts: github("7"),
        ..incoming("ada@example.com")
    };
    assert!(importer.check(first).is_ok());
    let again = problems(importer.check(incoming("ADA@example.com")));
    assert_eq!(again[0].0, "email");
    let same_id = problems(importer.check(IncomingUser {
        id: Some(id),
        ..incoming("b@example.com")
    }));
    assert_eq!(same_id[0].0, "id");
    let same_link = problems(importer.check(IncomingUser {
        oauth_accounts: github("7"),
        ..incoming("c@example.com")
    }));
    assert_eq!(same_link[0].0, "oauth_accounts");
    // A refused line leaves nothing behind: its email may come back, corrected.
    let refused = IncomingUser {
        status: Some("banned".into()),
        ..incoming("d@example.com")
    };
    assert!(importer.check(refused).is_err());
    assert!(importer.check(incoming("d@example.com")).is_ok());
}

#[tokio::test]
async fn an_import_writes_one_register_entry_per_account_in_the_batch() {
    let mut transfer = MockUserTransfer::new();
    transfer.expect_import().returning(|batch, audit| {
        assert_eq!(audit.len(), batch.len());
        for (user, entry) in batch.iter().zip(&audit) {
            assert_eq!(entry.action, "user.register");
            assert_eq!(entry.resource_id, Some(user.account.id.to_string()));
            assert_eq!(entry.details["via"], "import");
            assert_eq!(entry.created_at, new_year());
        }
        Ok(vec![Imported::Created, Imported::Present])
    });
    let service = service(transfer);
    let mut importer = service
        .importer()
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let batch = vec![
        importer
            .check(incoming("a@example.com"))
            .unwrap_or_else(|e| unreachable!("{e}")),
        importer
            .check(incoming("b@example.com"))
            .unwrap_or_else(|e| unreachable!("{e}")),
    ];
    let outcomes = service
        .import(batch)
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(outcomes, [Imported::Created, Imported::Present]);
}
