"""Peak memory of reading a large Telegram Desktop result.json (issue 13: bounded memory).

Writes a synthetic single-chat export (``--messages`` messages of ``--text`` characters, one in
``--photo-every`` with a photo that exists on disk), then reads it with the Telegram importer in a
fresh process and prints the file size, the photos read and the process's peak RSS beside the
peak RSS of the same process before reading (imports only).

    .venv/bin/python benchmarks/bench_telegram_stream.py --messages 1000000 --out /tmp/tg
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from PIL import Image


def write_export(folder: Path, messages: int, text: int, photo_every: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(photos / "template.jpg")
    template = (photos / "template.jpg").read_bytes()
    body = "слово " * (text // 6)
    result = folder / "result.json"
    with result.open("w", encoding="utf-8") as handle:
        handle.write('{\n "name": "Big chat",\n "type": "private_supergroup",\n "id": 1,\n')
        handle.write(' "messages": [\n')
        for number in range(1, messages + 1):
            message: dict[str, object] = {
                "id": number,
                "type": "message",
                "date": "2024-05-01T10:00:00",
                "date_unixtime": "1714557600",
                "from": f"Person {number % 5000}",
                "from_id": f"user{number % 5000 + 1}",
                "text": body,
                "text_entities": [{"type": "plain", "text": body}],
            }
            if number % photo_every == 0:
                name = f"photos/photo_{number}@01-05-2024_10-00-00.jpg"
                (folder / name).write_bytes(template)
                message["photo"] = name
            handle.write(("," if number > 1 else "") + json.dumps(message, ensure_ascii=False))
            handle.write("\n")
        handle.write(" ]\n}\n")
    return result


def measure(folder: Path) -> None:
    """Run in a fresh process: peak RSS before and after reading."""
    from nextofkin.gallery.importers.telegram import read_telegram

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    export = read_telegram(folder)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "file_mb": round((folder / "result.json").stat().st_size / 2**20, 1),
                "photos": len(export.photos),
                "accounts": len(export.accounts),
                "peak_rss_mb_after_imports": round(before / 1024, 1),
                "peak_rss_mb_after_reading": round(after / 1024, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--text", type=int, default=600)
    parser.add_argument("--photo-every", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("/tmp/nextofkin-tg-bench"))
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.out)
        return
    if not (args.out / "result.json").exists():
        write_export(args.out, args.messages, args.text, args.photo_every)
    subprocess.run([sys.executable, __file__, "--measure", "--out", str(args.out)], check=True)


if __name__ == "__main__":
    main()
