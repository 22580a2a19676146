//! The picture of a room mix: a grid of up to [`MAX_TILES`] tiles, and the
//! FFmpeg command line that composes it (video tiles side by side, the
//! participants' audio mixed) from the participants' RTMP streams.

/// Participants a mix shows at most (a 3×3 grid); later joiners are left out.
pub const MAX_TILES: usize = 9;

/// Width of one tile, pixels.
pub const TILE_WIDTH: u32 = 640;

/// Height of one tile, pixels.
pub const TILE_HEIGHT: u32 = 360;

/// One stream in the mix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MixInput {
    /// The participant's display name: its stream in the room's app.
    pub display: String,
    /// Whether the stream carries audio (a video-only one adds none to the mix).
    pub has_audio: bool,
}

/// Columns and rows of the grid for `n` tiles (1..=9): 1×1, 2×1, 2×2, 2×2,
/// 3×2, 3×2, 3×3...
pub fn grid(n: usize) -> (u32, u32) {
    let n = n.clamp(1, MAX_TILES) as u32;
    let cols = (1..=3).find(|c| c * c >= n).unwrap_or(3);
    let rows = n.div_ceil(cols);
    (cols, rows)
}

/// The picture size of the mix of `n` participants.
pub fn size(n: usize) -> (u32, u32) {
    let (cols, rows) = grid(n);
    (cols * TILE_WIDTH, rows * TILE_HEIGHT)
}

/// The `-filter_complex` graph for `inputs` (FFmpeg input `i` is
/// `inputs[i]`; when none has audio, input `inputs.len()` is a silent
/// source): every picture fitted into its tile, placed by `xstack` (black
/// where the grid has no one), and the audio mixed by `amix`. Outputs
/// `[v]` and `[a]`; empty for no inputs.
pub fn filter_graph(inputs: &[MixInput]) -> String {
    let n = inputs.len().min(MAX_TILES);
    if n == 0 {
        return String::new();
    }
    let (cols, _) = grid(n);
    let mut graph = String::new();
    for i in 0..n {
        graph.push_str(&format!(
            "[{i}:v]scale={TILE_WIDTH}:{TILE_HEIGHT}:force_original_aspect_ratio=decrease,\
             pad={TILE_WIDTH}:{TILE_HEIGHT}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25[v{i}];"
        ));
    }
    if n == 1 {
        graph.push_str("[v0]null[v];");
    } else {
        let placed: String = (0..n).map(|i| format!("[v{i}]")).collect();
        let layout: Vec<String> = (0..n as u32)
            .map(|i| format!("{}_{}", (i % cols) * TILE_WIDTH, (i / cols) * TILE_HEIGHT))
            .collect();
        graph.push_str(&format!(
            "{placed}xstack=inputs={n}:layout={}:fill=black[v];",
            layout.join("|")
        ));
    }
    let audio: Vec<usize> = (0..n).filter(|&i| inputs[i].has_audio).collect();
    match audio.len() {
        0 => graph.push_str(&format!("[{n}:a]anull[a]")),
        1 => graph.push_str(&format!("[{}:a]aresample=44100[a]", audio[0])),
        k => {
            let sources: String = audio.iter().map(|i| format!("[{i}:a]")).collect();
            graph.push_str(&format!(
                "{sources}amix=inputs={k}:normalize=0:dropout_transition=0,aresample=44100[a]"
            ));
        }
    }
    graph
}

/// FFmpeg's arguments (without the program name) for mixing `inputs`, each
/// read from `{source}/{display}` (`source` is `rtmp://host:port/app`), into
/// `output` (an RTMP URL): H.264 and AAC, low latency, a keyframe every 2 s.
pub fn ffmpeg_args(source: &str, inputs: &[MixInput], output: &str) -> Vec<String> {
    let inputs = &inputs[..inputs.len().min(MAX_TILES)];
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error"]
        .map(String::from)
        .to_vec();
    for input in inputs {
        // Start fast: the hub's GOP cache sends a keyframe at once, so a
        // short probe sees both tracks.
        args.extend(
            [
                "-rw_timeout",
                "5000000",
                "-analyzeduration",
                "300000",
                "-probesize",
                "262144",
                "-fflags",
                "nobuffer",
                "-i",
            ]
            .map(String::from),
        );
        args.push(format!("{source}/{}", input.display));
    }
    if !inputs.iter().any(|i| i.has_audio) {
        args.extend(["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"].map(String::from));
    }
    args.push("-filter_complex".into());
    args.push(filter_graph(inputs));
    args.extend(
        [
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            "-b:v",
            "2500k",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
            "-f",
            "flv",
        ]
        .map(String::from),
    );
    args.push(output.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize, audio: bool) -> Vec<MixInput> {
        (0..n)
            .map(|i| MixInput {
                display: format!("p{i}"),
                has_audio: audio,
            })
            .collect()
    }

    #[test]
    fn the_grid_grows_square_first() {
        let shapes: Vec<_> = (1..=9).map(grid).collect();
        assert_eq!(
            shapes,
            [
                (1, 1),
                (2, 1),
                (2, 2),
                (2, 2),
                (3, 2),
                (3, 2),
                (3, 3),
                (3, 3),
                (3, 3)
            ]
        );
        assert_eq!(size(3), (1280, 720));
        assert_eq!(size(2), (1280, 360));
        assert_eq!(grid(0), (1, 1));
        assert_eq!(grid(40), (3, 3));
    }

    #[test]
    fn three_tiles_are_stacked_with_a_black_fourth_and_their_audio_mixed() {
        let g = filter_graph(&inputs(3, true));
        assert!(
            g.contains("xstack=inputs=3:layout=0_0|640_0|0_360:fill=black[v]"),
            "{g}"
        );
        assert!(g.contains("[0:a][1:a][2:a]amix=inputs=3"), "{g}");
    }

    #[test]
    fn one_tile_needs_no_stack_and_silence_fills_in_for_no_audio() {
        let g = filter_graph(&inputs(1, false));
        assert!(g.contains("[v0]null[v]"), "{g}");
        assert!(g.ends_with("[1:a]anull[a]"), "{g}");
        let args = ffmpeg_args(
            "rtmp://127.0.0.1:1935/r",
            &inputs(1, false),
            "rtmp://x/r/r-mix",
        );
        assert!(args.iter().any(|a| a == "anullsrc=r=44100:cl=stereo"));
        assert_eq!(args.last().unwrap(), "rtmp://x/r/r-mix");
    }

    #[test]
    fn only_the_inputs_with_audio_are_mixed() {
        let mut ins = inputs(3, true);
        ins[1].has_audio = false;
        let g = filter_graph(&ins);
        assert!(g.contains("[0:a][2:a]amix=inputs=2"), "{g}");
    }

    #[test]
    fn a_tenth_participant_is_left_out() {
        let args = ffmpeg_args("rtmp://h/r", &inputs(10, true), "rtmp://h/r/r-mix");
        let sources = args
            .iter()
            .filter(|a| a.starts_with("rtmp://h/r/p"))
            .count();
        assert_eq!(sources, MAX_TILES);
    }
}
