//! Zero-copy and allocation counts, with a counting global allocator (this test binary only).
//!
//! Decoding a 64 MiB export copies no payload byte, and the number of allocations does not grow
//! with the number of chunks: it is a small constant per part.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use authenteq_export::multipart::{Boundary, Decoder, Event, Multipart};
use bytes::Bytes;
use support::generate;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed on unchanged to the system allocator; the counter is a
// thread-local `Cell` with a const initializer and no destructor, so touching it never
// allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

struct Run {
    allocations: u64,
    chunks: usize,
    parts: usize,
    payload: usize,
    copied: usize,
}

/// Chunks sliced from one shared buffer (slicing it allocates nothing once it is shared).
fn chunks_of(body: &Bytes, size: usize) -> Vec<Bytes> {
    support::fixed_chunks(body, size)
}

fn decode_sans_io(chunks: &[Bytes], boundary: &Boundary) -> Run {
    let before = allocations();
    let mut decoder = Decoder::new(boundary.clone());
    let mut input = chunks.iter();
    let (mut parts, mut payload, mut copied) = (0, 0, 0);
    // The last two chunks fed: payload held back at a chunk's end is a slice of the previous one.
    let mut fed: [Option<&Bytes>; 2] = [None, None];
    loop {
        match decoder.next_event().unwrap() {
            None => match input.next() {
                Some(c) => {
                    fed = [fed[1], Some(c)];
                    decoder.feed(c.clone());
                }
                None => decoder.finish(),
            },
            Some(Event::PartStart(_)) => parts += 1,
            Some(Event::Data(d)) => {
                payload += d.len();
                let inside = fed.iter().flatten().any(|c| {
                    c.as_ptr() as usize <= d.as_ptr() as usize
                        && d.as_ptr() as usize + d.len() <= c.as_ptr() as usize + c.len()
                });
                if !inside {
                    copied += d.len();
                }
            }
            Some(Event::PartEnd) => {}
            Some(Event::End) => break,
        }
    }
    drop(decoder);
    Run {
        allocations: allocations() - before,
        chunks: chunks.len(),
        parts,
        payload,
        copied,
    }
}

fn decode_async(chunks: &[Bytes], boundary: &Boundary) -> (u64, usize) {
    let runtime = support::runtime();
    let stream = futures::stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    let before = allocations();
    let payload = runtime.block_on(async {
        let mut body = Multipart::new(stream, boundary.clone());
        let mut payload = 0;
        while let Some(mut part) = body.next_part().await.unwrap() {
            while let Some(chunk) = part.chunk().await.unwrap() {
                payload += chunk.len();
            }
        }
        payload
    });
    (allocations() - before, payload)
}

#[test]
fn allocations_do_not_grow_with_chunks_and_no_payload_is_copied() {
    let body = generate::multipart_export(4, 64 << 20);
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let expected_payload: usize =
        generate::file_sizes(64 << 20).iter().sum::<usize>() + generate::result_json().len();
    // Make the buffer shared before counting, so that slicing it never allocates.
    let _shared = body.clone();

    let mut runs = Vec::new();
    for size in [64 << 10, 16 << 10, 1 << 20] {
        let chunks = chunks_of(&body, size);
        let run = decode_sans_io(&chunks, &boundary);
        assert_eq!(run.parts, 12);
        assert_eq!(run.payload, expected_payload);
        assert_eq!(
            run.copied, 0,
            "chunk size {size}: payload bytes were copied"
        );
        runs.push(run);
    }
    for run in &runs {
        println!(
            "sans-I/O decoder: {} chunks, {} allocations ({:.1} per part)",
            run.chunks,
            run.allocations,
            run.allocations as f64 / run.parts as f64
        );
        // A small constant per part, whatever the number of chunks (1024 at 64 KiB): 41 for
        // the 12 parts when this was written (the boxed headers, their copied block, the
        // Content-Disposition text, and a few per body).
        assert!(
            run.allocations <= 4 * run.parts as u64,
            "{} allocations for {} parts in {} chunks",
            run.allocations,
            run.parts,
            run.chunks
        );
        assert_eq!(
            run.allocations, runs[0].allocations,
            "allocations depend on the chunk count"
        );
    }

    let (a64, p64) = decode_async(&chunks_of(&body, 64 << 10), &boundary);
    let (a16, p16) = decode_async(&chunks_of(&body, 16 << 10), &boundary);
    println!("async front-end: {a64} allocations at 64 KiB chunks, {a16} at 16 KiB");
    assert_eq!((p64, p16), (expected_payload, expected_payload));
    assert_eq!(a64, a16, "async allocations depend on the chunk count");
    assert!(a64 <= 4 * 12 + 8, "{a64} allocations");
}
