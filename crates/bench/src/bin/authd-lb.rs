//! `authd-lb LISTEN BACKEND...`: the round-robin TCP load balancer of the scale-out
//! harness (`scripts/scale-out.py`). Each accepted connection goes to the next backend
//! and bytes are copied both ways until either side closes, as a layer-4 balancer in
//! front of several authd instances does. Not for production: no health checks.

use anyhow::{Context as _, ensure};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: authd-lb LISTEN BACKEND... (addresses as 127.0.0.1:8080)";
    let listen: SocketAddr = args.next().context(usage)?.parse().context(usage)?;
    let backends: Vec<SocketAddr> = args
        .map(|arg| arg.parse().with_context(|| format!("{arg}: {usage}")))
        .collect::<anyhow::Result<_>>()?;
    ensure!(!backends.is_empty(), "{usage}");
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let backends = Arc::new(backends);
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let (mut client, _) = listener.accept().await?;
        let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(backend).await else {
                return;
            };
            // Small requests and answers: no waiting to fill packets.
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}
