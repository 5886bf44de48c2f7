#!/usr/bin/env bash
# Lint every module as CI does: gofmt, then go vet and staticcheck (pinned,
# through go run) in each module on its own (GOWORK=off), so that every
# go.mod requires what its module imports.
set -euo pipefail
cd "$(dirname "$0")/../.."
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

unformatted=$(gofmt -l $(go list -f '{{.Dir}}' -m))
if [ -n "$unformatted" ]; then
  echo "gofmt needed:" >&2
  echo "$unformatted" >&2
  exit 1
fi
for dir in $(go list -f '{{.Dir}}' -m); do
  echo "lint ${dir#$PWD/}"
  (cd "$dir" && GOWORK=off go build ./... && GOWORK=off go vet ./... && GOWORK=off go run "$STATICCHECK" ./...)
done
