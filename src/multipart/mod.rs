//! A generic streaming decoder and encoder for `multipart/*` bodies (RFC 2046).
//!
//! This module knows nothing of Authenteq. Its parts:
//!
//! - [`Decoder`]: the sans-I/O core. Fed `Bytes` chunks, it answers with [`Event`]s; payload
//!   leaves it as slices of the chunks that came in.
//! - [`Multipart`] and [`Part`]: the async front-end over any `Stream` of `Bytes`.
//! - [`blocking::Multipart`] and [`blocking::Part`]: the same names over any `Read`, for code
//!   without an async runtime.
//! - [`Encoder`] and [`MultipartWriter`]: write bodies part by part.
//! - [`Boundary`]: from a `Content-Type`, sniffed from a saved body, or random.
//! - [`Limits`]: what the decoder accepts, as settings.

pub mod blocking;
mod boundary;
mod decoder;
mod encoder;
mod headers;
mod limits;
mod searcher;
mod stream;

pub use crate::driver::DEFAULT_CHUNK_SIZE;
pub use boundary::{Boundary, MAX_BOUNDARY_LEN};
pub use decoder::{Decoder, Event, MAX_TRANSPORT_PADDING};
pub use encoder::{form_data_disposition, Encoder, MultipartWriter, PartWriter};
pub use headers::{ContentDisposition, LineEnding, PartHeaders};
pub use limits::Limits;
pub use stream::{Multipart, Part};

impl crate::payload::PayloadEvent for Event {
    #[inline]
    fn payload_step(self) -> crate::payload::PayloadStep {
        use crate::payload::PayloadStep;
        match self {
            Event::Data(data) => PayloadStep::Data(data),
            Event::PartEnd => PayloadStep::End,
            Event::PartStart(_) | Event::End => PayloadStep::Other,
        }
    }
}
