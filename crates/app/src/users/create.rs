//! `authd user create`: an operator makes an account (typically the first admin) from
//! the shell. The password never appears on the command line, where `ps` would show it.

use anyhow::{Context as _, bail};
use auth_domain::{AuthService, RegisterError, Registration};
use auth_ports::Password;
use std::io::{BufRead as _, IsTerminal as _};

/// Creates the account of `email` with `role` and a password read from stdin.
///
/// # Errors
/// Invalid input (each problem named), a taken email, an unknown role, or storage
/// failures; nothing is written then.
pub(crate) async fn create(auth: &AuthService, email: String, role: String) -> anyhow::Result<()> {
    let password = read_password()?;
    let registration = Registration {
        email,
        password,
        first_name: None,
        last_name: None,
    };
    match auth.provision(registration, &role).await {
        Ok(user) => {
            println!("created user {} <{}> with role {role}", user.id, user.email);
            Ok(())
        }
        Err(RegisterError::Invalid(errors)) => bail!("invalid input: {errors}"),
        Err(RegisterError::EmailTaken) => bail!("a user with that email exists already"),
        Err(RegisterError::UnknownRole(role)) => bail!("there is no role named {role:?}"),
        Err(RegisterError::RateLimited { .. }) => bail!("rate limited; try again later"),
        Err(RegisterError::Failure(failure)) => Err(failure).context("cannot create the user"),
    }
}

/// One line from stdin, or a no-echo prompt on a terminal.
fn read_password() -> anyhow::Result<Password> {
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password given on standard input");
    }
    Ok(Password::new(password))
}
