//! Live streaming: RTMP, FLV and HLS (sans-IO cores).
//!
//! - [`rtmp`]: [`rtmp::RtmpServerConn`], one RTMP connection (publisher or player).
//! - [`flv`]: [`flv::FlvTag`] (the unit every part exchanges), FLV muxer and demuxer (HTTP-FLV).
//! - [`gop`]: [`gop::GopCache`], so a new player starts at the last keyframe.
//! - [`avc`], [`aac`]: H.264 and AAC configuration records, AVCC to Annex-B, ADTS.
//! - [`media_info`]: codecs, profile, level and size of a stream, for the HTTP API.
//! - [`ts`], [`hls`]: MPEG-TS muxer and the in-memory HLS segmenter with its m3u8.
//! - [`dvr`]: recording (DVR): file names, segmenting, the FLV and MP4 file writers.
//!
//! Data flow: publisher bytes → `RtmpServerConn::handle_input` → `RtmpEvent::Media(FlvTag)`
//! → the stream's `GopCache` and `HlsMuxer`, and each player's `RtmpServerConn::send_tag`
//! or `FlvMuxer::write_tag` (HTTP-FLV).

pub mod aac;
pub mod avc;
pub mod dvr;
pub mod flv;
pub mod gop;
pub mod hls;
pub mod media_info;
pub mod rtmp;
pub mod ts;
