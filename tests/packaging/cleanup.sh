#!/usr/bin/env bash
# Fixture cleanup: removes the work directory of make_packages.sh. Usage: cleanup.sh STATE
source "$(dirname "$0")/lib.sh"
if [[ -s "$1" ]]; then
  rm -rf "$(cat "$1")"
  rm -f "$1"
fi
