use super::*;
use auth_ports::PasskeyId;
use auth_testing::{SoftAuthenticator, SoftAuthenticatorError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;

const ORIGIN: &str = "http://localhost:8080";

fn adapter() -> WebauthnPasskeyAuthenticator {
    let config = WebauthnConfig {
        rp_id: "localhost".to_owned(),
        origins: vec![ORIGIN.to_owned(), "http://localhost:3000".to_owned()],
        left_out: vec![],
    };
    WebauthnPasskeyAuthenticator::new(&config, "authd").unwrap()
}

fn email() -> Email {
    Email::parse("ada@example.com").unwrap()
}

/// Registers a passkey for `user` with `authenticator` and returns it as stored.
fn register(
    passkeys: &WebauthnPasskeyAuthenticator,
    authenticator: &mut SoftAuthenticator,
    user: UserId,
) -> Passkey {
    let ceremony = passkeys.start_registration(user, &email(), &[]).unwrap();
    let credential = authenticator.register(&ceremony.options).unwrap();
    let registered = passkeys
        .finish_registration(&ceremony.state, &credential)
        .unwrap();
    Passkey {
        id: PasskeyId::new(),
        user_id: user,
        credential_id: registered.credential_id,
        name: "laptop".to_owned(),
        data: registered.data,
        created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        last_used_at: None,
    }
}

fn counter(data: &str) -> u64 {
    let record: Value = serde_json::from_str(data).unwrap();
    record["cred"]["counter"].as_u64().unwrap()
}

fn rejected<T: std::fmt::Debug>(result: Result<T, SecondFactorError>) -> bool {
    matches!(result, Err(SecondFactorError::Rejected(_)))
}

#[test]
fn a_registered_passkey_answers_a_second_factor_assertion_and_its_counter_moves() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let user = UserId::new();
    let mut passkey = register(&passkeys, &mut authenticator, user);
    assert_eq!(counter(&passkey.data), 0);

    for expected in [1, 2] {
        let ceremony = passkeys
            .start_authentication(std::slice::from_ref(&passkey))
            .unwrap();
        let allowed = &ceremony.options["publicKey"]["allowCredentials"];
        assert_eq!(
            allowed[0]["id"],
            URL_SAFE_NO_PAD.encode(&passkey.credential_id)
        );
        assert_eq!(
            ceremony.options["publicKey"]["userVerification"],
            "required"
        );
        let response = authenticator.sign(&ceremony.options).unwrap();
        let assertion = passkeys
            .finish_authentication(&ceremony.state, &response, std::slice::from_ref(&passkey))
            .unwrap();

        assert_eq!(assertion.credential_id, passkey.credential_id);
        assert_eq!(counter(&assertion.data), expected);
        passkey.data = assertion.data;
    }
}

#[test]
fn registration_options_name_the_user_by_id_and_exclude_their_passkeys() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let user = UserId::new();
    let passkey = register(&passkeys, &mut authenticator, user);

    let again = passkeys
        .start_registration(user, &email(), std::slice::from_ref(&passkey))
        .unwrap();
    let options = &again.options["publicKey"];
    assert_eq!(
        options["user"]["id"],
        URL_SAFE_NO_PAD.encode(user.0.as_bytes())
    );
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["rp"]["name"], "authd");
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        URL_SAFE_NO_PAD.encode(&passkey.credential_id)
    );
    assert_eq!(
        authenticator.register(&again.options),
        Err(SoftAuthenticatorError::Excluded)
    );
    // Another authenticator is welcome.
    let credential = SoftAuthenticator::new(ORIGIN)
        .register(&again.options)
        .unwrap();
    let second = passkeys
        .finish_registration(&again.state, &credential)
        .unwrap();
    assert_ne!(second.credential_id, passkey.credential_id);
}

#[test]
fn a_discoverable_assertion_names_its_user_and_checks_against_their_passkeys() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let user = UserId::new();
    let passkey = register(&passkeys, &mut authenticator, user);

    let ceremony = passkeys.start_discoverable().unwrap();
    assert!(
        ceremony.options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(
        ceremony.options["publicKey"]["userVerification"],
        "required"
    );
    assert_eq!(ceremony.options.get("mediation"), None);
    let response = authenticator.sign(&ceremony.options).unwrap();

    assert_eq!(passkeys.claimed_user(&response).unwrap(), user);
    let someone_else = register(
        &passkeys,
        &mut SoftAuthenticator::new(ORIGIN),
        UserId::new(),
    );
    assert!(rejected(passkeys.finish_authentication(
        &ceremony.state,
        &response,
        std::slice::from_ref(&someone_else)
    )));
    let assertion = passkeys
        .finish_authentication(&ceremony.state, &response, std::slice::from_ref(&passkey))
        .unwrap();
    assert_eq!(assertion.credential_id, passkey.credential_id);
    assert_eq!(counter(&assertion.data), 1);
}

