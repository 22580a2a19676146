//! Live streaming: RTMP, FLV and HLS (sans-IO cores).
