//! Lists the parts of a saved multipart body: number, name, file name, content type, size.
//!
//! ```sh
//! cargo run --example list_parts -- corpus/verification-result.multipart
//! ```
//!
//! The boundary is taken from the body's first delimiter line.

use std::fs::File;
use std::io::{BufRead, BufReader};

use authenteq_export::multipart::{blocking, Boundary};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: list_parts FILE")?;
    let mut file = BufReader::new(File::open(&path)?);
    let boundary = Boundary::sniff(file.fill_buf()?)?;
    let mut body = blocking::Multipart::new(file, boundary);
    while let Some(mut part) = body.next_part()? {
        let headers = part.headers().clone();
        let mut size = 0;
        while let Some(chunk) = part.chunk()? {
            size += chunk.len();
        }
        println!(
            "{:>2}  {:<22} {:<26} {:<18} {size:>7} bytes",
            part.number(),
            headers.name().unwrap_or("-"),
            headers.filename().unwrap_or("-"),
            headers.content_type().unwrap_or("-"),
        );
    }
    Ok(())
}
