#!/usr/bin/env bash
# The translation catalogues (docs/I18N.md):
#   scripts/i18n.sh extract   strings of src/ into every catalogue (new ones empty, gone ones dropped)
#   scripts/i18n.sh compile   .po -> .mo (set-up and tests run this; the package also compiles a
#                             missing or stale .mo in memory on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
LOCALES=src/nextofkin/locale
PYBABEL=.venv/bin/pybabel
case "${1:-compile}" in
    extract)
        POT="$(mktemp --suffix=.pot)"
        trap 'rm -f "$POT"' EXIT
        "$PYBABEL" -q extract -F babel.cfg -k lazy_gettext --no-location --sort-output \
            --project nextofkin -o "$POT" src
        for lang in uk en ru; do
            po="$LOCALES/$lang/LC_MESSAGES/nextofkin.po"
            if [[ -f "$po" ]]; then
                "$PYBABEL" -q update -D nextofkin -l "$lang" -i "$POT" -o "$po" \
                    --no-fuzzy-matching --ignore-obsolete
            else
                mkdir -p "$(dirname "$po")"
                "$PYBABEL" -q init -D nextofkin -l "$lang" -i "$POT" -o "$po"
            fi
        done
        ;;
    compile)
        "$PYBABEL" -q compile -D nextofkin -d "$LOCALES"
        ;;
    *)
        echo "usage: scripts/i18n.sh extract|compile" >&2
        exit 2
        ;;
esac
