"""Short videos and motion graphics.

Slideshows (title card, 3-6 message slides with burnt-in captions, QR end
card) are laid out and drawn with our own raster renderer, then handed to one
ffmpeg command: each slide PNG is decoded once, ``zoompan`` gives the gentle
zoom and ``xfade`` the transitions, so the fade always sees full-size frames
(no stale fade masks). The motion infographic (numbers counting up, bars
growing) draws frames in Python and pipes raw RGB to ffmpeg.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import TemplateError
from .layout import build_layout, canvas_of
from .spec import Template

# Published length limits per network, seconds (min, max). Reels: 3-90 s.
NETWORK_LIMITS = {
    "reels": (3, 90),
    "facebook_reels": (3, 90),
    "instagram_reels": (3, 90),
    "youtube_shorts": (1, 60),
    "tiktok": (3, 600),
    "zalo": (3, 120),
}
NETWORK_NAMES = {
    "reels": "Reels",
    "facebook_reels": "Facebook Reels",
    "instagram_reels": "Instagram Reels",
    "youtube_shorts": "YouTube Shorts",
    "tiktok": "TikTok",
    "zalo": "Zalo Video",
}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _video_spec(tpl: Template) -> dict:
    spec = tpl.spec.get("video")
    if not isinstance(spec, dict):
        raise TemplateError(f"Mẫu '{tpl.name}' thiếu phần 'video'.", code="bad_spec")
    return spec


def title_layout(tpl: Template, fmt: str, data: dict, brand: dict | None):
    """The layout of the first frame (title card / final infographic)."""
    if tpl.kind == "motion":
        return build_layout(tpl, fmt, data, brand)
    slides = slide_layouts(tpl, data, brand)
    return slides[0][0]


def slide_layouts(tpl: Template, data: dict, brand: dict | None):
    """[(layout, voice text, kind)] for every slide, in order."""
    vs = _video_spec(tpl)
    canvas = canvas_of(tpl, "mp4")
    base = vs.get("background_layers") or []
    out = []

    def add(kind: str, extra: dict):
        section = vs.get(kind) or {}
        layers = [*base, *(section.get("layers") or [])]
        lay = build_layout(tpl, "mp4", data, brand, layers=layers, extra_ctx=extra, canvas=canvas)
        voice = tpl.render_text(
            section.get("voice", ""),
            {**_ctx_for_voice(data, brand), **extra},
            where=f"giọng đọc '{kind}'",
        )
        out.append((lay, voice, kind))

    add("title", {})
    field = vs.get("messages_field", "messages")
    items = data.get(field) or []
    for i, msg in enumerate(items):
        add("message", {"message": msg, "index": i + 1, "total": len(items)})
    add("end", {})
    return out


def _ctx_for_voice(data: dict, brand: dict | None) -> dict:
    from .layout import _context

    return _context(data, brand, None)


class _Progress:
    def __init__(self, report: Callable[[float], None], lo: float, hi: float):
        self.report, self.lo, self.hi = report, lo, hi
        self.last = -1.0

    def __call__(self, frac: float) -> None:
        v = self.lo + (self.hi - self.lo) * max(0.0, min(1.0, frac))
        if v - self.last >= 0.01 or frac >= 1.0:
            self.last = v
            self.report(round(v, 4))


def _run_ffmpeg(
    args: list[str], total_seconds: float, progress: Callable[[float], None], *, stdin_feed=None
) -> None:
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        *args,
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin_feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    err_chunks: list[bytes] = []
    t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    t_err.start()

    def read_progress():
        for line in proc.stdout:
            m = re.match(rb"out_time_us=(\d+)", line) or re.match(rb"out_time_ms=(\d+)", line)
            if m and total_seconds > 0:
                progress(int(m.group(1)) / 1e6 / total_seconds)

    t_out = threading.Thread(target=read_progress, daemon=True)
    t_out.start()
    try:
        if stdin_feed:
            try:
                stdin_feed(proc.stdin)
            finally:
                proc.stdin.close()
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    t_out.join(timeout=5)
    t_err.join(timeout=5)
    if rc != 0:
        msg = b"".join(err_chunks).decode("utf-8", "replace")[-800:]
        raise RuntimeError(f"ffmpeg failed ({rc}): {msg}")


def _check_length(
    total: float, limits: tuple[float, float], network: str | None, field: str
) -> None:
    lo, hi = limits
    who = f" của {NETWORK_NAMES.get(network, network)}" if network else ""
    if total > hi + 1e-6:
        raise TemplateError(
            f"Video dài {total:.1f} giây, vượt giới hạn {hi:.0f} giây{who}; hãy bớt nội dung hoặc số trang.",
            field=field,
            code="video_too_long",
        )
    if total < lo - 1e-6:
        raise TemplateError(
            f"Video dài {total:.1f} giây, ngắn hơn mức tối thiểu {lo:.0f} giây{who}.",
            field=field,
            code="video_too_short",
        )


def x264_args(fps: int, crf: int, preset: str) -> list[str]:
    return [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fps),
        "-movflags",
        "+faststart",
    ]


# Facebook, Instagram, TikTok and YouTube recommend stereo AAC at 128 kb/s or more.
AUDIO_BITRATE = "160k"


def aac_args() -> list[str]:
    """Stereo AAC-LC, 44.1 kHz: the mono soundtrack is duplicated on both channels."""
    return ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2", "-ar", "44100"]


def slideshow_command(
    pngs: list[Path],
    durations: list[float],
    *,
    width: int,
    height: int,
    fps: int,
    transition: float,
    zoom: float,
    audio: Path | None,
    out: Path,
    crf: int = 23,
    preset: str = "medium",
) -> tuple[list[str], float]:
    """The ffmpeg arguments for one slideshow.

    Each PNG is decoded once and converted to yuv420p *before* zoompan and
    xfade: the output is yuv420p anyway, and filtering 1.5 bytes per pixel
    instead of 3 makes the filter graph about 2.5x cheaper than the same graph
    on the decoded RGB frames.
    """
    args: list[str] = []
    for p in pngs:
        args += ["-i", str(p)]
    if audio is not None:
        args += ["-i", str(audio)]
    parts = []
    for i, d in enumerate(durations):
        frames = max(2, int(round(d * fps)))
        z = f"1+{zoom:.4f}*on/{frames}"
        parts.append(
            f"[{i}:v]format=yuv420p,zoompan=z='{z}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
            f":d={frames}:s={width}x{height}:fps={fps},setsar=1[v{i}]"
        )
    label = "v0"
    offset = 0.0
    for i in range(1, len(durations)):
        offset += durations[i - 1] - transition
        parts.append(
            f"[{label}][v{i}]xfade=transition=fade:duration={transition:.3f}:offset={offset:.3f}[x{i}]"
        )
        label = f"x{i}"
    total = sum(durations) - transition * (len(durations) - 1)
    parts.append(f"[{label}]format=yuv420p[vout]")
    args += ["-filter_complex", ";".join(parts), "-map", "[vout]"]
    if audio is not None:
        args += ["-map", f"{len(pngs)}:a", *aac_args()]
    args += [*x264_args(fps, crf, preset), "-t", f"{total:.3f}", "-y", str(out)]
    return args, total


def render_video(
    tpl: Template,
    data: dict,
    brand: dict | None,
    out_path: Path,
    *,
    options: dict,
    progress: Callable[[float], None],
) -> dict:
    if tpl.kind == "motion":
        return render_motion(tpl, data, brand, out_path, options=options, progress=progress)
    from . import raster
    from .pngwrite import save_png

    vs = _video_spec(tpl)
    fmt_spec = tpl.format_spec("mp4")
    scale = float(options.get("scale", 1.0))
    fps = int(options.get("fps", fmt_spec.get("fps", 30)))
    slide_s = float(options.get("slide_seconds", vs.get("slide_seconds", 4.0)))
    transition = float(options.get("transition", vs.get("transition", 0.5)))
    zoom = float(vs.get("zoom", 0.06))
    network = options.get("network")
    if network is not None and network not in NETWORK_LIMITS:
        raise TemplateError(
            f"Mạng '{network}' không được hỗ trợ (có: {', '.join(NETWORK_LIMITS)}).",
            field="network",
            code="unknown_network",
        )
    # the template's range (15-60 s) is the default; a chosen network's own limits replace its cap
    stretch_to = float(options.get("min_seconds", vs.get("min_seconds", 15)))
    limits = NETWORK_LIMITS[network] if network else (0.0, float(vs.get("max_seconds", 60)))
    report = _Progress(progress, 0.0, 0.15)
    slides = slide_layouts(tpl, data, brand)
    n = len(slides)

    # voice-over first: it decides how long each slide stays up
    voice_on = bool(options.get("voiceover", vs.get("voiceover", False)))
    clips: list[bytes | None] = [None] * n
    if voice_on:
        synth = _synthesizer()
        for i, (_lay, text, _kind) in enumerate(slides):
            if text:
                try:
                    clips[i] = synth(text, options.get("voice", "vi"))
                except TemplateError:
                    raise
                except Exception as exc:  # SpeechError is a ValueError with .message/.field
                    raise TemplateError(
                        getattr(exc, "message", None) or f"Không tạo được giọng đọc: {exc}",
                        field=getattr(exc, "field", None) or "voiceover",
                        code="speech_failed",
                    ) from exc
    from .soundtrack import read_wav_mono

    durations = []
    lead = 0.35
    for clip in clips:
        d = slide_s
        if clip is not None:
            x, rate = read_wav_mono(clip)
            d = max(d, len(x) / rate + lead + 0.45 + transition)
        durations.append(d)
    total = sum(durations) - transition * (n - 1)
    if total < stretch_to:  # stretch evenly up to the minimum length
        extra = (stretch_to - total) / n
        durations = [d + extra for d in durations]
        total = stretch_to
    _check_length(total, limits, network, "messages")

    canvas = canvas_of(tpl, "mp4")
    width = int(round(canvas["width"] * scale / 2)) * 2
    height = int(round(canvas["height"] * scale / 2)) * 2
    k = width / canvas["width"]
    music_on = bool(options.get("music", vs.get("music", True)))
    with tempfile.TemporaryDirectory(prefix="lantoa-video-", dir=options.get("tmp_dir")) as tmp:
        tmpd = Path(tmp)
        pngs = []
        for i, (lay, _v, _k) in enumerate(slides):
            im = raster.render_image(lay, k)
            if im.size != (width, height):
                im = im.resize((width, height))
            p = tmpd / f"slide{i:02d}.png"
            save_png(im, p)
            pngs.append(p)
            report((i + 1) / n)
        audio_path = None
        if voice_on or music_on:
            from .soundtrack import mix, to_wav

            starts, t0 = [], 0.0
            for d in durations:
                starts.append(t0 + lead)
                t0 += d - transition
            voice_clips = [(starts[i], c) for i, c in enumerate(clips) if c is not None]
            samples, _ = mix(voice_clips, total, music=music_on)
            audio_path = tmpd / "soundtrack.wav"
            audio_path.write_bytes(to_wav(samples))
        args, total = slideshow_command(
            pngs,
            durations,
            width=width,
            height=height,
            fps=fps,
            transition=transition,
            zoom=zoom,
            audio=audio_path,
            out=Path(out_path),
            crf=int(options.get("crf", 23)),
            preset=str(options.get("preset", "medium")),
        )
        keep = options.get("keep_slides_dir")
        if keep:  # benchmarks compare against hand-written commands on the same inputs
            import shutil

            Path(keep).mkdir(parents=True, exist_ok=True)
            for p in [*pngs, *([audio_path] if audio_path else [])]:
                shutil.copy2(p, Path(keep) / p.name)
        _run_ffmpeg(args, total, _Progress(progress, 0.15, 1.0))
    return {
        "width": width,
        "height": height,
        "duration": round(total, 3),
        "slides": n,
        "durations": durations,
        "voiceover": voice_on,
        "music": music_on,
    }


def _synthesizer():
    try:
        from .speech import synthesize  # the speech colleague's module
    except ImportError as exc:
        raise TemplateError(
            "Chưa có bộ chuyển văn bản thành giọng nói (media_templates.speech); không thể lồng tiếng.",
            field="voiceover",
            code="speech_unavailable",
        ) from exc
    return synthesize


def render_motion(
    tpl: Template,
    data: dict,
    brand: dict | None,
    out_path: Path,
    *,
    options: dict,
    progress: Callable[[float], None],
) -> dict:
    """Numbers counting up and bars growing; frames drawn here, encoded by ffmpeg."""
    from PIL import Image

    from . import raster

    ms = tpl.spec.get("motion") or {}
    fmt_spec = tpl.format_spec("mp4")
    scale = float(options.get("scale", 1.0))
    fps = int(options.get("fps", fmt_spec.get("fps", 30)))
    seconds = float(options.get("seconds", ms.get("seconds", 8.0)))
    animate = float(
        options.get("animate_seconds", ms.get("animate_seconds", min(4.0, seconds * 0.6)))
    )
    lay = build_layout(tpl, "mp4", data, brand)
    canvas = canvas_of(tpl, "mp4")
    width = int(round(canvas["width"] * scale / 2)) * 2
    height = int(round(canvas["height"] * scale / 2)) * 2
    k = width / canvas["width"]
    ops = lay.pages[0].ops
    dynamic_ids = set()
    for op in ops:
        if op.kind == "bar":
            dynamic_ids.add(id(op))
            if op.data.get("number_op") is not None:
                dynamic_ids.add(id(op.data["number_op"]))
    static = [op for op in ops if id(op) not in dynamic_ids]
    dynamic = [op for op in ops if op.kind == "bar"]
    base = Image.new(
        "RGB", (int(round(lay.width * k)), int(round(lay.height * k))), (255, 255, 255)
    )
    raster.draw_ops(base, static, k)
    if base.size != (width, height):
        base = base.resize((width, height))
    nframes = max(1, int(round(seconds * fps)))

    def feed(stdin):
        last = None
        for f in range(nframes):
            t = min(1.0, (f / fps) / animate) if animate > 0 else 1.0
            if t >= 1.0 and last is not None:
                stdin.write(last)
                continue
            frame = base.copy()
            raster.draw_ops(frame, dynamic, k, t=t)
            buf = frame.tobytes()
            if t >= 1.0:
                last = buf
            stdin.write(buf)

    # the generated music pad (as in slideshows) unless turned off; then a silent track
    music_on = bool(options.get("music", ms.get("music", True)))
    with tempfile.TemporaryDirectory(prefix="lantoa-motion-", dir=options.get("tmp_dir")) as tmp:
        if music_on:
            from .soundtrack import mix, to_wav

            pad = Path(tmp) / "music.wav"
            pad.write_bytes(to_wav(mix([], seconds, music=True)[0]))
            audio_in = ["-i", str(pad)]
        else:
            audio_in = ["-f", "lavfi", "-t", f"{seconds:.3f}", "-i", "anullsrc=r=44100:cl=stereo"]
        args = [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "pipe:0",
            *audio_in,
            *x264_args(fps, int(options.get("crf", 23)), str(options.get("preset", "medium"))),
            *aac_args(),
            "-shortest",
            "-t",
            f"{seconds:.3f}",
            "-y",
            str(out_path),
        ]
        _run_ffmpeg(args, seconds, _Progress(progress, 0.0, 1.0), stdin_feed=feed)
    return {"width": width, "height": height, "duration": round(seconds, 3), "music": music_on}


def probe(path: Path) -> dict:
    """Duration, size and stream kinds from ``ffmpeg -i`` (no ffprobe in the wheel)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    info: dict = {"audio": "Audio:" in out}
    m = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", out)
    if m:
        info["duration"] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = re.search(r"Video: .*?(\d{2,5})x(\d{2,5})", out)
    if m:
        info["width"], info["height"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"(\d+(?:\.\d+)?) fps", out)
    if m:
        info["fps"] = float(m.group(1))
    return info
