//! Tests of the recording core: segmenting, timestamps, FLV and MP4 files
//! written to memory and read back.

use std::io::Cursor;
use std::time::Duration;

use super::*;
use crate::live::flv::FlvDemuxer;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// x264's 1280x720 High SPS and a PPS, as an FLV AVC sequence header.
fn video_header() -> FlvTag {
    let sps = hex("6764001facd9405005bb011000000300100000030320f1831960");
    let pps = hex("68ebe3cb22c0");
    let mut b = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    b.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    b.extend_from_slice(&sps);
    b.push(1);
    b.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    b.extend_from_slice(&pps);
    FlvTag::new(TagKind::Video, 0, b)
}

/// AAC-LC 44.1 kHz stereo.
fn audio_header() -> FlvTag {
    FlvTag::new(TagKind::Audio, 0, vec![0xaf, 0, 0x12, 0x10])
}

fn video(ts: u32, key: bool) -> FlvTag {
    let first = if key { 0x17 } else { 0x27 };
    let nal = if key { 0x65 } else { 0x41 };
    FlvTag::new(
        TagKind::Video,
        ts,
        vec![first, 1, 0, 0, 0, 0, 0, 0, 3, nal, 0x88, 0x84],
    )
}

fn audio(ts: u32) -> FlvTag {
    FlvTag::new(TagKind::Audio, ts, vec![0xaf, 1, 0x21, 0x10, 0x04])
}

/// `secs` seconds of 25 fps video (a keyframe each second) and ~43 AAC
/// frames a second, interleaved, starting at `t0` ms.
fn stream(t0: u32, secs: u32) -> Vec<FlvTag> {
    let mut tags = vec![video_header(), audio_header()];
    let mut a = 0u32;
    for i in 0..secs * 25 {
        let ts = t0 + i * 40;
        while t0 + a * 1024 * 1000 / 44100 <= ts {
            tags.push(audio(t0 + a * 1024 * 1000 / 44100));
            a += 1;
        }
        tags.push(video(ts, i % 25 == 0));
    }
    tags
}

#[test]
fn session_plan_never_cuts() {
    let mut s = Segmenter::new(DvrPlan::Session, Duration::from_secs(1), true);
    assert!(stream(0, 10).iter().all(|t| s.push(t) == Step::Write));
}

#[test]
fn segment_plan_cuts_at_the_first_keyframe_after_the_duration() {
    let mut s = Segmenter::new(DvrPlan::Segment, Duration::from_millis(1500), true);
    let cuts: Vec<u32> = stream(1000, 6)
        .iter()
        .filter(|t| s.push(t) == Step::Cut)
        .map(|t| t.timestamp_ms)
        .collect();
    assert_eq!(cuts, vec![3000, 5000]);
    let h = s.headers();
    assert_eq!(h.len(), 2);
    assert!(h
        .iter()
        .all(|t| t.timestamp_ms == 0 && t.is_sequence_header()));

    let mut any = Segmenter::new(DvrPlan::Segment, Duration::from_millis(1500), false);
    let first = stream(0, 3).iter().position(|t| any.push(t) == Step::Cut);
    assert!(first.is_some(), "without waiting for a keyframe");
}

#[test]
fn jitter_starts_at_zero_and_never_goes_back() {
    let mut j = Jitter::new(TimeJitter::Full);
    assert_eq!(j.correct(&video_header()), 0);
    assert_eq!(j.correct(&video(5000, true)), 0);
    assert_eq!(j.correct(&video(5040, false)), 40);
    assert_eq!(j.correct(&video(5020, false)), 40, "backwards is held");
    assert_eq!(j.correct(&audio(4990)), 0, "before the base");
    let mut z = Jitter::new(TimeJitter::Zero);
    z.correct(&video(100, true));
    assert_eq!(z.correct(&video(200, false)), 100);
    assert_eq!(z.correct(&video(150, false)), 50);
    let mut off = Jitter::new(TimeJitter::Off);
    assert_eq!(off.correct(&video(100, true)), 100);
}

