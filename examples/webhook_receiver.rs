//! A webhook receiver to copy into a service: each delivery verified while it streams, stored
//! under `DIR/<verification id>/` once its signature matched, answered `200`.
//!
//! ```sh
//! export AUTHENTEQ_CLIENT_ID=my-client-id AUTHENTEQ_CLIENT_SECRET=my-client-secret
//! cargo run --example webhook_receiver --features webhook-receiver -- 127.0.0.1:8081 deliveries
//! ```
//!
//! The function between the `README` markers is the README's code, word for word
//! (`cli/tests/webhook.rs` checks it, and delivers to it over loopback).

// README: begin
use authenteq_export::store::FolderSink;
use authenteq_export::webhook::{Receiver, Scheme, WebhookKey};

/// Receives deliveries on `addr` until the server fails; stores the verified ones in `dir`.
pub async fn serve(addr: std::net::SocketAddr, dir: &str) -> authenteq_export::Result<()> {
    let id = std::env::var("AUTHENTEQ_CLIENT_ID").unwrap_or_default();
    let secret = std::env::var("AUTHENTEQ_CLIENT_SECRET").unwrap_or_default();
    let key = WebhookKey::new(id, secret).scheme(Scheme::Sha256BodySecret);
    let sink = FolderSink::create(dir)?;
    let receiver = Receiver::builder(sink).key(key).build()?;
    // Every connection phase timed out, unverified bytes bounded; or mount `receiver.router()`.
    receiver.bind(addr).await?.wait().await
}
// README: end

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: webhook_receiver ADDR DIR".into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(addr.parse()?, &dir))?;
    Ok(())
}
