#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::live::flv::{FlvDemuxer, FlvMuxer};

// Every tag read re-muxes to exactly the bytes it was read from.
fuzz_target!(|data: &[u8]| {
    let mut d = FlvDemuxer::new();
    d.push(data);
    let mut out = Vec::new();
    while let Ok(Some(tag)) = d.next_tag() {
        FlvMuxer::write_tag(&tag, &mut out).expect("a demuxed tag fits");
    }
    if !out.is_empty() {
        // Tags start after the header (its size at bytes 5..9) and PreviousTagSize0.
        let offset = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize + 4;
        assert_eq!(&data[offset..offset + out.len()], &out[..]);
    }
});
