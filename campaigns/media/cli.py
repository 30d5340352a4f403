"""`templates list` and `render TEMPLATE --format png|pdf|mp4|wav|mp3 --data FILE.json --out PATH
[--pdfx x4]`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

templates_cli = AppGroup("templates", help="Media templates.")


@templates_cli.command("list")
def templates_list() -> None:
    import media_templates as mt
    from media_templates.scripts import list_script_templates

    for t in mt.list_templates():
        fields = ", ".join(f["name"] + ("*" if f.get("required") else "") for f in t.fields)
        click.echo(f"{t.name:22} {','.join(t.formats):14} {t.title} [{fields}]")
    for s in list_script_templates():
        click.echo(f"{s.name:22} {'wav,mp3':14} {getattr(s, 'title', s.name)}")


@click.command("render")
@click.argument("template")
@click.option("--format", "fmt", required=True, type=click.Choice(["png", "pdf", "mp4", "wav", "mp3"]))
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--pdfx",
    type=click.Choice(["x4"]),
    default=None,
    help="pdf only: the PDF/X-4 variant (CMYK, FOGRA39 output intent).",
)
def render_cmd(
    template: str, fmt: str, data_path: str, out_path: str, pdfx: str | None = None
) -> None:
    """Render TEMPLATE with the fields in FILE.json (wav, mp3: a loudspeaker script template)."""
    import media_templates as mt

    try:
        data = json.loads(Path(data_path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"Tệp dữ liệu không phải JSON hợp lệ: {exc}") from None
    if not isinstance(data, dict):
        raise click.UsageError("Tệp dữ liệu phải là một đối tượng JSON.")
    if pdfx and fmt != "pdf":
        raise click.UsageError("--pdfx chỉ dùng với --format pdf.")
    if fmt in ("wav", "mp3"):
        from media_templates.scripts import ScriptError, render_script, script_audio

        try:
            script = render_script(data, template=template)
            audio = script_audio(script, mp3=fmt == "mp3")
        except (ScriptError, ValueError) as exc:
            raise click.ClickException(getattr(exc, "message", str(exc))) from None
        Path(out_path).write_bytes(audio[fmt])
        click.echo(f"{out_path}: {len(audio[fmt])} byte, ~{script.estimated_seconds:.0f} giây")
        for warning in script.warnings:
            click.echo(f"Lưu ý: {warning}", err=True)
        return
    try:
        options = {"pdfx": pdfx} if pdfx else None
        result = mt.render(template, fmt, data, Path(out_path), progress=None, options=options)
    except mt.TemplateError as exc:
        raise click.ClickException(f"{exc.field + ': ' if exc.field else ''}{exc.message}") from None
    size = f"{result.width}×{result.height}" if result.width else ""
    click.echo(f"{out_path}: {result.mime} {size} {result.size} byte sha256={result.sha256[:12]}")


def init_app(app: Flask) -> None:
    app.cli.add_command(templates_cli)
    app.cli.add_command(render_cmd)