#[test]
fn flv_file_has_every_tag_and_its_duration() {
    let tags = stream(7000, 3);
    let mut f = DvrFile::start(DvrFormat::Flv, Cursor::new(Vec::new()), TimeJitter::Full).unwrap();
    f.write(&FlvTag::new(TagKind::Script, 0, vec![2, 0, 1, b'x']))
        .unwrap();
    for t in &tags {
        f.write(t).unwrap();
    }
    let (out, ms) = f.finish().unwrap();
    assert_eq!(ms, 2960);
    let mut d = FlvDemuxer::new();
    d.push(out.get_ref());
    let mut read = Vec::new();
    while let Some(t) = d.next_tag().unwrap() {
        read.push(t);
    }
    assert_eq!(
        read.len(),
        tags.len() + 1,
        "our metadata, not the publisher's"
    );
    assert!(read[0].is_metadata());
    let dur = &read[0].data[read[0].data.len() - 11..read[0].data.len() - 3];
    assert_eq!(f64::from_be_bytes(dur.try_into().unwrap()), 2.96);
    assert_eq!(read.last().unwrap().timestamp_ms, 2960);
    assert_eq!(read[3].timestamp_ms, 0, "rebased");
}

#[test]
fn mp4_file_has_both_tracks_and_the_duration() {
    let mut f = DvrFile::start(DvrFormat::Mp4, Cursor::new(Vec::new()), TimeJitter::Full).unwrap();
    // Audio before the first keyframe and a delta frame are dropped.
    f.write(&audio_header()).unwrap();
    f.write(&audio(900)).unwrap();
    f.write(&video(950, false)).unwrap();
    for t in stream(1000, 4) {
        f.write(&t).unwrap();
    }
    let (out, ms) = f.finish().unwrap();
    assert_eq!(ms, 3960);
    let size = out.get_ref().len() as u64;
    let r = mp4::Mp4Reader::read_header(Cursor::new(out.into_inner()), size).unwrap();
    assert_eq!(r.tracks().len(), 2);
    let v = r
        .tracks()
        .values()
        .find(|t| t.track_type().ok() == Some(mp4::TrackType::Video))
        .unwrap();
    assert_eq!((v.width(), v.height()), (1280, 720));
    assert_eq!(v.sample_count(), 100);
    assert_eq!(v.duration(), Duration::from_millis(4000));
    let a = r
        .tracks()
        .values()
        .find(|t| t.track_type().ok() == Some(mp4::TrackType::Audio))
        .unwrap();
    assert_eq!(
        a.sample_freq_index().unwrap(),
        mp4::SampleFreqIndex::Freq44100
    );
    assert!(
        (a.duration().as_secs_f64() - 3.95).abs() < 0.05,
        "{:?}",
        a.duration()
    );
    assert!(r.duration() >= Duration::from_millis(3990));
}

#[test]
fn mp4_file_without_audio_starts_after_the_hold() {
    let mut f = DvrFile::start(DvrFormat::Mp4, Cursor::new(Vec::new()), TimeJitter::Full).unwrap();
    f.write(&video_header()).unwrap();
    for i in 0..200 {
        f.write(&video(i * 40, i % 25 == 0)).unwrap();
    }
    let (out, _) = f.finish().unwrap();
    let size = out.get_ref().len() as u64;
    let r = mp4::Mp4Reader::read_header(Cursor::new(out.into_inner()), size).unwrap();
    assert_eq!(r.tracks().len(), 1);
    assert_eq!(r.tracks().values().next().unwrap().sample_count(), 200);
}

#[test]
fn mp4_file_with_nothing_is_still_complete() {
    let f = DvrFile::start(DvrFormat::Mp4, Cursor::new(Vec::new()), TimeJitter::Full).unwrap();
    let (out, ms) = f.finish().unwrap();
    assert_eq!(ms, 0);
    let size = out.get_ref().len() as u64;
    assert!(mp4::Mp4Reader::read_header(Cursor::new(out.into_inner()), size).is_ok());
}
