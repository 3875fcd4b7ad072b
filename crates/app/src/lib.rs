//! authd as a library, so the binary and the end-to-end tests share one composition
//! root: configuration, the database, the HTTP service and the CLI commands. `main.rs`
//! only parses the command line and calls [`run`].

pub mod adapters;
pub mod cli;
pub mod config;
pub mod http;
mod maintenance;
mod migrate;
mod users;

use adapters::{
    Argon2PasswordHasher, AuthCounters, CountingSessionRepository, CountingUserRepository, JwtKeys,
    MemoryRateLimiter, OAuthProviders, RandomTokenGenerator, RedisRateLimiter, SystemClock,
};
use anyhow::Context as _;
use auth_domain::{
    AdminPorts, AdminService, Auditor, AuthPolicy, AuthPorts, AuthService, Messages, OAuthPolicy,
    OAuthPorts, OAuthService, PasswordPolicy, RbacService, SecondFactorPorts, TokenService,
    TransferService,
};
use auth_ports::{
    Clock, LockoutPolicy, PasswordHasher, RateLimit, RateLimiter, SessionRepository, UserRepository,
};
use auth_sea_orm::{PoolConfig, Store};
use cli::Command;
use config::Config;
use std::sync::Arc;
use std::time::Duration;

/// How long a login may wait for a free hashing slot before it is answered 503.
const HASH_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// First pause before a failed mail is sent again; each retry waits twice as long.
const MAIL_RETRY_BASE: Duration = Duration::from_secs(5);

/// Prefix of the rate-limit keys in Redis.
pub const RATE_LIMIT_PREFIX: &str = "authd:rl:";

/// Runs one CLI command with the given configuration.
///
/// # Errors
/// Whatever stops the command; `main` prints it and exits non-zero.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::Migrate(migrate) = &command {
        migrate::confirm(migrate)?;
    }
    // Key files are configuration too: a bad one stops every command before the
    // database is touched.
    let jwt = JwtKeys::load(&config.jwt)?;
    let store = connect(&config).await?;
    match command {
        Command::Migrate(command) => migrate::run(&store, command).await,
        Command::Maintenance(cli::MaintenanceCommand::Cleanup) => {
            maintenance::cleanup(&store, config.audit.retention, config.lockout.duration).await
        }
        Command::User(cli::UserCommand::Create { email, role }) => {
            let state = assemble(&config, jwt, store, RATE_LIMIT_PREFIX).await?;
            users::create(state.auth(), email, role).await
        }
        Command::User(cli::UserCommand::Import { file, strict }) => {
            users::import(&transfer(&config, &store)?, &file, strict).await
        }
        Command::User(cli::UserCommand::Export { output }) => {
            users::export(&transfer(&config, &store)?, output.as_deref()).await
        }
        Command::Serve => {
            if config.database.auto_migrate {
                store
                    .migrate_up()
                    .await
                    .context("cannot migrate the database")?;
            }
            let listener = tokio::net::TcpListener::bind(config.http.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.http.bind))?;
            let state = assemble(&config, jwt, store, RATE_LIMIT_PREFIX).await?;
            http::serve(listener, state, &config.http, http::shutdown_signal()).await
        }
    }
}

/// Opens the pool described by the configuration.
///
/// # Errors
/// When the database cannot be reached or the URL is malformed (the message shows the
/// URL without its password).
pub async fn connect(config: &Config) -> anyhow::Result<Store> {
    let db = &config.database;
    Store::connect(&PoolConfig {
        url: db.url.expose().to_owned(),
        max_connections: db.max_connections,
        min_connections: db.min_connections,
        idle_timeout: db.idle_timeout,
        connect_timeout: db.connect_timeout,
    })
    .await
    .with_context(|| format!("cannot open the database {}", db.url))
}

/// The service behind `authd users import|export`: the hasher only to say which stored
/// hashes it can check.
fn transfer(config: &Config, store: &Store) -> anyhow::Result<TransferService> {
    let hasher = Argon2PasswordHasher::new(&config.argon2, 1, HASH_QUEUE_TIMEOUT)
        .context("cannot set up password hashing")?;
    Ok(TransferService::new(
        Arc::new(store.transfer()),
        Arc::new(store.roles()),
        Arc::new(hasher),
        Arc::new(SystemClock::new()),
    ))
}

/// Wires the adapters into the services: the composition root of `serve`. Redis keys
/// start with `rate_limit_prefix` (tests give each their own).
///
/// # Errors
/// When the argon2 parameters are rejected, `REDIS_URL` is unusable, or a JWT key file
/// is missing, unreadable or malformed (the message names the variable).
pub async fn build_state(
    config: &Config,
    store: Store,
    rate_limit_prefix: &str,
) -> anyhow::Result<http::AppState> {
    assemble(
        config,
        JwtKeys::load(&config.jwt)?,
        store,
        rate_limit_prefix,
    )
    .await
}

