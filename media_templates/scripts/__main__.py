"""Render a loudspeaker script from the command line.

    python -m media_templates.scripts --list
    python -m media_templates.scripts [--template NAME] [--data FILE.json] [--out DIR]
                                      [--formats docx,pdf,txt,wav,mp3] [--date YYYY-MM-DD]

Without --data the template's sample.json is used. Prints the files written,
the estimated duration and every warning; exit code 2 on a script error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import ScriptError, format_duration, get_script_template, list_script_templates, script_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media_templates.scripts")
    parser.add_argument("--list", action="store_true", help="list the script templates")
    parser.add_argument("--template", default="loudspeaker_default")
    parser.add_argument("--data", type=Path, help="JSON file with the template's fields")
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--formats", default="docx,pdf,txt,wav,mp3")
    parser.add_argument("--date", default=None, help="date shown in the header (YYYY-MM-DD)")
    parser.add_argument("--basename", default="kich-ban-phat-thanh")
    args = parser.parse_args(argv)

    if args.list:
        for tpl in list_script_templates():
            print(f"{tpl.name}\t{tpl.language}\t{tpl.title}")
        return 0
    try:
        tpl = get_script_template(args.template)
        if args.data:
            try:
                data = json.loads(args.data.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ScriptError(
                    f"Không đọc được tệp dữ liệu {args.data}: {exc}", field="data"
                ) from exc
        else:
            data = tpl.sample()
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        files, script, notes = script_files(
            data, {"date": args.date}, template=tpl.name, basename=args.basename, formats=formats
        )
    except ScriptError as exc:
        print(f"Lỗi: {exc.message}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (args.out / name).write_bytes(content)
        print(args.out / name)
    print(f"Thời lượng ước tính: {format_duration(script.estimated_seconds)}")
    for note in notes:
        print(f"Lưu ý: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
