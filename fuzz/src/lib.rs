//! Shared by the fuzz targets: reading the leading control bytes, splitting into chunks, and
//! driving the decoders into comparable outcomes.

use authenteq_export::export::{ExportDecoder, ExportEvent, ExportFormat, ExportLimits};
use authenteq_export::multipart::{Boundary, Decoder, Event, Limits};
use bytes::Bytes;

/// RFC 2046 `bcharsnospace`, to turn fuzz bytes into a valid boundary.
const BCHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";

/// Splits fuzz input into control bytes and a body: byte 0 is the boundary length (1..=8),
/// then that many boundary bytes, then two split seeds; the rest is the body.
pub fn split_input(data: &[u8]) -> Option<(Boundary, [u8; 2], &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len % 8) + 1;
    if rest.len() < len + 2 {
        return None;
    }
    let boundary: String = rest[..len]
        .iter()
        .map(|&b| char::from(BCHARS[usize::from(b) % BCHARS.len()]))
        .collect();
    let seeds = [rest[len], rest[len + 1]];
    Some((Boundary::new(boundary).ok()?, seeds, &rest[len + 2..]))
}

/// Chunks of `body` cut at points chosen by `seed`: fixed sizes 1..=64 or three cuts.
pub fn chunks(body: &Bytes, seed: u8) -> Vec<Bytes> {
    if seed < 128 {
        let size = usize::from(seed % 64) + 1;
        (0..body.len())
            .step_by(size)
            .map(|i| body.slice(i..(i + size).min(body.len())))
            .collect()
    } else {
        let n = body.len();
        let mut cuts = [
            0,
            n * usize::from(seed % 7) / 7,
            n * usize::from(seed % 5) / 5,
            n,
        ];
        cuts.sort_unstable();
        cuts.windows(2).map(|w| body.slice(w[0]..w[1])).collect()
    }
}

/// A part's headers (or a file's name and type) and payload.
pub type DecodedPart = (Vec<(Vec<u8>, Vec<u8>)>, Payload);

/// A payload, compared by content and shown by length and hash (payloads can be large).
#[derive(PartialEq, Eq, Default)]
pub struct Payload(pub Vec<u8>);

impl Payload {
    fn extend_from_slice(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hash = self.0.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        write!(f, "<{} bytes, fnv {hash:016x}>", self.0.len())
    }
}

/// What a decode produced, as a comparable value.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub parts: Vec<DecodedPart>,
    pub complete: bool,
    pub error: Option<(String, Option<u64>)>,
}

/// What the two decoders share: fed chunks, they answer with events (the crate's own seam for
/// this is private, so the fuzz crate names it again).
trait Core {
    type Event;
    fn feed(&mut self, chunk: Bytes);
    fn finish(&mut self);
    fn next_event(&mut self) -> authenteq_export::Result<Option<Self::Event>>;
}

/// `Core` for a decoder type whose inherent methods of the same names do the work.
macro_rules! core_by_inherent_methods {
    ($decoder:ty, $event:ty) => {
        impl Core for $decoder {
            type Event = $event;
            fn feed(&mut self, chunk: Bytes) {
                <$decoder>::feed(self, chunk)
            }
            fn finish(&mut self) {
                <$decoder>::finish(self)
            }
            fn next_event(&mut self) -> authenteq_export::Result<Option<$event>> {
                <$decoder>::next_event(self)
            }
        }
    };
}

core_by_inherent_methods!(Decoder, Event);
core_by_inherent_methods!(ExportDecoder, ExportEvent);

/// Whether the event just recorded was the last one.
#[derive(PartialEq, Eq)]
enum Step {
    Continue,
    End,
}

/// Feeds `chunks` to `core` only when it asks for input, then finishes it; `record` adds each
/// event to the parts. The outcome is complete when `record` says the end came, and holds the
/// error (its kind and offset) that stopped the core otherwise.
fn drive<C: Core>(
    mut core: C,
    chunks: &[Bytes],
    mut record: impl FnMut(&mut Vec<DecodedPart>, C::Event) -> Step,
) -> Outcome {
    let mut input = chunks.iter();
    let mut out = Outcome {
        parts: Vec::new(),
        complete: false,
        error: None,
    };
    loop {
        match core.next_event() {
            Ok(None) => match input.next() {
                Some(c) => core.feed(c.clone()),
                None => core.finish(),
            },
            Ok(Some(event)) => {
                if record(&mut out.parts, event) == Step::End {
                    out.complete = true;
                    return out;
                }
            }
            Err(e) => {
                let _ = e.to_string();
                out.error = Some((format!("{:?}", e.kind()), e.offset()));
                return out;
            }
        }
    }
}

/// Decodes `chunks` with the multipart decoder.
pub fn decode(chunks: &[Bytes], boundary: &Boundary, limits: Limits) -> Outcome {
    let decoder = Decoder::with_limits(boundary.clone(), limits);
    drive(decoder, chunks, |parts, event| {
        match event {
            Event::PartStart(h) => parts.push((
                h.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
                Payload::default(),
            )),
            Event::Data(d) => {
                assert!(!d.is_empty());
                parts
                    .last_mut()
                    .expect("data in a part")
                    .1
                    .extend_from_slice(&d);
            }
            Event::PartEnd => {}
            Event::End => return Step::End,
        }
        Step::Continue
    })
}

/// Decodes `chunks` with the export decoder.
pub fn decode_export(chunks: &[Bytes], format: Option<ExportFormat>) -> Outcome {
    let limits = ExportLimits::default();
    let decoder = match format {
        Some(f) => ExportDecoder::new(f, limits),
        None => ExportDecoder::detecting(limits),
    };
    drive(decoder, chunks, |parts, event| {
        match event {
            ExportEvent::FileStart(info) => parts.push((
                vec![(
                    info.name().as_bytes().to_vec(),
                    info.content_type().unwrap_or("").as_bytes().to_vec(),
                )],
                Payload::default(),
            )),
            ExportEvent::FileData(d) => {
                parts
                    .last_mut()
                    .expect("data in a file")
                    .1
                    .extend_from_slice(&d);
            }
            ExportEvent::Result { json, .. } => parts.push((
                vec![(b"result".to_vec(), Vec::new())],
                Payload(json.to_vec()),
            )),
            ExportEvent::FileEnd => {}
            ExportEvent::End => return Step::End,
        }
        Step::Continue
    })
}