/// [`build_state`] with the JWT keys already read.
async fn assemble(
    config: &Config,
    jwt: JwtKeys,
    store: Store,
    rate_limit_prefix: &str,
) -> anyhow::Result<http::AppState> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let second_factors = adapters::SecondFactorAdapters::new(&config.mfa)?;
    let auditor = Auditor::new(Arc::new(store.audit()), clock.clone());
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let hasher = Argon2PasswordHasher::new(&config.argon2, cpus, HASH_QUEUE_TIMEOUT)
        .context("cannot set up password hashing")?;
    let hashing = hasher.metrics().clone();
    let hasher: Arc<dyn PasswordHasher> = Arc::new(hasher);
    let (limiter, fallback): (Arc<dyn RateLimiter>, _) = match &config.rate_limit.redis_url {
        Some(url) => {
            let redis = RedisRateLimiter::connect(url.expose(), rate_limit_prefix)
                .await
                .with_context(|| format!("cannot use REDIS_URL {url}"))?;
            let fallback = redis.metrics().clone();
            (Arc::new(redis), Some(fallback))
        }
        None => (Arc::new(MemoryRateLimiter::new()), None),
    };
    // Every service's users and sessions go through the counting decorators, so each
    // opened or revoked session and each lockout is counted, once, whoever caused it.
    let counters = AuthCounters::default();
    let users = || -> Arc<dyn UserRepository> {
        Arc::new(CountingUserRepository::new(store.users(), counters.clone()))
    };
    let sessions = || -> Arc<dyn SessionRepository> {
        Arc::new(CountingSessionRepository::new(
            store.sessions(),
            counters.clone(),
        ))
    };
    let minute = Duration::from_secs(60);
    let policy = AuthPolicy {
        password: PasswordPolicy {
            min_chars: config.accounts.password_min_length,
        },
        lockout: LockoutPolicy {
            threshold: config.lockout.threshold,
            global_threshold: config.lockout.global_threshold,
            duration: config.lockout.duration,
        },
        session_ttl: config.session.ttl,
        idle_timeout: config.session.idle_timeout,
        require_verified_email: config.accounts.require_verified_email,
        login_limit: RateLimit {
            max: config.rate_limit.login_per_min,
            window: minute,
        },
        register_limit: RateLimit {
            max: config.rate_limit.register_per_min,
            window: minute,
        },
        recovery_limit: RateLimit {
            max: config.rate_limit.reset_per_hour,
            window: 60 * minute,
        },
        verification_ttl: config.tokens.email_verification_ttl,
        reset_ttl: config.tokens.password_reset_ttl,
    };
    let password_policy = policy.password;
    let oauth = OAuthService::new(
        OAuthPorts {
            users: users(),
            sessions: sessions(),
            accounts: Arc::new(store.oauth_accounts()),
            flows: Arc::new(store.oauth_flows()),
            client: Arc::new(OAuthProviders::new(
                &config.oauth,
                &config.http.public_url,
                clock.clone(),
            )?),
            tokens: Arc::new(RandomTokenGenerator::new()),
            clock: clock.clone(),
            audit: auditor.clone(),
            limiter: limiter.clone(),
            mfa: Arc::new(store.mfa()),
        },
        OAuthPolicy {
            session_ttl: policy.session_ttl,
            require_verified_email: policy.require_verified_email,
            login_limit: policy.login_limit,
        },
    );
    let auth = AuthService::new(
        AuthPorts {
            users: users(),
            sessions: sessions(),
            audit: auditor.clone(),
            audit_log: Arc::new(store.audit()),
            hasher: hasher.clone(),
            tokens: Arc::new(RandomTokenGenerator::new()),
            clock: clock.clone(),
            limiter,
            one_time_tokens: Arc::new(store.one_time_tokens()),
            second_factors: SecondFactorPorts {
                mfa: Arc::new(store.mfa()),
                challenges: Arc::new(store.challenges()),
                totp: second_factors.totp,
                passkeys: second_factors.passkeys,
            },
        },
        policy,
        Messages::new(&config.mail_link_base),
    );
    let admin = AdminService::new(AdminPorts {
        users: users(),
        roles: Arc::new(store.roles()),
        audit_log: Arc::new(store.audit()),
        audit: auditor.clone(),
        clock: clock.clone(),
        mfa: Arc::new(store.mfa()),
        hasher,
        password: password_policy,
    });
    let tokens = http::AccessTokens {
        service: TokenService::new(
            jwt.signer,
            clock.clone(),
            config.jwt.ttl,
            config.http.public_url.clone(),
        ),
        jwks: jwt.jwks,
    };
    let mail = adapters::MailDelivery::new(
        &config.mail,
        config.mail_from.clone(),
        Arc::new(store.mail_outbox()),
        store.mail_signal(),
        clock.clone(),
        MAIL_RETRY_BASE,
    )?;
    let rbac = RbacService::new(Arc::new(store.roles()), auditor.clone(), clock);
    let services = http::Services {
        auth,
        admin,
        rbac,
        oauth,
        tokens,
    };
    let metrics = http::Metrics::new(http::MetricSources {
        mail: mail.counters().clone(),
        hashing,
        rate_limit: fallback,
        auth: counters,
        store: store.clone(),
    });
    Ok(http::AppState::new(
        Arc::new(store),
        services,
        auditor,
        mail,
        metrics,
        &config.http,
    ))
}
