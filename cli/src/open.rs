//! `open`: one stored verification read back into a folder in `split`'s layout, each file
//! decrypted with the identity file and checked against the manifest (the library's
//! `store::open`). Prints one JSON line: the id and each file's name and size.

use std::path::Path;

use authenteq_export::export::VerificationId;
use authenteq_export::save::OutputDir;
use authenteq_export::store::{open, Identities};

use crate::destination::{Destination, Opened};
use crate::output::{Context, Failure};

pub fn run(id: &str, from: &str, identity: &Path, out: &Path) -> Result<(), Failure> {
    let id = VerificationId::new(id)?;
    let text = std::fs::read_to_string(identity).map_err(|e| {
        Context::new(
            format!("cannot read the identity file {}", identity.display()),
            e,
        )
    })?;
    let identities = Identities::parse(&text)?;
    let runtime = crate::output::runtime(2)?;
    let opened = runtime.block_on(async {
        let target = OutputDir::create(out)?;
        match Destination::parse(from)?.open()? {
            Opened::Folder(sink) => Ok::<_, Failure>(open(&sink, &id, &identities, &target).await?),
            Opened::Objects { sink, .. } => Ok(open(&sink, &id, &identities, &target).await?),
        }
    })?;
    let files: Vec<serde_json::Value> = opened
        .files
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "size": f.size()}))
        .collect();
    println!("{}", serde_json::json!({"id": id.as_str(), "files": files}));
    Ok(())
}
