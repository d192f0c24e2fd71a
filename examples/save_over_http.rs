//! Fetches one export over HTTP and saves it into a folder, as the README shows.
//!
//! ```sh
//! cargo run --example save_over_http --features save -- URL DIR
//! ```
//!
//! The function between the `README` markers is the README's code, word for word
//! (`tests/readme.rs` checks it, and runs it against bodies served on loopback).

// README: begin
use authenteq_export::export::{Export, ExportDecoder, ExportLimits};
use authenteq_export::save::{save_export, OutputDir, SavedExport};

/// Saves the export an endpoint answered into `dir`: `result.json` and every file under a safe
/// name, each visible only once whole; nothing overwritten, nothing outside `dir`.
pub async fn save(
    response: reqwest::Response,
    dir: &std::path::Path,
) -> authenteq_export::Result<SavedExport> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    // Any of the three formats; an API error body is an `ErrorKind::Api` error with its status.
    let decoder = ExportDecoder::for_response(status, content_type, ExportLimits::default())?;
    let mut export = Export::with_decoder(response.bytes_stream(), decoder);
    save_export(&mut export, &OutputDir::create(dir)?).await
}
// README: end

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: save_over_http URL DIR".into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let response = reqwest::get(&url).await?;
        let saved = save(response, std::path::Path::new(&dir)).await?;
        for file in saved.files() {
            println!("{} ({} bytes)", file.saved().name(), file.saved().size());
        }
        Ok(())
    })
}
