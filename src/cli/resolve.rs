//! `manifesto resolve IMAGE`: the image reference, normalised and resolved to its digest.

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::registry::{ImageRef, RegistryClient};

#[derive(Serialize)]
struct Resolved {
    reference: String,
    repository: String,
    gun: String,
    image_digest: String,
    media_type: String,
    size: u64,
    transport: &'static str,
}

pub async fn run(ctx: &Context, image: &str) -> Result<(), Error> {
    let image = ImageRef::parse(image)?;
    let client = RegistryClient::connect(&ctx.settings.http, image.registry()).await?;
    let resolved = client.resolve(&image).await?;
    let out = Resolved {
        reference: resolved.reference.to_string(),
        repository: format!("{}/{}", image.registry(), image.repository()),
        gun: image.gun(),
        image_digest: resolved.digest.to_string(),
        media_type: resolved.media_type.clone(),
        size: resolved.size,
        transport: if client.is_plain_http() {
            "http"
        } else {
            "https"
        },
    };
    ctx.output.emit(&out, |w| {
        writeln!(w, "{image}")?;
        writeln!(w, "  digest      {}", out.image_digest)?;
        writeln!(w, "  media type  {}", out.media_type)?;
        writeln!(w, "  size        {} bytes", out.size)?;
        writeln!(w, "  pinned      {}", out.reference)?;
        writeln!(w, "  notary GUN  {}", out.gun)?;
        writeln!(w, "  transport   {}", out.transport)
    })
}