#[test]
fn an_assertion_without_a_user_handle_claims_no_one() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());
    let ceremony = passkeys.start_authentication(&[passkey]).unwrap();
    let response = authenticator.sign(&ceremony.options).unwrap();

    assert!(rejected(passkeys.claimed_user(&response)));
    assert!(rejected(
        passkeys.claimed_user(&serde_json::json!({"id": 1}))
    ));
}

#[test]
fn a_tampered_assertion_is_rejected() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());
    let ceremony = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let response = authenticator.sign(&ceremony.options).unwrap();

    for field in ["signature", "authenticatorData", "clientDataJSON"] {
        let mut tampered = response.clone();
        let mut bytes = URL_SAFE_NO_PAD
            .decode(tampered["response"][field].as_str().unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        tampered["response"][field] = Value::String(URL_SAFE_NO_PAD.encode(bytes));
        assert!(
            rejected(passkeys.finish_authentication(
                &ceremony.state,
                &tampered,
                std::slice::from_ref(&passkey)
            )),
            "{field}"
        );
    }
    let mut malformed = response.clone();
    malformed["response"] = Value::Null;
    assert!(rejected(passkeys.finish_authentication(
        &ceremony.state,
        &malformed,
        std::slice::from_ref(&passkey)
    )));
    passkeys
        .finish_authentication(&ceremony.state, &response, std::slice::from_ref(&passkey))
        .unwrap();
}

#[test]
fn an_assertion_from_an_origin_not_allowed_is_rejected() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());

    // Allowed: authd's own origin and the app's, on the RP ID.
    authenticator.set_origin("http://localhost:3000");
    let ceremony = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let response = authenticator.sign(&ceremony.options).unwrap();
    let passkey = Passkey {
        data: passkeys
            .finish_authentication(&ceremony.state, &response, std::slice::from_ref(&passkey))
            .unwrap()
            .data,
        ..passkey
    };

    for origin in [
        "http://localhost:9999",
        "https://localhost:8080",
        "https://other.localhost:8080",
    ] {
        authenticator.set_origin(origin);
        let ceremony = passkeys
            .start_authentication(std::slice::from_ref(&passkey))
            .unwrap();
        let response = authenticator.sign(&ceremony.options).unwrap();
        assert!(
            rejected(passkeys.finish_authentication(
                &ceremony.state,
                &response,
                std::slice::from_ref(&passkey)
            )),
            "{origin}"
        );
    }
}

#[test]
fn an_answer_to_another_ceremony_is_rejected() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());
    let first = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let second = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let answer_to_first = authenticator.sign(&first.options).unwrap();

    assert!(rejected(passkeys.finish_authentication(
        &second.state,
        &answer_to_first,
        std::slice::from_ref(&passkey)
    )));

    let registration = passkeys
        .start_registration(UserId::new(), &email(), &[])
        .unwrap();
    let other_registration = passkeys
        .start_registration(UserId::new(), &email(), &[])
        .unwrap();
    let credential = SoftAuthenticator::new(ORIGIN)
        .register(&registration.options)
        .unwrap();
    assert!(rejected(
        passkeys.finish_registration(&other_registration.state, &credential)
    ));
}

#[test]
fn a_passkey_removed_since_the_start_does_not_count() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());
    let ceremony = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let response = authenticator.sign(&ceremony.options).unwrap();

    assert!(rejected(passkeys.finish_authentication(
        &ceremony.state,
        &response,
        &[]
    )));
}

#[test]
fn a_state_of_another_kind_of_ceremony_is_a_server_failure() {
    let passkeys = adapter();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let passkey = register(&passkeys, &mut authenticator, UserId::new());
    let registration = passkeys
        .start_registration(UserId::new(), &email(), &[])
        .unwrap();
    let assertion = passkeys
        .start_authentication(std::slice::from_ref(&passkey))
        .unwrap();
    let response = authenticator.sign(&assertion.options).unwrap();

    assert!(matches!(
        passkeys.finish_authentication(&registration.state, &response, &[passkey]),
        Err(SecondFactorError::Failed(_))
    ));
    assert!(matches!(
        passkeys.finish_registration(&assertion.state, &response),
        Err(SecondFactorError::Failed(_))
    ));
    assert!(matches!(
        passkeys.finish_registration("{}", &response),
        Err(SecondFactorError::Failed(_))
    ));
}

#[test]
fn the_state_says_which_ceremony_it_is() {
    let passkeys = adapter();
    let state: Value = serde_json::from_str(&passkeys.start_discoverable().unwrap().state).unwrap();

    assert_eq!(state["ceremony"], "discoverable");
}
